"""The pooled fetcher of multi-file GCS loads, against the emulator with the real client's credentials."""

from __future__ import annotations

import base64

import google_crc32c
import pandas as pd
import pytest

from arcticsql.storage import GoogleCloudStorage, StorageError, read_pickle_table
from arcticsql.storage.gcs_fetch import MediaFetcher, ObjectGone, _proxy_for, _verify
from tests.storage.samples import ohlc_frame


@pytest.fixture
def fetcher(gcs_client, bucket_name):
    return MediaFetcher(gcs_client, bucket_name, pool_size=2)


def test_fetch_gives_the_bytes_the_client_downloads(gcs_client, bucket_name, fetcher):
    blob = gcs_client.bucket(bucket_name).blob("dir/a b+c.pkl")  # a name that needs quoting
    blob.upload_from_string(b"\x00payload" * 1000)
    blob.reload()
    assert fetcher.fetch("dir/a b+c.pkl", blob.generation) == blob.download_as_bytes()
    assert fetcher.fetch("dir/a b+c.pkl", None) == b"\x00payload" * 1000


def test_a_pinned_generation_that_is_gone_is_object_gone(gcs_client, bucket_name, fetcher):
    blob = gcs_client.bucket(bucket_name).blob("a.pkl")
    blob.upload_from_string(b"old")
    blob.reload()
    old = blob.generation
    blob.upload_from_string(b"new")
    with pytest.raises(ObjectGone):
        fetcher.fetch("a.pkl", old)
    with pytest.raises(ObjectGone):
        fetcher.fetch("missing.pkl", None)


def test_a_missing_bucket_is_object_gone_or_a_storage_error_naming_it(gcs_client):
    fetcher = MediaFetcher(gcs_client, "no-such-bucket-here")
    with pytest.raises((ObjectGone, StorageError)):
        fetcher.fetch("a.pkl", None)


def _crc(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def test_the_body_is_checked_against_its_crc32c():
    body = b"some bytes"
    _verify({"x-goog-hash": f"crc32c={_crc(body)},md5=abc=="}, body, "gs://b/a")
    with pytest.raises(StorageError, match=r"gs://b/a: .*checksum mismatch"):
        _verify({"x-goog-hash": f"crc32c={_crc(b'other')}"}, body, "gs://b/a")
    # no hash sent, or a transcoded gzip object (the hash is of the stored bytes): nothing to check against
    _verify({}, body, "gs://b/a")
    _verify({"x-goog-hash": f"crc32c={_crc(b'other')}", "x-goog-stored-content-encoding": "gzip"}, body, "x")


def test_proxies_come_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _proxy_for("https://storage.googleapis.com") == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "storage.googleapis.com")
    assert _proxy_for("https://storage.googleapis.com") is None


def test_multi_file_loads_use_the_fetcher_and_single_loads_the_client(gcs_store):
    for i in range(3):
        gcs_store.save(ohlc_frame(rows=5, seed=i), f"index/nifty/gbm/2023090{i}_000000.pkl")
    assert gcs_store._fetcher is None
    pd.testing.assert_frame_equal(gcs_store.load("index/nifty/gbm/20230900_000000.pkl"), ohlc_frame(rows=5, seed=0))
    assert gcs_store._fetcher is None  # one object: the client's own download
    table = read_pickle_table(gcs_store, "index/**/*.pkl")
    assert gcs_store._fetcher is not None and table.num_rows == 15
    assert gcs_store.downloads == 3  # the first file came from the cache the single load filled


def test_a_rewritten_object_is_read_at_its_new_generation(gcs_client, bucket_name):
    store = GoogleCloudStorage(bucket_name, client=gcs_client)  # no cache: every load downloads
    store.save(ohlc_frame(rows=5, seed=1), "a.pkl")
    (entry,) = store.list_recursive("*.pkl")
    GoogleCloudStorage(bucket_name, client=gcs_client).save(ohlc_frame(rows=5, seed=2), "a.pkl")
    (loaded,) = store.load_many([entry])
    pd.testing.assert_frame_equal(loaded, ohlc_frame(rows=5, seed=2))


# -- against a scripted server: retries, credentials, proxies -------------------------------------------

def _scripted_client(url: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url})


def _answer(status: int, body: bytes = b"", *headers: str) -> bytes:
    head = "\r\n".join([f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers])
    return head.encode() + b"\r\n\r\n" + body


def test_busy_answers_and_dropped_connections_are_retried(serve, monkeypatch):
    monkeypatch.setattr("arcticsql.storage.gcs_fetch._FIRST_BACKOFF", 0.001)
    answers = [(_answer(503), False), (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ncut", True),
               (_answer(200, b"payload", f"x-goog-hash: crc32c={_crc(b'payload')}"), False)]
    server = serve(lambda request, n: answers[len(server.requests) - 1])
    fetcher = MediaFetcher(_scripted_client(server.url), "b")
    assert fetcher.fetch("dir/a.pkl", 7) == b"payload"
    assert len(server.requests) == 3
    assert server.requests[0].split(b" ")[1] == b"/download/storage/v1/b/b/o/dir%2Fa.pkl?alt=media&generation=7"


def test_a_persistent_failure_is_a_storage_error_naming_the_object(serve, monkeypatch):
    monkeypatch.setattr("arcticsql.storage.gcs_fetch._FIRST_BACKOFF", 0.001)
    server = serve(lambda request, n: (_answer(500, b"backend error"), False))
    with pytest.raises(StorageError, match=r"gs://b/a.pkl: HTTP 500: backend error"):
        MediaFetcher(_scripted_client(server.url), "b").fetch("a.pkl", None)
    assert len(server.requests) == 6
    forbidden = serve(lambda request, n: (_answer(403, b"no access"), False))
    with pytest.raises(StorageError, match=r"gs://b/a.pkl: HTTP 403: no access"):
        MediaFetcher(_scripted_client(forbidden.url), "b").fetch("a.pkl", None)
    assert len(forbidden.requests) == 1  # not retried


def test_a_corrupted_body_is_refused(serve):
    server = serve(lambda request, n: (_answer(200, b"flipped", f"x-goog-hash: crc32c={_crc(b'payload')}"), False))
    with pytest.raises(StorageError, match="checksum mismatch"):
        MediaFetcher(_scripted_client(server.url), "b").fetch("a.pkl", None)


def test_an_unauthorized_answer_refreshes_the_credentials(serve):
    server = serve(lambda request, n: (_answer(401, b"expired"), False))
    # anonymous credentials cannot refresh: the error says so, after the one request
    with pytest.raises(StorageError, match="gs://b/a.pkl: cannot refresh credentials"):
        MediaFetcher(_scripted_client(server.url), "b").fetch("a.pkl", None)
    assert len(server.requests) == 1


def test_a_configured_proxy_carries_the_downloads(serve, monkeypatch):
    proxy = serve(lambda request, n: (_answer(200, b"via proxy"), False))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    fetcher = MediaFetcher(_scripted_client("http://storage.invalid"), "b")
    assert fetcher.fetch("a.pkl", 3) == b"via proxy"
    (request,) = proxy.requests  # the absolute form a forward proxy is sent
    assert request.split(b" ")[1] == b"http://storage.invalid/download/storage/v1/b/b/o/a.pkl?alt=media&generation=3"
