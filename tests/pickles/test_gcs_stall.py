"""A GCS server that stops answering (the emulator process SIGSTOPped): a read fails after about
``storage.gcs.timeout_s`` with a one-line error, an interrupted read stops within a second, and reads work
again once the server resumes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

import arcticsql
from arcticsql.pickles import GoogleCloudStorage
from tests.pickles.samples import ohlc_frame
from tests.pickles.test_sandbox import interrupt_until_done
from tests.support.gcs_emulator import GCSEmulator


@pytest.fixture
def stalling(monkeypatch):
    """An emulator of its own (this test stops it), and a bucket with two files in it."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)  # the session's emulator's, given back after
    emulator = GCSEmulator().start()
    bucket = f"stall-{uuid.uuid4().hex[:8]}"
    client = emulator.client()
    client.create_bucket(bucket)
    store = GoogleCloudStorage(bucket, client=client, timeout=1)
    for i in range(2):
        store.save(ohlc_frame(rows=10, seed=i), f"index/nifty/gbm/2024010{i + 1}_000000_p{i}.pkl")
    try:
        yield emulator, bucket, store
    finally:
        emulator.resume()
        emulator.stop()


def connect(bucket: str, timeout_s: float, sandbox: bool):
    return arcticsql.connect(uri="mem://", config={"storage": {
        "type": "gcs", "sandbox": sandbox, "gcs": {"bucket_name": bucket, "cache_dir": None, "timeout_s": timeout_s}}})


QUERY = "SELECT count(*) FROM read_pickle('index/**/*.pkl')"


@pytest.mark.parametrize("sandbox", [True, False])
def test_a_stalled_server_fails_the_read_after_the_timeout(stalling, sandbox):
    emulator, bucket, store = stalling
    entries = store.list_recursive("index/**/*.pkl")
    with connect(bucket, 1, sandbox) as conn:
        emulator.pause()
        began = time.monotonic()
        with pytest.raises(arcticsql.OperationalError, match=rf"^cannot list gs://{bucket}/index/\*\*/\*\.pkl: "
                                                             r"RetryError: Timeout of 1\.0s exceeded.*timed out") as raised:
            conn.execute(QUERY).fetchall()
        assert time.monotonic() - began < 5 and "\n" not in str(raised.value)
        began = time.monotonic()
        with pytest.raises(arcticsql.OperationalError, match=rf"^cannot download gs://{bucket}/index/nifty/gbm/"):
            store.load(entries[0])  # mid-read: listed before the server stopped
        assert time.monotonic() - began < 5
        emulator.resume()
        assert conn.execute(QUERY).fetchall() == [(20,)]


@pytest.mark.parametrize("sandbox", [True, False])
def test_interrupt_stops_a_read_waiting_on_a_stalled_server(stalling, sandbox):
    emulator, bucket, _store = stalling
    with connect(bucket, 600, sandbox) as conn:
        emulator.pause()
        error, seconds = interrupt_until_done(conn.cursor(), QUERY, lambda: any(  # a request is waiting
            thread.name.startswith("arcticsql-load") for thread in threading.enumerate()))
        assert isinstance(error, arcticsql.OperationalError) and "nterrupt" in str(error) and seconds < 2, (error,
                                                                                                          seconds)
        emulator.resume()
        assert conn.execute(QUERY).fetchall() == [(20,)]
