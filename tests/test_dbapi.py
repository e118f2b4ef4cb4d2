"""PEP 249 surface of arcticsql.connect()."""

from __future__ import annotations

import threading
import time
import warnings

import pandas as pd
import pyarrow as pa
import pytest

import arcticsql


def test_module_globals():
    assert arcticsql.apilevel == "2.0"
    assert arcticsql.threadsafety == 1
    assert arcticsql.paramstyle == "qmark"
    for name in ["Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
                 "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError"]:
        assert issubclass(getattr(arcticsql, name), Exception)
    assert issubclass(arcticsql.ProgrammingError, arcticsql.DatabaseError)
    assert issubclass(arcticsql.DatabaseError, arcticsql.Error)
    assert issubclass(arcticsql.InterfaceError, arcticsql.Error)


def test_cursor_fetch_methods(conn, prices):
    cur = conn.cursor()
    cur.execute("SELECT ts, close FROM prices_1min.AAPL ORDER BY ts LIMIT 10")
    assert cur.description[0][0] == "ts" and cur.description[0][1] == arcticsql.DATETIME
    assert cur.description[1][1] == arcticsql.NUMBER
    assert cur.rowcount == -1
    first = cur.fetchone()
    assert first[1] == pytest.approx(prices["AAPL"].close.iloc[0])
    assert len(cur.fetchmany(3)) == 3
    cur.arraysize = 2
    assert len(cur.fetchmany()) == 2
    assert len(cur.fetchall()) == 4
    assert cur.fetchone() is None
    assert [row[1] for row in cur.execute("SELECT ts, close FROM prices_1min.AAPL LIMIT 3")] == pytest.approx(
        list(prices["AAPL"].close.iloc[:3]))


def test_arrow_and_pandas_results(conn, prices):
    cur = conn.cursor()
    table = cur.execute("SELECT * FROM prices_1min.AAPL").fetch_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == len(prices["AAPL"])
    df = cur.execute("SELECT * FROM prices_1min.AAPL").fetch_df()
    pd.testing.assert_frame_equal(df.set_index("ts"), prices["AAPL"], check_dtype=False, check_freq=False,
                                  check_index_type=False)
    reader = cur.execute("SELECT * FROM prices_1min.AAPL").fetch_record_batch(500)
    assert sum(batch.num_rows for batch in reader) == len(prices["AAPL"])


def test_parameters_positional_and_named(conn, prices):
    cur = conn.cursor()
    n = cur.execute("SELECT count(*) FROM prices_1min.AAPL WHERE volume > ?", [5000]).fetchone()[0]
    m = cur.execute("SELECT count(*) FROM prices_1min.AAPL WHERE volume > $v", {"v": 5000}).fetchone()[0]
    k = cur.execute("SELECT count(*) FROM prices_1min.AAPL WHERE volume > $1", [5000]).fetchone()[0]
    assert n == m == k == int((prices["AAPL"].volume > 5000).sum())


def test_executemany_and_rowcount(conn):
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    assert cur.description is None
    cur.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x"), (2, "y"), (3, "z")])
    assert cur.rowcount == 3
    cur.execute("UPDATE t SET b = 'w' WHERE a >= 2")
    assert cur.rowcount == 2
    assert cur.execute("SELECT count(*) FROM t WHERE b = 'w'").fetchone()[0] == 2


def test_fetch_without_result_is_an_error(conn):
    cur = conn.cursor()
    with pytest.raises(arcticsql.ProgrammingError):
        cur.fetchall()
    cur.execute("CREATE TABLE z (a INTEGER)")
    with pytest.raises(arcticsql.ProgrammingError):
        cur.fetchone()


def test_close_semantics(conn):
    cur = conn.cursor()
    cur.close()
    with pytest.raises(arcticsql.InterfaceError):
        cur.execute("SELECT 1")
    other = conn.cursor()
    conn.close()
    with pytest.raises(arcticsql.InterfaceError):
        other.execute("SELECT 1")
    with pytest.raises(arcticsql.InterfaceError):
        conn.cursor()
    conn.close()  # idempotent


def test_context_managers_commit_and_rollback():
    with arcticsql.connect(uri="mem://", config={}) as connection:
        with connection.cursor() as cur:
            cur.execute("CREATE TABLE t (a INTEGER)")
            cur.execute("BEGIN TRANSACTION")
            cur.execute("INSERT INTO t VALUES (1)")
            connection.rollback()
            assert cur.execute("SELECT count(*) FROM t").fetchone()[0] == 0
            cur.execute("BEGIN TRANSACTION")
            cur.execute("INSERT INTO t VALUES (2)")
            connection.commit()
            assert cur.execute("SELECT count(*) FROM t").fetchone()[0] == 1
        connection.commit()  # nothing pending: fine
    assert connection.closed


def test_tables_are_shared_between_cursors(conn, prices):
    a, b = conn.cursor(), conn.cursor()
    a.execute("CREATE TABLE shared AS SELECT * FROM prices_1min.AAPL LIMIT 7")
    assert b.execute("SELECT count(*) FROM shared").fetchone()[0] == 7
    a.execute("SELECT * FROM prices_1min.AAPL")
    a.fetchone()  # a half-read result on one cursor does not block the other
    assert b.execute("SELECT count(*) FROM prices_1min.MSFT").fetchone()[0] == len(prices["MSFT"])
    assert a.execute("SELECT count(*) FROM prices_1min.MSFT").fetchone()[0] == len(prices["MSFT"])


def test_pandas_read_sql(conn, prices):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas: "only SQLAlchemy ... tested"
        df = pd.read_sql("SELECT ts, close FROM prices_1min.AAPL WHERE volume > 5000", conn)
    expected = prices["AAPL"][prices["AAPL"].volume > 5000]
    assert len(df) == len(expected)
    assert df.close.sum() == pytest.approx(expected.close.sum())


def test_interrupt_cancels_a_running_query_and_keeps_the_cursor(conn):
    cur = conn.cursor()
    errors = []

    def run():
        try:
            cur.execute("SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3").fetchall()
        except arcticsql.Error as error:
            errors.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.5)
    cur.interrupt()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors and isinstance(errors[0], arcticsql.OperationalError)
    assert cur.execute("SELECT 42").fetchone() == (42,)


def test_errors_are_dbapi_errors_with_one_line_and_the_caret_on_its_own(conn):
    cur = conn.cursor()
    for bad in ["SELECT * FROM nowhere", "SELECT 1 +", "SELECT * FROM prices_1min.NOPE", "SELECT 'a'::INTEGER"]:
        with pytest.raises(arcticsql.Error) as caught:
            cur.execute(bad).fetchall()
        message, *context = str(caught.value).split("\n")
        assert "LINE" not in message and "^" not in message
        assert context == [] or (len(context) == 2 and context[0] == f"LINE 1: {bad}"
                                 and set(context[1][len("LINE 1: "):].strip()) == {"^"})


def test_type_objects_compare_with_type_names():
    assert arcticsql.STRING == "VARCHAR"
    assert arcticsql.NUMBER == "DECIMAL(10,2)"
    assert arcticsql.DATETIME == "TIMESTAMP WITH TIME ZONE"
    assert arcticsql.BINARY != "VARCHAR"


def test_views_over_arcticdb_tables_work_on_every_cursor(conn, prices):
    a = conn.cursor()
    a.execute("CREATE VIEW busy AS SELECT * FROM prices_1min.AAPL WHERE volume > 5000")
    expected = int((prices["AAPL"].volume > 5000).sum())
    b = conn.cursor()  # made after the view
    assert b.execute("SELECT count(*) FROM busy").fetchone()[0] == expected
    a.close()
    assert conn.cursor().execute("SELECT count(*) FROM busy").fetchone()[0] == expected


def test_closing_cursors_releases_their_registrations(conn, prices):
    for _ in range(5):
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM prices_1min.AAPL").fetchall()
        cursor.close()
    assert len(conn.session._registries) == 0


def test_exceptions_are_attributes_of_the_connection(conn):
    """PEP 249's optional extension, so code that holds only a connection can catch its errors."""
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
                 "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError"):
        assert getattr(conn, name) is getattr(arcticsql, name)
    with pytest.raises(conn.ProgrammingError):
        conn.cursor().execute("SELEC 1")
