"""The loader processes: what breaks one (a segfault, a hang, a huge allocation) costs that file, named in a
one-line error, while the other files load and the session goes on; interrupting a read stops it within a
second; the parent never unpickles a file."""

from __future__ import annotations

import io
import pickle
import threading
import time

import numpy as np
import pandas as pd
import pytest

import arcticsql
from arcticsql.pickles import LocalStorage
from arcticsql.pickles.datasets import load_files
from arcticsql.pickles.sandbox import Sandbox
from arcticsql.pickles.unpickling import SafeUnpickler
from tests.conftest import counting_calls
from tests.pickles.hostile import HOSTILE, UNSAFE
from tests.pickles.samples import ohlc_frame


@pytest.fixture
def folder(tmp_path):
    """Three good files around a bad one, as in ``index/nifty/gbm/*.pkl``."""
    store = LocalStorage(tmp_path)
    for i in range(3):
        store.save(ohlc_frame(rows=10, seed=i), f"index/nifty/gbm/2024010{i + 1}_000000_p{i}.pkl")
    return tmp_path


def connect(folder, **storage):
    return arcticsql.connect(uri="mem://", config={"storage": {"local": {"base_path": str(folder)}, **storage}})


def plant(folder, name: str) -> str:
    """Write the hostile or unsafe file ``name`` among the good ones; its location."""
    path = folder / "index/nifty/gbm" / f"20240102_120000_{name}.pkl"
    path.write_bytes({**HOSTILE, **UNSAFE}[name]())
    return str(path)


def test_a_segfault_costs_only_its_file(folder):
    crash = plant(folder, "unsafe_crash")
    with connect(folder, allow_unsafe_pickle=True) as conn:
        listing = conn.execute("SELECT file, rows, error FROM pickle_files('index/**/*.pkl') ORDER BY file").fetchall()
        assert [(rows, error) for _file, rows, error in listing if "crash" not in _file] == [(10, None)] * 3
        assert [error for file, _rows, error in listing if "crash" in file] == [
            f"{crash}: the loader process crashed (signal SIGSEGV)"]
        with pytest.raises(arcticsql.OperationalError, match=r"unsafe_crash\.pkl: the loader process crashed "
                                                             r"\(signal SIGSEGV\)$"):
            conn.execute("SELECT count(*) FROM read_pickle('index/**/*.pkl')").fetchall()
        assert conn.execute("SELECT count(*) FROM read_pickle('index/**/*p?.pkl')").fetchall() == [(30,)]


def test_sandbox_loads_each_file_in_order_past_a_crash(folder):
    plant(folder, "unsafe_crash")
    store = LocalStorage(folder, allow_unsafe=True)
    entries = store.list_recursive("**/*.pkl")
    sandbox = Sandbox(2, timeout=30)
    try:
        results = list(load_files(store, entries, sandbox=sandbox, keep_errors=True))
    finally:
        sandbox.close()
    assert [type(result).__name__ for result in results] == ["LoadedFile", "LoadedFile", "StorageError", "LoadedFile"]
    assert [result.table.num_rows for result in results if hasattr(result, "table")] == [10, 10, 10]


def test_a_file_that_hangs_is_stopped_after_the_timeout(folder):
    hang = plant(folder, "unsafe_sleep")
    with connect(folder, allow_unsafe_pickle=True, load_timeout_s=1) as conn:
        began = time.monotonic()
        with pytest.raises(arcticsql.OperationalError) as raised:
            conn.execute("SELECT count(*) FROM read_pickle('index/**/*.pkl')").fetchall()
        assert str(raised.value) == f"{hang}: loading took longer than 1 s; the loader process was stopped"
        assert time.monotonic() - began < 20  # twice the limit (in the pool, then alone) and restarts
        assert conn.execute("SELECT count(*) FROM read_pickle('index/**/*p?.pkl')").fetchall() == [(30,)]


def test_a_huge_allocation_meets_the_memory_limit(folder):
    memory = plant(folder, "unsafe_memory")
    with connect(folder, allow_unsafe_pickle=True, sandbox_memory_mb=512) as conn:
        with pytest.raises(arcticsql.OperationalError,
                           match=f"^{memory}: out of memory"):
            conn.execute("SELECT count(*) FROM read_pickle('index/**/*.pkl')").fetchall()


def interrupt_until_done(cursor, statement: str, stuck) -> tuple[BaseException | None, float]:
    """Run ``statement`` on another thread; once ``stuck()`` says it waits on what will not come, interrupt
    it (as Ctrl-C does) until it ends: what it raised, and the seconds from the first interrupt to its end."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            cursor.execute(statement).fetchall()
        except BaseException as error:  # noqa: BLE001 - handed back
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while not stuck() and worker.is_alive() and time.monotonic() < deadline:
        worker.join(0.01)
    began = time.monotonic()
    while worker.is_alive():
        cursor.interrupt()
        worker.join(0.05)
    return outcome.get("error"), time.monotonic() - began


def test_interrupt_stops_a_read_stuck_in_a_loader(folder):
    begun = folder / "begun"
    (folder / "index/nifty/gbm/20240102_120000_sleep.pkl").write_bytes(UNSAFE["unsafe_sleep"](str(begun)))
    with connect(folder, allow_unsafe_pickle=True) as conn:
        error, seconds = interrupt_until_done(conn.cursor(), "SELECT count(*) FROM read_pickle('index/**/*.pkl')",
                                              begun.exists)
        assert isinstance(error, arcticsql.OperationalError) and "nterrupt" in str(error) and seconds < 2, (error, seconds)
        assert conn.execute("SELECT count(*) FROM read_pickle('index/**/*p?.pkl')").fetchall() == [(30,)]


def test_the_session_never_unpickles_a_file_itself(folder):
    with connect(folder) as conn, counting_calls(SafeUnpickler(io.BytesIO(), ""), "load") as calls:
        assert conn.execute("SELECT count(*) FROM read_pickle('index/**/*.pkl')").fetchall() == [(30,)]
        assert conn.execute("SELECT count(*) FROM pickle_files('index/**/*.pkl')").fetchall() == [(3,)]
    assert calls == []


@pytest.mark.parametrize("name", ["cycle", "class_mutation", "numpy_object_short_state", "categorical_codes_oob",
                                  "not_a_frame", "truncated"])
@pytest.mark.parametrize("sandbox", [True, False])
def test_pickle_files_reports_what_read_pickle_refuses(folder, name, sandbox):
    bad = plant(folder, name)
    with connect(folder, sandbox=sandbox) as conn:
        with pytest.raises(arcticsql.OperationalError) as raised:
            conn.execute("SELECT * FROM read_pickle('index/**/*.pkl')").fetchall()
        errors = dict(conn.execute("SELECT file, error FROM pickle_files('index/**/*.pkl')").fetchall())
    assert str(raised.value).startswith(bad)
    assert errors == {**{file: None for file in errors}, f"index/nifty/gbm/{bad.rsplit('/', 1)[1]}": str(raised.value)}


FRAMES = {
    "tz_pytz_fixed": pd.DataFrame({"a": np.arange(3.0)}, index=pd.date_range(
        "2024-01-01", periods=3, tz=__import__("pytz").FixedOffset(330), name="ts")),
    "tz_dateutil": pd.DataFrame({"t": pd.date_range("2024-03-30", periods=3, freq="12h",
                                                     tz=__import__("dateutil.tz").tz.gettz("Europe/Paris"))}),
    "categorical": pd.DataFrame({"c": pd.Categorical(["x", "y", None])}),
    "multiindex": pd.DataFrame({"v": np.arange(4.0)},
                               index=pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["k", "n"])),
    "period": pd.DataFrame({"p": pd.period_range("2024-01", periods=3, freq="M")}),
    "string_pyarrow": pd.DataFrame({"s": pd.array(["a", None, "c"], dtype="string[pyarrow]")}),
}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_valid_frames_read_in_the_sandbox_as_in_process(tmp_path, protocol):
    store = LocalStorage(tmp_path)
    for name, frame in FRAMES.items():
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps(frame, protocol=protocol))
        pd.testing.assert_frame_equal(store.load(f"{name}.pkl"), frame)
    results = {}
    for sandbox in (True, False):
        with connect(tmp_path, sandbox=sandbox) as conn:
            results[sandbox] = [conn.execute(f"SELECT * FROM read_pickle('{name}.pkl')").fetch_arrow()
                                for name in FRAMES]
    assert all(a.equals(b) for a, b in zip(results[True], results[False], strict=True))
