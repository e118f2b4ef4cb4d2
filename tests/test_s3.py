"""ArcticDB on S3 (moto_server): what a team's shared store needs beyond the core tests, which run on both
LMDB and S3 (the ``store_conn`` fixture; concurrent writers in tests/test_write_lock.py): many symbols, a
failing network, secrets, GCS through its S3 API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arcticsql
from tests.conftest import minute_bars
from tests.support.moto_server import SECRET, MotoServer

FAST_FAILURE = {"arcticdb": {"request_timeout_s": 2, "attempts": 1}}


def _daily(symbols: int) -> dict[str, pd.DataFrame]:
    index = pd.date_range("2024-01-01", periods=60, freq="D", name="ts")
    return {f"S{i:03d}": pd.DataFrame({"close": np.arange(60.0) + i, "volume": np.arange(60) * i}, index=index)
            for i in range(symbols)}


def test_a_wildcard_over_many_symbols_equals_lmdb(s3_uri, tmp_path):
    frames = _daily(60)
    answers = []
    for uri in (s3_uri, f"lmdb://{tmp_path}/arctic"):
        connection = arcticsql.connect(uri=uri, config={})
        lib = connection.catalog.library("prices_daily", create=True)
        for symbol, frame in frames.items():
            lib.write(symbol, frame)
        answers.append(connection.cursor().execute(
            'SELECT symbol, count(*), sum(close), max(volume) FROM "prices_daily/S0*" '
            "WHERE ts >= '2024-02-01' GROUP BY ALL ORDER BY ALL").fetchall())
        connection.close()
    assert answers[0] == answers[1] and len(answers[0]) == 60


@pytest.fixture
def own_server():
    """A server of this test's own, to stop and start (the session's serves the other tests)."""
    with MotoServer() as server:
        yield server


def test_a_stopped_server_is_a_clear_error_and_a_resumed_one_works_again(own_server):
    uri = own_server.arctic_uri(own_server.create_bucket())
    connection = arcticsql.connect(uri=uri, config=FAST_FAILURE)
    connection.catalog.library("prices_1min", create=True).write("AAPL", minute_bars(periods=100))
    cursor = connection.cursor()
    query = "SELECT count(*) FROM prices_1min.AAPL"
    assert cursor.execute(query).fetchone() == (100,)
    own_server.pause()
    try:
        connection.catalog.forget_latest("prices_1min", "AAPL")
        with pytest.raises(arcticsql.OperationalError) as raised:
            cursor.execute(query).fetchall()
        with pytest.raises(arcticsql.OperationalError) as write_failed:
            cursor.execute("COPY (SELECT 1 AS x) TO 'arctic://features/x'")
    finally:
        own_server.resume()
    for error in (raised.value, write_failed.value):
        message = str(error)
        assert "ArcticDB store s3://127.0.0.1:" in message and "\n" not in message
        assert SECRET not in message and "secret=***" in message
    assert "did not answer within 2 s" in str(raised.value)
    assert cursor.execute(query).fetchone() == (100,)
    connection.close()


def test_an_unreachable_server_is_a_clear_error_and_a_restarted_one_works_again(own_server):
    uri = own_server.arctic_uri(own_server.create_bucket())
    connection = arcticsql.connect(uri=uri, config=FAST_FAILURE)
    connection.cursor().execute("COPY (SELECT 1 AS x) TO 'arctic://features/x'")
    own_server.kill()
    with pytest.raises(arcticsql.OperationalError, match=r"cannot reach the ArcticDB store .*connection refused"):
        connection.cursor().execute("SELECT * FROM arcticsql.libraries").fetchall()
    own_server.restart()  # moto keeps nothing: the bucket is made again, empty
    connection.cursor().execute("COPY (SELECT 2 AS x) TO 'arctic://features/y'")
    assert connection.cursor().execute("SELECT x FROM features.y").fetchone() == (2,)
    connection.close()


def test_a_missing_bucket_says_so(moto):
    uri = moto.arctic_uri("no-such-bucket")
    connection = arcticsql.connect(uri=uri, config=FAST_FAILURE)
    with pytest.raises(arcticsql.ProgrammingError, match=r"has no libraries at all \(is the bucket right\?\)"):
        connection.cursor().execute("SELECT * FROM prices_1min.AAPL").fetchall()
    with pytest.raises(arcticsql.OperationalError, match="bucket of the ArcticDB store .* does not exist"):
        connection.cursor().execute("COPY (SELECT 1 AS x) TO 'arctic://features/x'")
    connection.close()


@pytest.mark.parametrize("uri, expected", [
    ("s3://nobucket?region=us-east-1", r"write s3://<endpoint>:<bucket>\[\?options\], e\.g\. s3s://s3\.us-east-1"),
    ("s3://127.0.0.1:9000:bucket?access=a&secret=topsecret", r"give the port as \?port=N"),
    ("s3://127.0.0.1:bucket/folder?port=1", r"is not a bucket name \(a folder in the bucket is \?path_prefix"),
    ("s3://127.0.0.1:bucket?port&secret=topsecret", r"option 'port' needs a value"),
])
def test_uris_arcticdb_would_misread_are_clear_errors_without_secrets(uri, expected):
    with pytest.raises(arcticsql.InterfaceError, match=expected) as raised:
        arcticsql.connect(uri=uri, config={})
    assert "topsecret" not in str(raised.value)


def test_no_secret_in_any_error_or_description(s3_uri):
    connection = arcticsql.connect(uri=s3_uri, config={})
    cursor = connection.cursor()
    for statement in ("SELECT * FROM prices_1min.NOPE", 'SELECT * FROM "nolib*/x"',
                      "COPY (SELECT 1 AS a, 2 AS a) TO 'arctic://features/d'", "SELECT nope()"):
        with pytest.raises(arcticsql.Error) as raised:
            cursor.execute(statement)
        assert SECRET not in str(raised.value)
    cursor.execute("SELECT 1 AS x")
    assert SECRET not in repr(cursor.description)
    assert SECRET not in connection.session.store.shown
    connection.close()


def test_gcs_through_its_s3_api_gcpxml(moto):
    """ArcticDB's gcpxml:// (GCS's XML API) speaks S3, so moto serves it too: writes and reads work."""
    bucket = moto.create_bucket()
    uri = moto.arctic_uri(bucket).replace("s3://", "gcpxml://", 1)
    connection = arcticsql.connect(uri=uri, config={})
    cursor = connection.cursor()
    cursor.execute("COPY (SELECT TIMESTAMP '2024-01-02' + INTERVAL (i) MINUTE AS ts, i::DOUBLE AS x "
                   "FROM range(10) t(i)) TO 'arctic://prices_1min/G'")
    cursor.execute("INSERT INTO prices_1min.G SELECT TIMESTAMP '2024-01-03' AS ts, 99.0 AS x")
    assert cursor.execute("SELECT count(*), max(x) FROM prices_1min.G").fetchone() == (11, 99.0)
    assert cursor.execute('SELECT count(*) FROM "prices_*/G" AT (VERSION => 0)').fetchone() == (10,)
    connection.close()
