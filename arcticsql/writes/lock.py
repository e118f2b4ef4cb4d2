"""One writer at a time per ArcticDB symbol, across threads, processes and machines.

ArcticDB does not serialise writers of a symbol: two writes based on the same latest version both become
version N+1 and one is silently lost, and each library object remembers the latest version for up to two
seconds, so even writers that do not overlap can build on a stale one. Every arcticsql write therefore
holds this lock around "read the true latest version, check, write" (see :mod:`arcticsql.writes.arctic`).

The lock has layers, by store:

- every store: a ``threading.Lock`` per (store, library, symbol), so threads of one process queue;
- ``lmdb://``: ``flock`` on ``<store folder>/.arcticsql-locks/<hash>.lock``, released by the kernel when
  the holder's process dies;
- ``s3://``, ``s3s://``, ``gcpxml://``: a lock object ``[path_prefix/]_arcticsql_locks/<hash>.lock`` created
  with a conditional PUT (``If-None-Match: *``): a lease the holder renews every third of it (``If-Match``
  its ETag), taken over by a waiter once the server's clock says it ran out, released with a conditional
  DELETE. A crashed holder blocks others for one lease at most.
- ``mem://`` lives in one process: the thread lock is the whole lock.

Azure has no lock object arcticsql can make, so writes there need ``arcticdb.unlocked_writes: true`` (one
writing process per symbol is then the user's promise). A writer that cannot get the lock within
``arcticdb.write_lock_timeout_s`` gets an error naming the holder, and writes nothing.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import hashlib
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from arcticsql.errors import OperationalError

LOCK_FOLDER = ".arcticsql-locks"     # inside an LMDB store's folder
LOCK_PREFIX = "_arcticsql_locks/"    # inside a bucket, after the URI's path_prefix
_HOLDER_BYTES = 1024                 # the holder record written into an LMDB lock file
_TRUE = ("1", "t", "y", "on")        # ArcticDB reads a boolean option by its first character


class LockTimeout(OperationalError):
    """The symbol's write lock was not free within the timeout; nothing was written."""


class LockLost(OperationalError):
    """An object-store lease ran out while held (the holder stalled for longer than the lease) and another
    writer took it: the write made under it may have raced with that writer's."""


@contextlib.contextmanager
def symbol_lock(uri: str, library: str, symbol: str, *, timeout: float, lease: float = 60.0,
                unlocked_writes: bool = False) -> Iterator[None]:
    """Hold the write lock of ``library/symbol`` in the store at ``uri``.

    ``timeout``: seconds to wait for another writer, then :class:`LockTimeout`. ``lease`` (object stores):
    how long a crashed holder blocks others. ``unlocked_writes``: allow a store that has no cross-process
    lock (Azure) with only the lock of this process.
    """
    backend = _backend(uri, unlocked_writes)
    deadline = time.monotonic() + timeout
    what = f"{library}/{symbol}"
    with _thread_lock((uri, library, symbol), deadline, what, timeout):
        held = backend.acquire(library, symbol, deadline, lease, what, timeout)
        try:
            yield
        finally:
            backend.release(held)


# -- threads of one process ----------------------------------------------------------------------------
_registry_lock = threading.Lock()
_thread_locks: dict[tuple, list] = {}  # key -> [threading.Lock, users]


@contextlib.contextmanager
def _thread_lock(key: tuple, deadline: float, what: str, timeout: float) -> Iterator[None]:
    with _registry_lock:
        entry = _thread_locks.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        if not entry[0].acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise LockTimeout(f"could not lock {what} for writing within {timeout:g} s: another thread of "
                              "this process is writing it; nothing was written")
        try:
            yield
        finally:
            entry[0].release()
    finally:
        with _registry_lock:
            entry[1] -= 1
            if entry[1] == 0:
                del _thread_locks[key]


def _lock_name(library: str, symbol: str) -> str:
    return hashlib.sha256(f"{library}\0{symbol}".encode()).hexdigest()[:40] + ".lock"


def _holder(library: str, symbol: str, lease: float | None = None) -> dict:
    info = {"library": library, "symbol": symbol, "host": socket.gethostname(), "pid": os.getpid(),
            "since": time.time(), "owner": uuid.uuid4().hex}
    if lease is not None:
        info["lease"] = lease
    return info


def _timed_out(what: str, timeout: float, holder: dict | None) -> LockTimeout:
    if holder:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
        who = f"held by process {holder.get('pid')} on {holder.get('host')} since {since}"
    else:
        who = "held by another writer"
    return LockTimeout(f"could not lock {what} for writing within {timeout:g} s ({who}); nothing was written "
                       "(arcticdb.write_lock_timeout_s sets the wait)")


def _backoff(delay: float, deadline: float, longest: float) -> float:
    """Sleep about ``delay`` (never past ``deadline``); the next delay, doubled up to ``longest``."""
    time.sleep(max(0.0, min(delay * random.uniform(0.8, 1.2), deadline - time.monotonic())))
    return min(delay * 2, longest)


# -- backends ------------------------------------------------------------------------------------------
_backends: dict[str, object] = {}
_backends_lock = threading.Lock()


def _backend(uri: str, unlocked_writes: bool):
    with _backends_lock:
        backend = _backends.get(uri)
        if backend is None:
            scheme = uri.partition("://")[0].lower()
            if scheme == "lmdb":
                backend = _FileLocks(uri[len("lmdb://"):].partition("?")[0])
            elif scheme in ("s3", "s3s", "gcpxml", "gcpxmls"):
                backend = _ObjectLocks(_S3Address.parse(uri))
            elif scheme == "mem" or unlocked_writes:
                backend = _ThisProcessOnly()
            else:
                raise OperationalError(f"arcticsql cannot lock writes across processes on a {scheme}:// store: "
                                       "set arcticdb.unlocked_writes: true if only one process writes each symbol")
            _backends[uri] = backend
        return backend


class _ThisProcessOnly:
    def acquire(self, *args) -> None:
        return None

    def release(self, held) -> None:
        pass


class _FileLocks:
    def __init__(self, folder: str) -> None:
        self.folder = os.path.join(os.path.realpath(folder), LOCK_FOLDER)
        os.makedirs(self.folder, exist_ok=True)

    def acquire(self, library, symbol, deadline, lease, what, timeout) -> int:
        descriptor = os.open(os.path.join(self.folder, _lock_name(library, symbol)), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            delay = 0.001
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise _timed_out(what, timeout, self._read(descriptor)) from None
                    delay = _backoff(delay, deadline, 0.02)  # a try is one system call
            # a fixed-size record overwritten in place: truncating first makes ext4 flush on close (2 ms)
            record = json.dumps(_holder(library, symbol)).encode()[:_HOLDER_BYTES].ljust(_HOLDER_BYTES)
            os.pwrite(descriptor, record, 0)
            return descriptor
        except BaseException:
            os.close(descriptor)
            raise

    @staticmethod
    def _read(descriptor: int) -> dict | None:
        try:
            return json.loads(os.pread(descriptor, _HOLDER_BYTES, 0) or b"null")
        except ValueError:  # the holder is writing it
            return None

    def release(self, descriptor: int) -> None:
        os.close(descriptor)  # closing the descriptor releases the flock


@dataclass(frozen=True)
class _S3Address:
    """What a lock object needs from an ArcticDB S3 (or GCS XML) URI."""

    endpoint: str
    bucket: str
    https: bool
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, uri: str) -> _S3Address:
        scheme, _, rest = uri.partition("://")
        base, _, query = rest.partition("?")
        endpoint, _, bucket = base.partition(":")
        options = dict(item.split("=", 1) for item in query.replace(";", "&").split("&") if "=" in item)
        port = options.get("port")
        return cls(f"{endpoint}:{port}" if port else endpoint, bucket, scheme.lower().endswith("s"), options)

    def client(self):
        options = self.options
        if options.get("aws_auth", "").lower()[:1] in _TRUE or "access" not in options:
            session = boto3.session.Session(profile_name=options.get("aws_profile") or None)
        else:
            session = boto3.session.Session(aws_access_key_id=unquote(options["access"]),
                                            aws_secret_access_key=unquote(options.get("secret", "")))
        virtual = options.get("use_virtual_addressing", "").lower()[:1] in _TRUE
        config = botocore.config.Config(s3={"addressing_style": "virtual" if virtual else "path"},
                                        retries={"max_attempts": 3, "mode": "standard"},
                                        connect_timeout=5, read_timeout=10)
        endpoint_url = None if "amazonaws" in self.endpoint else \
            ("https://" if self.https else "http://") + self.endpoint
        verify = options.get("CA_cert_path") or (options.get("ssl", "").lower()[:1] in _TRUE) if self.https else None
        return session.client("s3", endpoint_url=endpoint_url, region_name=options.get("region") or "us-east-1",
                              config=config, verify=verify)

    @property
    def prefix(self) -> str:
        path_prefix = self.options.get("path_prefix", "").strip("/")
        return f"{path_prefix}/{LOCK_PREFIX}" if path_prefix else LOCK_PREFIX


class _Lease:
    def __init__(self, key: str, etag: str, body: bytes, lease: float) -> None:
        self.key, self.etag, self.body, self.lease = key, etag, body, lease
        self.lost = False
        self.stop = threading.Event()
        self.renewer: threading.Thread | None = None


class _ObjectLocks:
    def __init__(self, address: _S3Address) -> None:
        self.bucket = address.bucket
        self.prefix = address.prefix
        self.s3 = address.client()

    def acquire(self, library, symbol, deadline, lease, what, timeout) -> _Lease:
        key = self.prefix + _lock_name(library, symbol)
        body = json.dumps(_holder(library, symbol, lease)).encode()
        delay = 0.01
        while True:
            try:
                etag = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")["ETag"]
                return self._held(key, etag, body, lease)
            except ClientError as error:
                if _status(error) not in (409, 412):  # 409: a concurrent conditional PUT of this key
                    raise
            while True:  # held: poll with one GET until it is deleted or its lease runs out
                try:
                    current = self.s3.get_object(Bucket=self.bucket, Key=key)
                except ClientError as error:
                    if _status(error) == 404:
                        break  # released: PUT again
                    raise
                holder = _json(current["Body"].read())
                held_for = lease if holder is None else float(holder.get("lease", lease))
                server_now = email.utils.parsedate_to_datetime(current["ResponseMetadata"]["HTTPHeaders"]["date"])
                if (server_now - current["LastModified"]).total_seconds() > held_for:
                    try:  # the holder stopped renewing: take the lease over, unless another waiter just did
                        etag = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                                  IfMatch=current["ETag"])["ETag"]
                        return self._held(key, etag, body, lease)
                    except ClientError as error:
                        if _status(error) not in (404, 409, 412):
                            raise
                        continue
                if time.monotonic() >= deadline:
                    raise _timed_out(what, timeout, holder)
                delay = _backoff(delay, deadline, 0.2)  # a try is one GET

    def _held(self, key: str, etag: str, body: bytes, lease: float) -> _Lease:
        held = _Lease(key, etag, body, lease)
        held.renewer = threading.Thread(target=self._renew, args=(held,), daemon=True, name="arcticsql-lock-lease")
        held.renewer.start()
        return held

    def _renew(self, held: _Lease) -> None:
        while not held.stop.wait(held.lease / 3):
            try:
                held.etag = self.s3.put_object(Bucket=self.bucket, Key=held.key, Body=held.body,
                                               IfMatch=held.etag)["ETag"]
            except ClientError as error:
                if _status(error) in (404, 412):
                    held.lost = True
                    return
                # a passing error: try again at the next tick (the lease outlives two missed renewals)
            except BotoCoreError:  # a timeout or a lost connection, retries spent: the same, try again
                pass

    def release(self, held: _Lease) -> None:
        held.stop.set()
        held.renewer.join()
        if not held.lost:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=held.key, IfMatch=held.etag)
            except ClientError as error:
                if _status(error) not in (404, 412):
                    raise
                held.lost = True
        if held.lost:
            raise LockLost(f"the write lock {held.key} ran out while held (lease {held.lease:g} s) and another "
                           "writer took it: check the symbol's latest versions")


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _json(data: bytes) -> dict | None:
    try:
        return json.loads(data)
    except ValueError:
        return None
