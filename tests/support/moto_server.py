"""An S3 API for ArcticDB in the tests: ``moto_server`` in a subprocess on 127.0.0.1 and a free port.

A subprocess, never a thread: ArcticDB holds the GIL while it waits on some storage calls, so a server in
the test process would never answer. The server dies with the test process (``PR_SET_PDEATHSIG``), can be
paused (SIGSTOP), killed and restarted on the same port, to test what a failing network store does.

    with MotoServer() as moto:
        uri = moto.arctic_uri(moto.create_bucket("team-store"))
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3

ACCESS = "testing-access-key"
SECRET = "testing-secret-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child before exec (Linux)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class MotoServer:
    def __init__(self, port: int | None = None, env: dict | None = None) -> None:
        self.port = port or free_port()
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.buckets: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        executable = os.path.join(os.path.dirname(sys.executable), "moto_server")
        command = [executable] if os.path.exists(executable) else [sys.executable, "-m", "moto.server"]
        self.process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)], env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the server answers an HTTP request (readiness is that answer, not a length of time)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1) as answer:
                    answer.read()
                return
            except urllib.error.HTTPError:
                return  # an HTTP answer: serving
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"moto_server on {self.endpoint} did not answer") from None
                time.sleep(0.02)  # the interval between probes; readiness is decided by the probe

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """A new server on the same port; moto keeps its state in memory, so the buckets are made again."""
        self.kill()
        self.start()
        for bucket in self.buckets:
            self.client().create_bucket(Bucket=bucket)

    stop = kill

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"b-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def arctic_uri(self, bucket: str, port: int | None = None) -> str:
        return f"s3://127.0.0.1:{bucket}?port={port or self.port}&access={ACCESS}&secret={SECRET}"
