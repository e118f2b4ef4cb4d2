"""A scripted HTTP server on 127.0.0.1: it answers each request with exactly the bytes a test gives, so
tests can reach what real servers do only rarely (dropped connections, malformed answers, busy replies)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class ScriptedServer:
    """Accepts connections; for each request read, calls ``answer(request_bytes, connection_number)``,
    which returns the bytes to send and whether to close the connection afterwards."""

    def __init__(self, answer: Callable[[bytes, int], tuple[bytes, bool]]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn, self.connections), daemon=True).start()

    def _handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            pending = b""
            while True:
                while b"\r\n\r\n" not in pending:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    pending += chunk
                request, _, pending = pending.partition(b"\r\n\r\n")
                self.requests.append(request)
                data, close = self.answer(request, number)
                conn.sendall(data)
                if close:
                    return

    def close(self) -> None:
        self._listener.close()
