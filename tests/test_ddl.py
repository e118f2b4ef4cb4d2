"""DDL and DML on ArcticDB tables: DROP TABLE, DELETE of an index range, CREATE TABLE IF NOT EXISTS, INSERT
VALUES and column lists; checked with ArcticDB's own reads."""

from __future__ import annotations

import threading

import pandas as pd
import pyarrow as pa
import pytest

import arcticsql
from arcticsql.sql.commands import store_command
from arcticsql.sql.references import parse_statement
from arcticsql.writes.commands import run_store_command
from arcticsql.writes.lock import symbol_lock
from tests.conftest import minute_bars


@pytest.fixture
def bars(conn):
    lib = conn.catalog.library("signals", create=True)
    frame = minute_bars("2024-03-29 13:00", periods=30)
    lib.write("test/AAPL", frame)
    return lib, frame


def test_drop_table_deletes_the_symbol_and_snapshots_keep_theirs(conn, bars):
    lib, frame = bars
    lib.write("test/AAPL", frame.head(5))
    lib.snapshot("before")
    cur = conn.cursor()
    assert cur.execute('SELECT count(*) FROM signals."test/AAPL"').fetchone() == (5,)
    cur.execute('DROP TABLE signals."test/AAPL"')
    assert "dropped signals/test/AAPL (2 versions" in cur.message
    assert not lib.has_symbol("test/AAPL")
    assert len(lib.read("test/AAPL", as_of="before").data) == 5
    with pytest.raises(arcticsql.ProgrammingError, match="unknown symbol 'test/AAPL'"):
        cur.execute('SELECT * FROM signals."test/AAPL"')


def test_drop_table_if_exists_and_a_misspelled_symbol(conn, bars):
    cur = conn.cursor()
    with pytest.raises(arcticsql.ProgrammingError, match="unknown symbol 'test/AAPX'.*did you mean test/AAPL"):
        cur.execute('DROP TABLE signals."test/AAPX"')
    cur.execute('DROP TABLE IF EXISTS signals."test/AAPX"')
    assert "nothing dropped" in cur.message
    cur.execute("DROP TABLE IF EXISTS nowhere.x")
    assert "nowhere" not in conn.catalog.arctic.list_libraries()
    with pytest.raises(arcticsql.ProgrammingError, match="unknown library 'signalz'; did you mean signals"):
        cur.execute("DROP TABLE signalz.x")
    assert bars[0].has_symbol("test/AAPL")


def test_drop_of_a_duckdb_table_is_duckdbs(conn, bars):
    cur = conn.cursor()
    cur.execute("CREATE TABLE main.scratch AS SELECT 1 AS x")
    assert "main" not in conn.catalog.arctic.list_libraries()
    cur.execute("INSERT INTO main.scratch VALUES (2)")
    assert cur.execute("SELECT sum(x) FROM main.scratch").fetchone() == (3,)
    cur.execute("DROP TABLE main.scratch")
    assert cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scratch'").fetchone() == (0,)


@pytest.mark.parametrize("where, kept", [
    ("ts >= '2024-03-29 13:10' AND ts < '2024-03-29 13:20'", lambda i: (i < "2024-03-29 13:10") | (i >= "2024-03-29 13:20")),
    ("ts > '2024-03-29 13:10' AND ts <= '2024-03-29 13:20'", lambda i: (i <= "2024-03-29 13:10") | (i > "2024-03-29 13:20")),
    ("ts BETWEEN '2024-03-29 13:05' AND '2024-03-29 13:06'", lambda i: (i < "2024-03-29 13:05") | (i > "2024-03-29 13:06")),
    ("'2024-03-29 13:25' < ts", lambda i: i <= "2024-03-29 13:25"),
    ("ts = '2024-03-29 13:00'", lambda i: i != "2024-03-29 13:00"),
    ("(ts < '2024-03-29 13:03')", lambda i: i >= "2024-03-29 13:03"),
])
def test_delete_an_index_range_is_delete_data_in_range(conn, bars, where, kept):
    lib, frame = bars
    cur = conn.cursor()
    cur.execute(f'DELETE FROM signals."test/AAPL" WHERE {where}')
    expected = frame[kept(frame.index)]
    assert cur.rowcount == len(frame) - len(expected) > 0
    stored = lib.read("test/AAPL")
    assert stored.version == 1
    pd.testing.assert_frame_equal(stored.data, expected, check_freq=False)
    assert cur.execute('SELECT count(*) FROM signals."test/AAPL"').fetchone() == (len(expected),)


def test_delete_with_parameters_and_nothing_in_range(conn, bars):
    lib, frame = bars
    cur = conn.cursor()
    cur.execute('DELETE FROM signals."test/AAPL" WHERE ts >= ? AND ts < ?',
                [pd.Timestamp("2024-03-29 13:00"), "2024-03-29 13:02"])
    assert cur.rowcount == 2 and len(lib.read("test/AAPL").data) == len(frame) - 2
    cur.execute('DELETE FROM signals."test/AAPL" WHERE ts BETWEEN ?::TIMESTAMP AND ?', ["2024-03-29 13:29", "2030-01-01"])
    assert cur.rowcount == 1 and lib.read("test/AAPL").version == 2
    cur.execute('DELETE FROM signals."test/AAPL" WHERE ts > \'2030-01-01\'')
    assert cur.rowcount == 0 and lib.read("test/AAPL").version == 2  # no version written for nothing


@pytest.mark.parametrize("statement, says", [
    ('DELETE FROM signals."test/AAPL" WHERE close > 100', "range of its index 'ts', not of 'close'"),
    ('DELETE FROM signals."test/AAPL" WHERE ts > \'2024-03-29\' OR ts < \'2024-01-01\'', "WHERE ts >= "),
    ('DELETE FROM signals."test/AAPL"', "delete_data_in_range"),
    ('DELETE FROM signals."test/AAPL" WHERE ts IN (SELECT ts FROM prices_1min.AAPL)', "BETWEEN"),
    ('UPDATE signals."test/AAPL" SET close = 1', "UPDATE of an ArcticDB table is not supported"),
    ('ALTER TABLE signals."test/AAPL" ADD COLUMN c INTEGER', "Supported: DELETE FROM"),
    ('TRUNCATE signals."test/AAPL"', "DROP TABLE signals"),
    ("DROP TABLE arcticsql.symbols", "arcticsql's catalog"),
])
def test_other_changes_are_refused_saying_what_is_supported(conn, bars, statement, says):
    with pytest.raises(arcticsql.NotSupportedError, match=None) as caught:
        conn.cursor().execute(statement)
    assert says in str(caught.value) and "__arcticsql" not in str(caught.value)
    assert bars[0].read("test/AAPL").version == 0


def test_create_table_if_not_exists_does_nothing_when_the_symbol_exists(conn, bars):
    cur = conn.cursor()
    cur.execute('CREATE TABLE IF NOT EXISTS signals."test/AAPL" AS SELECT 1 AS x')
    assert "exists: nothing written" in cur.message
    assert bars[0].read("test/AAPL").version == 0
    cur.execute("CREATE TABLE IF NOT EXISTS signals.fresh AS SELECT TIMESTAMP '2024-01-01' AS ts, 1.5 AS x")
    assert bars[0].read("fresh").data.x.tolist() == [1.5]
    with pytest.raises(arcticsql.ProgrammingError, match="already exists"):
        cur.execute("CREATE TABLE signals.fresh AS SELECT 1 AS x")


def test_insert_values_by_position_including_the_index(conn, bars):
    lib, frame = bars
    cur = conn.cursor()
    cur.execute("INSERT INTO signals.\"test/AAPL\" VALUES ('2024-03-29 13:30', 1, 2, 3, 4, 5), "
                "('2024-03-29 13:31', 1.5, 2.5, 3.5, 4.5, 6)")
    stored = lib.read("test/AAPL").data
    assert stored.index[-2:].tolist() == [pd.Timestamp("2024-03-29 13:30"), pd.Timestamp("2024-03-29 13:31")]
    assert stored.iloc[-2].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and stored.iloc[-1].close == 4.5
    assert str(stored.volume.dtype) == "int64"
    cur.execute('INSERT INTO signals."test/AAPL" VALUES (?, ?, ?, ?, ?, ?)', ["2024-03-29 13:32", 1, 1, 1, 1, 7])
    assert lib.read("test/AAPL").data.volume.iloc[-1] == 7
    with pytest.raises(arcticsql.ProgrammingError, match="VALUES gives 3 columns, the symbol has 6: ts, open"):
        cur.execute("INSERT INTO signals.\"test/AAPL\" VALUES ('2024-03-29 13:40', 1, 2)")


def test_insert_with_a_column_list_by_name_in_any_order(conn, bars):
    lib, _frame = bars
    cur = conn.cursor()
    cur.execute("INSERT INTO signals.\"test/AAPL\" (volume, close, ts, low, high, open) "
                "VALUES (9, 4.0, '2024-03-29 13:30', 3.0, 2.0, 1.0)")
    last = lib.read("test/AAPL").data.iloc[-1]
    assert (last.open, last.high, last.low, last.close, last.volume) == (1.0, 2.0, 3.0, 4.0, 9)
    cur.execute("INSERT INTO signals.\"test/AAPL\" (ts, volume, close) SELECT TIMESTAMP '2024-03-29 13:31', 1, 7.5")
    stored = lib.read("test/AAPL").data.iloc[-1]
    assert stored.close == 7.5 and pd.isna(stored.open)
    with pytest.raises(arcticsql.ProgrammingError, match="no value for volume"):
        cur.execute("INSERT INTO signals.\"test/AAPL\" (ts, close) VALUES ('2024-03-29 13:40', 1)")
    with pytest.raises(arcticsql.ProgrammingError, match="no column 'clse'; did you mean close"):
        cur.execute("INSERT INTO signals.\"test/AAPL\" (ts, clse) VALUES ('2024-03-29 13:40', 1)")


def test_insert_select_by_name_or_by_position(conn, bars):
    lib, frame = bars
    cur = conn.cursor()
    # the symbol's names in another order: by name
    cur.execute('INSERT INTO signals."test/AAPL" SELECT volume, ts + INTERVAL 1 HOUR AS ts, close, low, high, open '
                'FROM signals."test/AAPL" AT (VERSION => 0) WHERE ts < \'2024-03-29 13:02\'')
    stored = lib.read("test/AAPL").data
    pd.testing.assert_frame_equal(stored.iloc[-2:].reset_index(drop=True), frame.iloc[:2].reset_index(drop=True))
    # unnamed expressions: by position
    cur.execute('INSERT INTO signals."test/AAPL" SELECT ts + INTERVAL 2 HOUR, open * 2, high, low, close, volume '
                'FROM signals."test/AAPL" AT (VERSION => 0) WHERE ts < \'2024-03-29 13:01\'')
    assert lib.read("test/AAPL").data.open.iloc[-1] == pytest.approx(frame.open.iloc[0] * 2)
    with pytest.raises(arcticsql.ProgrammingError, match="neither by name nor by position"):
        cur.execute('INSERT INTO signals."test/AAPL" SELECT ts + INTERVAL 3 HOUR AS ts, high AS x, open, low, '
                    'close, volume FROM signals."test/AAPL" AT (VERSION => 0)')


def test_insert_into_a_new_symbol_needs_names(conn):
    cur = conn.cursor()
    with pytest.raises(arcticsql.ProgrammingError, match="VALUES has no column names"):
        cur.execute("INSERT INTO signals.new VALUES ('2024-01-01', 1)")
    cur.execute("INSERT INTO signals.new (ts, v) VALUES (TIMESTAMP '2024-01-01', 2)")
    stored = conn.catalog.library("signals").read("new").data
    assert stored.index.name == "ts" and stored.v.tolist() == [2]


def test_drop_and_delete_hold_the_symbols_write_lock():
    conn = arcticsql.connect(uri="mem://", config={"arcticdb": {"write_lock_timeout_s": 0.2}})
    lib = conn.catalog.library("signals", create=True)
    lib.write("locked", minute_bars(periods=10))
    ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        with symbol_lock("mem://", "signals", "locked", timeout=5, unlocked_writes=False):
            ready.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert ready.wait(30)
        cur = conn.cursor()
        for statement in ("DELETE FROM signals.locked WHERE ts < '2030-01-01'", "DROP TABLE signals.locked"):
            with pytest.raises(arcticsql.OperationalError, match="could not lock signals/locked"):
                cur.execute(statement)
        assert lib.has_symbol("locked") and len(lib.read("locked").data) == 10 and lib.read("locked").version == 0
    finally:
        release.set()
        holder.join(30)
        conn.close()


def test_a_dropped_symbol_still_reads_through_a_snapshot(conn):
    """DROP TABLE deletes the symbol; ArcticDB keeps the versions a snapshot holds, and so does arcticsql."""
    lib = conn.catalog.library("prices_daily", create=True)
    lib.write("SPY", pd.DataFrame({"x": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2, name="ts")))
    lib.snapshot("eod")
    cursor = conn.cursor()
    cursor.execute("DROP TABLE prices_daily.SPY")
    assert not lib.has_symbol("SPY")
    assert cursor.execute("SELECT sum(x) FROM prices_daily.SPY AT (SNAPSHOT => 'eod')").fetchone() == (3.0,)
    assert cursor.execute('SELECT symbol, sum(x) FROM "prices_daily/*" AT (SNAPSHOT => \'eod\') GROUP BY ALL'
                          ).fetchall() == [("SPY", 3.0)]


@pytest.mark.parametrize("statement, outcome", [
    ("CREATE TABLE signals.made AS SELECT 1 AS x", "already exists"),
    ("CREATE TABLE IF NOT EXISTS signals.made AS SELECT 1 AS x", "exists: nothing written"),
])
def test_create_table_checks_again_under_the_lock(conn, statement, outcome):
    """Another writer makes the symbol while the statement's query runs (after its first check): the check
    under the symbol's lock sees it, and the other writer's version stays the only one."""
    lib = conn.catalog.library("signals", create=True)
    parsed = parse_statement(statement)
    command = store_command(parsed, statement)

    def query_while_another_writes(query: str) -> pa.Table:
        lib.write("made", pd.DataFrame({"x": [7]}))
        return conn.session.query_arrow(conn.session.duck, query)

    try:
        result = run_store_command(command, catalog=conn.catalog, settings=conn.session.settings,
                                   run_query=query_while_another_writes)
        said = " ".join(result.notes)
    except arcticsql.ProgrammingError as error:
        said = str(error)
    assert outcome in said
    assert [v.version for v in lib.list_versions("made")] == [0] and lib.read("made").data.x.tolist() == [7]
