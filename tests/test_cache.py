"""The session cache of decoded ArcticDB columns: never stale, a narrower range or fewer columns are slices of
what it holds, only what it lacks is read, and it never holds more than its bound."""

from __future__ import annotations

import contextlib
import io
import threading

import numpy as np
import pandas as pd
import pytest
from arcticdb_ext import set_config_int, unset_config_int
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arcticsql
from arcticsql.cli.shell import Shell

DAY = pd.Timedelta(days=1)


def bars(days: int = 5, seed: int = 0, start: str = "2024-01-02") -> pd.DataFrame:
    """Minute bars with a NaN, a string column and an integer column."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=days * 1440, freq="min", name="ts")
    close = 100 + np.cumsum(rng.normal(0, 0.1, len(index)))
    close[7] = np.nan
    return pd.DataFrame({"close": close, "volume": rng.integers(1, 1000, len(index)),
                         "side": np.where(rng.random(len(index)) > 0.5, "buy", "sell")}, index=index)


def reads(connection) -> list:
    """The ArcticDB calls scans made."""
    return connection.session.read_log.reads()


def served(connection) -> list:
    """What the cache gave scans."""
    return [r for r in connection.session.read_log.records() if r.cached]


def clear(connection) -> None:
    connection.session.read_log.clear()


@pytest.fixture
def aapl(store_conn):
    frame = bars()
    store_conn.catalog.library("prices_1min", create=True).write("AAPL", frame)
    return store_conn, frame


def _day(frame, first: str, last: str) -> pd.DataFrame:
    return frame[(frame.index >= first) & (frame.index < last)]


def test_a_repeated_query_is_served_without_reading(aapl):
    connection, frame = aapl
    cursor = connection.cursor()
    query = "SELECT count(*), sum(volume), count(close) FROM prices_1min.AAPL"
    first = cursor.execute(query).fetchone()
    assert first == (len(frame), frame.volume.sum(), frame.close.count())  # NaN is NULL in the cache too
    clear(connection)
    assert cursor.execute(query).fetchone() == first
    assert reads(connection) == []
    [record] = served(connection)
    assert record.rows == len(frame) and set(record.columns) == {"ts", "volume", "close"}


def test_a_narrower_range_and_fewer_columns_are_slices(aapl):
    connection, frame = aapl
    cursor = connection.cursor()
    cursor.execute("SELECT * FROM prices_1min.AAPL WHERE ts >= '2024-01-03' AND ts < '2024-01-06'").fetchall()
    clear(connection)
    day = _day(frame, "2024-01-04", "2024-01-05")
    got = cursor.execute("SELECT count(*), sum(volume) FROM prices_1min.AAPL "
                         "WHERE ts >= '2024-01-04' AND ts < '2024-01-05'").fetchone()
    assert got == (len(day), day.volume.sum())
    strict = cursor.execute("SELECT count(*) FROM prices_1min.AAPL WHERE ts > '2024-01-04 12:00' "
                            "AND ts <= '2024-01-04 13:00' AND side = 'buy'").fetchone()[0]
    hour = frame[(frame.index > "2024-01-04 12:00") & (frame.index <= "2024-01-04 13:00")]
    assert strict == (hour.side == "buy").sum()
    assert reads(connection) == []
    assert [r.rows for r in served(connection)] == [len(day), len(hour)]


def test_what_is_missing_is_read_and_added(aapl):
    connection, frame = aapl
    cursor = connection.cursor()
    cursor.execute("SELECT avg(close) FROM prices_1min.AAPL WHERE ts >= '2024-01-03' AND ts < '2024-01-04'")
    cursor.fetchall()
    clear(connection)
    query = ("SELECT count(*), sum(volume), count(close) FROM prices_1min.AAPL "
             "WHERE ts >= '2024-01-02' AND ts < '2024-01-05'")
    window = _day(frame, "2024-01-02", "2024-01-05")
    assert cursor.execute(query).fetchone() == (len(window), window.volume.sum(), window.close.count())
    one_ns = pd.Timedelta(1, "ns")
    got = {(r.columns, r.date_range) for r in reads(connection)}
    assert got == {  # the first day and the third in full, the middle day's volume only
        (("close", "volume"), (pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03") - one_ns)),
        (("volume",), (pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04") - one_ns)),
        (("close", "volume"), (pd.Timestamp("2024-01-04"), pd.Timestamp("2024-01-05") - one_ns)),
    }
    clear(connection)
    assert cursor.execute(query).fetchone() == (len(window), window.volume.sum(), window.close.count())
    assert reads(connection) == []


def test_a_new_version_is_read_not_the_cached_one(aapl):
    connection, frame = aapl
    lib = connection.catalog.library("prices_1min")
    cursor = connection.cursor()
    query = "SELECT count(*), max(volume) FROM prices_1min.AAPL"
    assert cursor.execute(query).fetchone() == (len(frame), frame.volume.max())
    lib.write("AAPL", frame.assign(volume=frame.volume + 5000))  # behind arcticsql's back
    assert cursor.execute(query).fetchone() == (len(frame), frame.volume.max() + 5000)
    cursor.execute("COPY (SELECT * FROM prices_1min.AAPL LIMIT 10) TO 'arctic://prices_1min/AAPL'")
    assert cursor.execute(query).fetchone()[0] == 10
    assert {r.version for r in reads(connection)} == {0, 1, 2}


@contextlib.contextmanager
def fresh_version_maps():
    """ArcticDB re-reads a symbol's versions on every call (instead of every ~2 s), as a new process would."""
    set_config_int("VersionMap.ReloadInterval", 0)
    try:
        yield
    finally:
        unset_config_int("VersionMap.ReloadInterval")


def test_a_symbol_whose_versions_start_again_is_not_served_from_the_cache(moto, s3_uri):
    """A symbol deleted and written again restarts its version numbers (here: its keys removed from the bucket,
    as a wiped and refilled store would be): version 0 is another version, told apart by its creation time."""
    connection = arcticsql.connect(uri=s3_uri, config={})
    try:
        frame = bars(days=1)
        lib = connection.catalog.library("features", create=True)
        lib.write("S", frame)
        cursor = connection.cursor()
        query = "SELECT count(*), sum(volume) FROM features.S"
        assert cursor.execute(query).fetchone() == (len(frame), frame.volume.sum())
        assert cursor.execute(query).fetchone() == (len(frame), frame.volume.sum())
        assert served(connection)
        with fresh_version_maps():
            bucket = moto.buckets[-1]
            client = moto.client()
            for item in client.list_objects_v2(Bucket=bucket)["Contents"]:
                if not item["Key"].startswith("_arctic_cfg/"):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
            again = bars(days=2, seed=9)
            lib.write("S", again)
            assert lib.read_metadata("S").version == 0
            clear(connection)
            assert cursor.execute(query).fetchone() == (len(again), again.volume.sum())
            assert [r.version for r in reads(connection)] == [0]
            clear(connection)
            assert cursor.execute(query).fetchone() == (len(again), again.volume.sum())
            assert reads(connection) == []
    finally:
        connection.close()


def test_a_repeated_wildcard_reads_nothing(conn):
    lib = conn.catalog.library("prices_daily", create=True)
    frames = {f"S{i:02d}": bars(days=2, seed=i).resample("h").last() for i in range(20)}
    for symbol, frame in frames.items():
        lib.write(symbol, frame)
    cursor = conn.cursor()
    query = ("SELECT symbol, count(*), sum(volume) FROM \"prices_daily/*\" WHERE ts >= '2024-01-03' "
             "GROUP BY symbol ORDER BY symbol")
    expected = [(s, int((f.index >= "2024-01-03").sum()), f.volume[f.index >= "2024-01-03"].sum())
                for s, f in frames.items()]
    assert cursor.execute(query).fetchall() == expected
    clear(conn)
    assert cursor.execute(query).fetchall() == expected
    assert reads(conn) == [] and len(served(conn)) == 20
    clear(conn)  # a narrower range of a few members: slices again
    got = cursor.execute("SELECT count(*) FROM \"prices_daily/S0*\" WHERE ts >= '2024-01-03 12:00'").fetchone()
    assert got == (sum(int((f.index >= "2024-01-03 12:00").sum()) for s, f in frames.items() if s < "S10"),)
    assert reads(conn) == []


def test_a_range_index_symbol_is_cached_by_rows(conn):
    frame = pd.DataFrame({"x": np.arange(1000.0), "y": np.arange(1000)})
    conn.catalog.library("features", create=True).write("R", frame)
    cursor = conn.cursor()
    assert cursor.execute('SELECT sum(x), max("index") FROM features.R').fetchone() == (frame.x.sum(), 999)
    clear(conn)
    assert cursor.execute('SELECT count(*) FROM features.R WHERE "index" >= 10 AND x < 20').fetchone() == (10,)
    assert reads(conn) == []
    assert cursor.execute("SELECT sum(y) FROM features.R").fetchone() == (frame.y.sum(),)
    assert [r.columns for r in reads(conn)] == [("y",)]


def test_cache_mb_0_turns_it_off():
    connection = arcticsql.connect(uri="mem://", config={"processing": {"cache_mb": 0}})
    try:
        connection.catalog.library("features", create=True).write("S", bars(days=1))
        cursor = connection.cursor()
        for _ in range(2):
            cursor.execute("SELECT sum(volume) FROM features.S").fetchall()
        assert len(reads(connection)) == 2 and served(connection) == []
        assert connection.session.scan_cache.used == 0
    finally:
        connection.close()


def test_the_repl_shows_and_clears_the_cache(aapl):
    connection, _ = aapl
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(connection, interactive=True, stdout=out, stderr=err)
    try:
        shell.run_script(".mode csv\nSELECT sum(volume) FROM prices_1min.AAPL;\nSELECT sum(volume) FROM "
                         "prices_1min.AAPL;\n.cache")
        lines = out.getvalue().splitlines()
        header = lines.index("symbol,version,range,rows,columns,MB")
        assert lines[header + 1].startswith("prices_1min/AAPL,0,… – …,7200,")
        shell.run_script(".mode table\n.cache")
        assert "held in 1 piece; 50% of the bytes 2 scans took came from it (1 wholly, 0 in part)" in out.getvalue()
        shell.run_script(".cache clear")
        assert "the cache is empty" in out.getvalue() + err.getvalue()
        assert connection.session.scan_cache.used == 0
    finally:
        shell.close()


def test_scans_on_many_threads_agree_and_stay_in_bounds(tmp_path):
    limit = 150_000
    connection = arcticsql.connect(uri=f"lmdb://{tmp_path}/arctic", config={"processing": {"cache_mb": limit / 2**20}})
    try:
        lib = connection.catalog.library("prices_1min", create=True)
        frames = {f"T{i}": bars(days=3, seed=i) for i in range(4)}
        for symbol, frame in frames.items():
            lib.write(symbol, frame)
        failures: list[BaseException] = []

        def work(seed: int) -> None:
            rng = np.random.default_rng(seed)
            cursor = connection.cursor()
            try:
                for _ in range(12):
                    symbol = f"T{rng.integers(4)}"
                    first = pd.Timestamp("2024-01-02") + pd.Timedelta(minutes=int(rng.integers(0, 4000)))
                    last = first + pd.Timedelta(minutes=int(rng.integers(1, 3000)))
                    frame = frames[symbol]
                    window = frame[(frame.index >= first) & (frame.index < last)]
                    got = cursor.execute(f"SELECT count(*), sum(volume) FROM prices_1min.{symbol} "
                                         "WHERE ts >= ? AND ts < ?", [first, last]).fetchone()
                    assert got == (len(window), window.volume.sum() if len(window) else None)
                    assert connection.session.scan_cache.used <= limit
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                failures.append(error)
            finally:
                cursor.close()

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        stats = connection.session.scan_cache.stats
        assert stats.evicted and stats.hits + stats.partial
    finally:
        connection.close()


# -- the bound, over random sequences of queries ---------------------------------------------------------------
_LIMIT = 120_000


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    """A small cache and a store of a few symbols (timestamp, zoned and range indexes), with an uncached
    session on the same store to compare with."""
    uri = f"lmdb://{tmp_path_factory.mktemp('bound')}/arctic"
    cached = arcticsql.connect(uri=uri, config={"processing": {"cache_mb": _LIMIT / 2**20, "scan_chunk_mb": 0.02}})
    direct = arcticsql.connect(uri=uri, config={"processing": {"cache_mb": 0}})
    lib = direct.catalog.library("features", create=True)
    lib.write("A", bars(days=2, seed=1))
    lib.write("Z", bars(days=1, seed=2).tz_localize("UTC").tz_convert("Asia/Tokyo"))
    lib.write("R", bars(days=1, seed=3).reset_index(drop=True))
    yield cached, direct
    cached.close()
    direct.close()


@st.composite
def _queries(draw):
    symbol = draw(st.sampled_from(["A", "Z", "R"]))
    columns = draw(st.lists(st.sampled_from(["close", "volume", "side"]), min_size=1, max_size=3, unique=True))
    where = []
    if symbol != "R" and draw(st.booleans()):
        first = pd.Timestamp("2024-01-02") + pd.Timedelta(minutes=draw(st.integers(-100, 3000)))
        last = first + pd.Timedelta(minutes=draw(st.integers(0, 3000)))
        zone = "+00" if symbol == "Z" else ""
        where.append(f"ts BETWEEN TIMESTAMPTZ '{first}{zone}' AND TIMESTAMPTZ '{last}{zone}'" if zone
                     else f"ts BETWEEN '{first}' AND '{last}'")
    if symbol == "R" and draw(st.booleans()):
        where.append(f'"index" < {draw(st.integers(0, 1500))}')
    if draw(st.booleans()):
        where.append(f"volume > {draw(st.integers(0, 1000))}")
    aggregates = ", ".join(f"count({c}), min({c}), max({c})" for c in columns)
    return f"SELECT count(*), {aggregates} FROM features.{symbol}" + (f" WHERE {' AND '.join(where)}" if where else "")


def _held_buffers(cache) -> int:
    """Bytes of the distinct Arrow buffers the cache holds."""
    seen: dict[int, int] = {}
    for piece, column, _size in cache.held():
        for chunk in piece.columns[column].chunks:
            for buffer in chunk.buffers():
                if buffer is not None:
                    seen[buffer.address] = max(seen.get(buffer.address, 0), buffer.size)
    return sum(seen.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(queries=st.lists(_queries(), min_size=1, max_size=8))
def test_the_bound_is_never_exceeded(bounded, queries):
    cached, direct = bounded
    cache = cached.session.scan_cache
    for query in queries:
        assert cached.cursor().execute(query).fetchall() == direct.cursor().execute(query).fetchall(), query
        assert cache.used <= _LIMIT
        assert _held_buffers(cache) <= cache.used


def test_the_bound_was_exercised(bounded):
    """Guard against a vacuous property: the cache evicted, and served scans wholly and in part."""
    stats = bounded[0].session.scan_cache.stats
    assert stats.evicted and stats.hits and stats.partial


def test_a_statements_reads_and_what_the_cache_served_are_in_the_log(aapl):
    """What EXPLAIN ANALYZE can say: the records a statement added, the cache's marked ``cached``."""
    connection, frame = aapl
    cursor = connection.cursor()
    log = connection.session.read_log
    mark = log.mark()
    cursor.execute("SELECT sum(volume) FROM prices_1min.AAPL WHERE ts < '2024-01-03'").fetchall()
    [read] = log.since(mark)
    assert not read.cached and read.columns == ("volume",)
    mark = log.mark()
    cursor.execute("SELECT sum(volume) FROM prices_1min.AAPL WHERE ts < '2024-01-02 12:00'").fetchall()
    [served_] = log.since(mark)
    assert served_.cached and served_.rows == 720 and log.since(log.mark()) == []


def test_the_cache_settings(tmp_path, monkeypatch):
    from arcticsql.config import load_settings

    monkeypatch.chdir(tmp_path)
    defaults = load_settings({})
    assert (defaults.cache_bytes, defaults.disk_cache_dir) == (1024 * 2**20, None)
    chosen = load_settings({"processing": {"cache_mb": 0.5, "disk_cache_dir": "cache", "disk_cache_mb": 2}})
    assert (chosen.cache_bytes, chosen.disk_cache_dir, chosen.disk_cache_bytes) == \
        (2**19, str(tmp_path / "cache"), 2 * 2**20)
    # the folder is for object stores: a local store reads its own files as fast
    with arcticsql.connect(uri=f"lmdb://{tmp_path}/arctic", config={"processing": {"disk_cache_dir": "c"}}) as local:
        assert local.session.scan_cache.disk is None
