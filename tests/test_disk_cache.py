"""The cache's folder on disk (``processing.disk_cache_dir``, stores on object storage): another session or
process reads the columns a scan read before instead of the store; a torn file is a miss, never wrong data,
also with several processes writing the folder and one killed in the middle of a write."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import arcticsql
from tests.test_cache import bars, fresh_version_maps, reads


def _connect(uri: str, folder: Path, **processing):
    return arcticsql.connect(uri=uri, config={"processing": {"disk_cache_dir": str(folder), **processing}})


def _files(folder: Path, suffix: str = ".arrow") -> list[Path]:
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names if name.endswith(suffix)]


QUERY = ("SELECT count(*), sum(volume), count(close), sum(close) FROM prices_1min.AAPL "
         "WHERE ts >= '2024-01-03' AND ts < '2024-01-05'")


def _expected(frame):
    window = frame[(frame.index >= "2024-01-03") & (frame.index < "2024-01-05")]
    return len(window), window.volume.sum(), window.close.count(), window.close.sum()


@pytest.fixture
def stored(s3_uri):
    frame = bars()
    with arcticsql.connect(uri=s3_uri, config={}) as connection:
        connection.catalog.library("prices_1min", create=True).write("AAPL", frame)
    return s3_uri, frame


def _agrees(got, expected) -> bool:
    return all(math.isclose(a, b) for a, b in zip(got, expected)) and len(got) == len(expected)


def test_a_second_session_reads_the_folder_not_the_store(stored, tmp_path):
    uri, frame = stored
    folder = tmp_path / "cache"
    with _connect(uri, folder) as first:
        assert _agrees(first.cursor().execute(QUERY).fetchone(), _expected(frame))
        assert len(reads(first)) == 1
    assert len(_files(folder)) == 3  # the index, close and volume of the two days
    with _connect(uri, folder) as second:
        assert _agrees(second.cursor().execute(QUERY).fetchone(), _expected(frame))
        assert reads(second) == []
        assert second.session.scan_cache.stats.bytes_from_disk > 0
        # a narrower range is a slice of the files; a column they lack is read from the store and added
        day = frame[(frame.index >= "2024-01-04") & (frame.index < "2024-01-05")]
        got = second.cursor().execute("SELECT count(*), count(side) FROM prices_1min.AAPL "
                                      "WHERE ts >= '2024-01-04' AND ts < '2024-01-05'").fetchone()
        assert got == (len(day), len(day))
        assert [r.columns for r in reads(second)] == [("side",)]
    assert len(_files(folder)) == 5  # the day's side column, and its own index


def test_the_nan_rule_is_part_of_the_key(stored, tmp_path):
    uri, frame = stored
    folder = tmp_path / "cache"
    with _connect(uri, folder) as first:
        first.cursor().execute("SELECT count(close) FROM prices_1min.AAPL").fetchall()
    with _connect(uri, folder, nan_is_null=False) as raw:
        # raw NaN counts as a value: not the NULLs the first session's files hold
        assert raw.cursor().execute("SELECT count(close) FROM prices_1min.AAPL").fetchone() == (len(frame),)
        assert len(reads(raw)) == 1


def test_a_version_written_again_under_the_same_number_is_a_miss(stored, tmp_path):
    uri, frame = stored
    folder = tmp_path / "cache"
    with _connect(uri, folder) as first:
        first.cursor().execute(QUERY).fetchall()
    with arcticsql.connect(uri=uri, config={}) as writer:
        arctic = writer.catalog.arctic
        arctic.delete_library("prices_1min")
        arctic.create_library("prices_1min")
        again = bars(seed=5)
        arctic["prices_1min"].write("AAPL", again)
        assert arctic["prices_1min"].read_metadata("AAPL").version == 0
    with fresh_version_maps(), _connect(uri, folder) as second:
        assert _agrees(second.cursor().execute(QUERY).fetchone(), _expected(again))
        assert len(reads(second)) == 1


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "empty", "footer only"])
def test_a_torn_or_corrupt_file_is_a_miss(stored, tmp_path, damage):
    uri, frame = stored
    folder = tmp_path / "cache"
    with _connect(uri, folder) as first:
        first.cursor().execute(QUERY).fetchall()
    for path in _files(folder):
        data = path.read_bytes()
        broken = {"truncated": data[: len(data) // 2], "empty": b"", "footer only": data[-20:],
                  "flipped byte": data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]}[damage]
        path.write_bytes(broken)
    with _connect(uri, folder) as second:
        assert _agrees(second.cursor().execute(QUERY).fetchone(), _expected(frame))
        assert len(reads(second)) == 1  # every file was a miss: read again, and written again whole
    with _connect(uri, folder) as third:
        assert _agrees(third.cursor().execute(QUERY).fetchone(), _expected(frame))
        assert reads(third) == []


# -- several processes on one folder, one killed while it writes ------------------------------------------------
_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import pandas as pd
    import arcticsql

    uri, folder, seed, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    count = 0
    while rounds < 0 or count < rounds:
        count += 1
        # a new session each time: its memory cache is empty, so it reads the folder or the store
        with arcticsql.connect(uri=uri, config={"processing": {"disk_cache_dir": folder}}) as connection:
            cursor = connection.cursor()
            for symbol in ("B0", "B1", "B2"):
                begin = int(rng.integers(0, 200_000))  # minutes after the first row
                end = begin + int(rng.integers(1, 100_000))
                first, last = start + pd.Timedelta(minutes=begin), start + pd.Timedelta(minutes=end)
                got = cursor.execute(f"SELECT count(*), sum(x) FROM features.{symbol} WHERE ts >= ? AND ts < ?",
                                     [first, last]).fetchone()
                offset = int(symbol[1]) * 1_000_000
                rows = min(end, 300_000) - begin
                expected = sum(range(begin + offset, begin + offset + rows))
                assert got == (rows, expected), (symbol, first, last, got, rows, expected)
    print("ok", count)
""")


def _write_big(uri: str) -> None:
    index = pd.date_range("2024-01-01", periods=300_000, freq="min", name="ts")
    with arcticsql.connect(uri=uri, config={}) as connection:
        lib = connection.catalog.library("features", create=True)
        for i in range(3):
            lib.write(f"B{i}", pd.DataFrame({"x": np.arange(300_000, dtype="int64") + i * 1_000_000,
                                             "y": np.zeros(300_000)}, index=index))


def _spawn(script: Path, uri: str, folder: Path, seed: int, rounds: int) -> subprocess.Popen:
    root = str(Path(__file__).resolve().parent.parent)
    environment = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, str(script), uri, str(folder), str(seed), str(rounds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def _kill_while_writing(script: Path, uri: str, folder: Path, seed: int) -> bool:
    """Start a reader, SIGKILL it as soon as one of its files is half written; whether that file was left."""
    victim = _spawn(script, uri, folder, seed=seed, rounds=-1)
    try:
        deadline = time.monotonic() + 240
        while not (mine := [p for p in _files(folder, ".tmp") if p.name.startswith(f".{victim.pid}-")]):
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "the reader wrote nothing"
            time.sleep(0.0005)  # the interval between looks; what decides is the file
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        return any(path.exists() for path in mine)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_processes_sharing_the_folder_one_killed_mid_write(s3_uri, tmp_path):
    _write_big(s3_uri)
    folder = tmp_path / "cache"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    survivor = _spawn(script, s3_uri, folder, seed=2, rounds=6)  # reads and writes the folder meanwhile
    try:
        torn = [_kill_while_writing(script, s3_uri, folder, seed) for seed in range(10, 13)]
        assert any(torn)  # at least one reader died with a file half written
        out, err = survivor.communicate(timeout=600)
        assert survivor.returncode == 0, err
        assert out.startswith("ok 6")
    finally:
        if survivor.poll() is None:
            survivor.kill()
            survivor.wait()
    # whatever the killed readers left, this process and a new one read correct rows from the folder
    last = _spawn(script, s3_uri, folder, seed=3, rounds=4)
    out, err = last.communicate(timeout=600)
    assert last.returncode == 0, err
    with _connect(s3_uri, folder) as connection:
        got = connection.cursor().execute("SELECT count(*), sum(x) FROM features.B1").fetchone()
        assert got == (300_000, sum(range(1_000_000, 1_300_000)))


def test_a_warm_wildcard_on_s3_requests_no_data(moto, s3_uri, tmp_path):
    """Counted by a proxy in front of the store: a repeated wildcard statement, and the same statement in a new
    session sharing the folder, ask for no data segment (only versions are checked)."""
    from tests.support.latency_proxy import LatencyProxy

    bucket = moto.buckets[-1]
    frames = {f"S{i:02d}": bars(days=2, seed=i).resample("h").last() for i in range(12)}
    with arcticsql.connect(uri=s3_uri, config={}) as writer:
        lib = writer.catalog.library("prices_daily", create=True)
        for symbol, frame in frames.items():
            lib.write(symbol, frame)
    query = ("SELECT symbol, count(*), sum(volume) FROM \"prices_daily/*\" WHERE ts >= '2024-01-03' "
             "GROUP BY symbol ORDER BY symbol")
    expected = [(s, int((f.index >= "2024-01-03").sum()), f.volume[f.index >= "2024-01-03"].sum())
                for s, f in frames.items()]
    with LatencyProxy(moto.port, delay_ms=0) as proxy:
        uri = moto.arctic_uri(bucket, port=proxy.port)
        with _connect(uri, tmp_path / "cache") as first:
            cursor = first.cursor()
            assert cursor.execute(query).fetchall() == expected
            assert proxy.data_requests == len(frames)
            proxy.reset()
            assert cursor.execute(query).fetchall() == expected
            assert proxy.data_requests == 0 and proxy.requests <= 2 * len(frames) + 2  # versions checked
        proxy.reset()
        with _connect(uri, tmp_path / "cache") as second:
            assert second.cursor().execute(query).fetchall() == expected
            assert proxy.data_requests == 0 and reads(second) == []
