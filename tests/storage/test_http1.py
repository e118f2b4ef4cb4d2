"""The lean HTTP/1.1 client of multi-file GCS downloads, against real servers on 127.0.0.1: a scripted
socket server (answers byte for byte as written, to reach the edge cases), a TLS server with a
certificate from a test CA (``trustme``), and the GCS emulator (in test_gcs_fetch.py)."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading

import pytest
import trustme

from arcticsql.storage.http1 import KEPT_BUFFER_BYTES, ConnectionFailed, Origin


def ok(body: bytes, *headers: str) -> bytes:
    head = "\r\n".join(["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers])
    return head.encode() + b"\r\n\r\n" + body


def test_a_get_sends_the_target_and_headers_and_reads_the_body(serve):
    body = bytes(range(256)) * 4000  # ~1 MB: many receives into the buffer
    server = serve(lambda request, n: (ok(body, "X-Goog-Hash: crc32c=abc", "x-goog-hash: md5=def"), False))
    origin = Origin(server.url)
    response = origin.get("/o/a%20b?alt=media", {"Authorization": "Bearer t"})
    assert (response.status, response.body) == (200, body)
    assert response.headers["x-goog-hash"] == "crc32c=abc, md5=def"  # lower-cased, repeats joined
    assert response.waited >= 0
    (request,) = server.requests
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /o/a%20b?alt=media HTTP/1.1"
    assert f"Host: {server.url.split('//')[1]}" in lines and "Authorization: Bearer t" in lines
    assert "Accept-Encoding: identity" in lines


def test_one_connection_carries_many_requests(serve):
    server = serve(lambda request, n: (ok(request.split(b" ")[1]), False))
    origin = Origin(server.url + "/base/")
    assert [origin.get(f"/{i}").body for i in range(5)] == [f"/base/{i}".encode() for i in range(5)]
    assert server.connections == 1


def test_each_thread_has_its_own_connection(serve):
    server = serve(lambda request, n: (ok(b"x" * 100_000), False))
    origin = Origin(server.url)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.extend(origin.get("/").body for _ in range(3)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [b"x" * 100_000] * 9 and server.connections == 3


def test_a_connection_the_server_closed_is_reopened_once(serve):
    server = serve(lambda request, n: (ok(b"fine"), True))  # closes after every answer, unannounced
    origin = Origin(server.url)
    assert [origin.get("/").body for _ in range(3)] == [b"fine"] * 3
    assert server.connections == 3


def test_connection_close_and_http_1_0_are_not_reused(serve):
    answers = [ok(b"a", "Connection: close"), b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb", ok(b"c")]
    server = serve(lambda request, n: (answers[len(server.requests) - 1], False))
    origin = Origin(server.url)
    assert [origin.get("/").body for _ in range(3)] == [b"a", b"b", b"c"]
    assert server.connections == 3


def test_chunked_bodies_and_interim_answers(serve):
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n")
    server = serve(lambda request, n: (chunked, False))
    origin = Origin(server.url)
    assert origin.get("/").body == b"hello, world"
    assert origin.get("/").body == b"hello, world"  # the connection was left at the next answer
    assert server.connections == 1


def test_a_body_without_a_length_is_read_to_the_close(serve):
    server = serve(lambda request, n: (b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 70_000, True))
    origin = Origin(server.url)
    assert origin.get("/").body == b"z" * 70_000
    assert origin.get("/").body == b"z" * 70_000
    assert server.connections == 2


def test_statuses_and_their_bodies_come_back_as_they_are(serve):
    answers = {b"/gone": b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
               b"/busy": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
               b"/same": b"HTTP/1.1 304 Not Modified\r\n\r\n"}
    server = serve(lambda request, n: (answers[request.split(b" ")[1]], False))
    origin = Origin(server.url)
    gone, busy, same = origin.get("/gone"), origin.get("/busy"), origin.get("/same")
    assert (gone.status, gone.body) == (404, b"not found")
    assert (busy.status, busy.body) == (503, b"")
    assert (same.status, same.body) == (304, b"")
    assert server.connections == 1


@pytest.mark.parametrize("answer, message", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "after 5 of 10 body bytes"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "in the middle of the response head"),
    (b"SMTP ready\r\n\r\n", "not an HTTP/1 status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "not a header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "longer than its size"),
    (b"", "closed the connection without answering"),
])
def test_a_broken_answer_is_connection_failed_and_the_connection_is_dropped(serve, answer, message):
    server = serve(lambda request, n: (answer if n == 1 else ok(b"next"), True))
    origin = Origin(server.url)
    with pytest.raises(ConnectionFailed, match=message) as raised:
        origin.get("/")
    assert raised.value.retryable
    assert origin.get("/").body == b"next"  # on a new connection


def test_a_silent_server_times_out(serve):
    server = serve(lambda request, n: (b"", False))  # reads the request, never answers
    with pytest.raises(ConnectionFailed, match="did not answer in time"):
        Origin(server.url, timeout=0.2).get("/")


def test_a_refused_connection_is_connection_failed():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectionFailed, match=f"cannot connect to 127.0.0.1:{port}") as raised:
        Origin(f"http://127.0.0.1:{port}").get("/")
    assert raised.value.retryable


def test_header_injection_is_refused(serve):
    server = serve(lambda request, n: (ok(b""), False))
    with pytest.raises(ValueError, match="line break"):
        Origin(server.url).get("/", {"Authorization": "Bearer t\r\nX-Evil: 1"})
    assert server.requests == []


def test_a_large_body_does_not_stay_in_the_kept_buffer(serve):
    big = b"b" * (KEPT_BUFFER_BYTES + 10)
    server = serve(lambda request, n: (ok(big) if b"/big" in request else ok(b"small"), False))
    origin = Origin(server.url)
    assert origin.get("/big").body == big
    assert origin.get("/small").body == b"small"
    assert len(origin._local.connection._buffer) <= KEPT_BUFFER_BYTES


def test_close_closes_every_threads_connection(serve):
    server = serve(lambda request, n: (ok(b"x"), False))
    origin = Origin(server.url)
    origin.get("/")
    origin.close()
    assert origin.get("/").body == b"x"  # a new connection (the closed one is stale, not an error)
    assert server.connections == 2


def test_only_http_origins_are_accepted():
    with pytest.raises(ValueError, match="not an http"):
        Origin("ftp://example.com")


# -- TLS -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            body = f"secure {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    yield server.server_address[1], str(bundle)
    server.shutdown()


def test_https_verifies_the_certificate_against_the_bundle(tls_server):
    port, bundle = tls_server
    origin = Origin(f"https://localhost:{port}", ca_file=bundle)
    assert [origin.get(f"/{i}").body for i in range(2)] == [b"secure /0", b"secure /1"]


def test_https_refuses_a_certificate_it_cannot_verify_and_does_not_retry(tls_server):
    port, _ = tls_server
    with pytest.raises(ConnectionFailed, match="certificate verify failed") as raised:
        Origin(f"https://localhost:{port}").get("/")  # the system's CAs never signed the test CA
    assert not raised.value.retryable
