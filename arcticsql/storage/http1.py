"""A lean HTTP/1.1 client for many GETs to one origin: a kept-alive socket per thread, bodies read
straight off the socket into a buffer.

It exists for one hot path, the downloads of a multi-file GCS load (:mod:`.gcs_fetch`), where the
transport's own CPU bounds the read: 200 GETs of 480 KB from the emulator cost 270 ms of client CPU
through google-auth's ``AuthorizedHttp`` on urllib3 (http.client parses each head with ``email.parser``
and reads the body through a buffered file), 170 ms through bare ``http.client``, and 55-75 ms here.

What it does: ``http`` and ``https`` (the certificate and host name verified against a CA bundle); one
persistent connection per thread, reopened once when the server closed it while it was idle; bodies by
Content-Length, chunked, or read to the close. What it leaves out, on purpose: proxies (the caller uses
urllib3 when one is configured), redirects, request bodies, compression (it asks for ``identity``),
pipelining and HTTP/2.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The largest response head read (status line and headers).
MAX_HEAD_BYTES = 64 * 1024
#: A connection keeps its body buffer for the next response up to this size.
KEPT_BUFFER_BYTES = 16 * 1024 * 1024
_RECV_BYTES = 64 * 1024
_NO_BODY = frozenset({204, 304})


class ConnectionFailed(Exception):
    """The exchange failed below HTTP (refused, reset, timed out, closed mid-answer, malformed answer).

    ``retryable``: whether trying again may help (a certificate that fails verification will not)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class _Stale(Exception):
    """A kept connection was closed by the server before any byte of the answer: reopen it and resend."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case; repeated headers joined with ", "
    body: bytes
    waited: float  # seconds from sending the request to the first byte of the answer


class Origin:
    """GETs to one ``scheme://host[:port][/base]``; thread-safe (each thread has its own connection).

    ``ca_file``: the CA bundle for https (default: the system's). ``timeout``: seconds any one socket
    operation may wait once connected; ``connect_timeout``: to connect.
    """

    def __init__(self, url: str, *, ca_file: str | None = None, timeout: float = 60.0,
                 connect_timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._host_header = parts.netloc.rpartition("@")[2]
        self._base = parts.path.rstrip("/")
        self._tls = ssl.create_default_context(cafile=ca_file) if parts.scheme == "https" else None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self._all: list[_Connection] = []
        self._lock = threading.Lock()

    def get(self, target: str, headers: Mapping[str, str] = {}) -> Response:  # noqa: B006 (read only)
        """``GET base + target`` (``target``: path and query, already quoted)."""
        request = self._request(target, headers)
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            try:
                return self._exchange(connection, request)
            except _Stale:
                self._drop(connection)
        connection = self._connect()
        try:
            return self._exchange(connection, request)
        except _Stale:
            self._drop(connection)
            raise ConnectionFailed(f"{self.host}:{self.port} closed the connection without answering") from None

    def close(self) -> None:
        """Close every thread's connection (a thread that calls :meth:`get` again opens a new one)."""
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()

    def _request(self, target: str, headers: Mapping[str, str]) -> bytes:
        lines = [f"GET {self._base}{target} HTTP/1.1", f"Host: {self._host_header}", "User-Agent: arcticsql",
                 "Accept-Encoding: identity"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if any("\n" in line or "\r" in line for line in lines):
            raise ValueError("a request line or header holds a line break")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _exchange(self, connection: _Connection, request: bytes) -> Response:
        try:
            response = connection.exchange(request)
        except (_Stale, ConnectionFailed):
            self._drop(connection)
            raise
        if not connection.reusable:
            self._drop(connection)
        return response

    def _connect(self) -> _Connection:
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as error:
            raise ConnectionFailed(f"cannot connect to {where}: {error}") from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLCertVerificationError as error:
            sock.close()
            raise ConnectionFailed(f"cannot connect to {where}: {error}", retryable=False) from error
        except OSError as error:
            sock.close()
            raise ConnectionFailed(f"cannot connect to {where}: {error}") from error
        connection = _Connection(sock, where)
        self._local.connection = connection
        with self._lock:
            self._all.append(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)


class _Connection:
    """One socket, one request at a time; ``reusable`` says whether it may carry the next one."""

    def __init__(self, sock: socket.socket, where: str) -> None:
        self.sock = sock
        self.where = where
        self.reusable = True
        self.used = False
        self._pending = b""  # bytes received past what has been read
        self._buffer = bytearray()

    def close(self) -> None:
        self.reusable = False
        try:
            self.sock.close()
        except OSError:
            pass

    def exchange(self, request: bytes) -> Response:
        reused, self.used = self.used, True
        began = time.perf_counter()
        try:
            self.sock.sendall(request)
            first = self._recv()
        except OSError as error:
            if reused and not isinstance(error, TimeoutError):
                raise _Stale from error
            raise self._failed(error) from error
        if not first:
            if reused:
                raise _Stale
            raise ConnectionFailed(f"{self.where} closed the connection without answering")
        waited = time.perf_counter() - began
        self._pending = first
        try:
            status, version, headers = self._head()
            while 100 <= status < 200:  # an interim answer (never asked for here): the final one follows
                status, version, headers = self._head()
            body = self._body(status, headers)
        except OSError as error:
            raise self._failed(error) from error
        tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        if "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens) or self._pending:
            self.reusable = False
        return Response(status, headers, body, waited)

    def _failed(self, error: OSError) -> ConnectionFailed:
        self.reusable = False
        if isinstance(error, TimeoutError):
            return ConnectionFailed(f"{self.where} did not answer in time")
        return ConnectionFailed(f"connection to {self.where} failed: {error}")

    # -- reading -------------------------------------------------------------------------------------------

    def _recv(self) -> bytes:
        return self.sock.recv(_RECV_BYTES)

    def _more(self, what: str) -> None:
        chunk = self._recv()
        if not chunk:
            self.reusable = False
            raise ConnectionFailed(f"{self.where} closed the connection in the middle of the {what}")
        self._pending += chunk

    def _line(self, what: str) -> bytes:
        while (end := self._pending.find(b"\r\n")) < 0:
            if len(self._pending) > MAX_HEAD_BYTES:
                raise self._malformed(f"{what} longer than {MAX_HEAD_BYTES} bytes")
            self._more(what)
        line, self._pending = self._pending[:end], self._pending[end + 2:]
        return line

    def _head(self) -> tuple[int, str, dict[str, str]]:
        while (end := self._pending.find(b"\r\n\r\n")) < 0:
            if len(self._pending) > MAX_HEAD_BYTES:
                raise self._malformed(f"response head longer than {MAX_HEAD_BYTES} bytes")
            self._more("response head")
        head, self._pending = self._pending[:end], self._pending[end + 4:]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise self._malformed(f"not an HTTP/1 status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise self._malformed(f"not a header line: {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return int(code), version, headers

    def _body(self, status: int, headers: dict[str, str]) -> bytes:
        if status in _NO_BODY:
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked()
        length = headers.get("content-length")
        if length is None:
            return self._to_close()
        values = {value.strip() for value in length.split(",")}
        if len(values) != 1 or not (value := values.pop()).isdigit():
            raise self._malformed(f"bad Content-Length {length!r}")
        return self._exactly(int(value))

    def _exactly(self, size: int) -> bytes:
        """The next ``size`` bytes: what is pending, then received straight into the kept buffer."""
        pending = self._pending
        if len(pending) >= size:
            self._pending = pending[size:]
            return pending[:size]
        buffer = self._buffer if size <= KEPT_BUFFER_BYTES else bytearray()
        if len(buffer) < size:
            buffer.extend(bytes(size - len(buffer)))
        view = memoryview(buffer)
        view[:len(pending)] = pending
        self._pending = b""
        got = len(pending)
        while got < size:
            received = self.sock.recv_into(view[got:size])
            if not received:
                self.reusable = False
                raise ConnectionFailed(f"{self.where} closed the connection after {got} of {size} body bytes")
            got += received
        body = bytes(view[:size])
        view.release()
        return body

    def _chunked(self) -> bytes:
        parts = []
        while True:
            line = self._line("chunk size")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise self._malformed(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                while self._line("trailer"):  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size))
            if self._line("chunk end"):
                raise self._malformed("a chunk is longer than its size")

    def _to_close(self) -> bytes:
        self.reusable = False
        parts = [self._pending]
        self._pending = b""
        while chunk := self._recv():
            parts.append(chunk)
        return b"".join(parts)

    def _malformed(self, what: str) -> ConnectionFailed:
        self.reusable = False
        return ConnectionFailed(f"{self.where} sent a malformed answer: {what}")
