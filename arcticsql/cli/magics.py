r"""IPython magics: ``%load_ext arcticsql``, then SQL in notebook cells returning pandas DataFrames.

    %sql_connect lmdb://./data/arctic_storage       # optional: default is the config (or $ARCTICSQL_URI)
    %sql SELECT count(*) FROM prices_1min.AAPL
    %%sql bars                                      # the DataFrame is also stored in the variable `bars`
    SELECT * FROM prices_1min.AAPL WHERE close > $threshold
    %sql SELECT * FROM "prices_1min/{sym}" WHERE ts >= '{day}'

Two ways to use Python variables, as jupysql users expect:

- ``$name`` is a bound parameter taking the value of the variable ``name``: a value (number, string,
  timestamp), never SQL, so it is safe with any content. Use it for values.
- ``{name}`` (or jupysql's ``{{name}}``, and ``{obj.attr}``) is replaced by the variable's text before the
  statement runs: it can build names (``"prices_1min/{sym}"``) and any SQL, so only template what you
  trust. Braces around anything else (``{'a': 1}``, ``'{"model": "v2"}'``, ``x{2}``) stay as written; a
  backslash keeps a template literal (``\{name}`` is ``{name}``); a name the notebook does not have is an
  error naming it.

A statement with rows returns a DataFrame (displayed by the notebook); one without (DDL, writes) returns None
and prints its outcome; an error prints its message (with the statement line and a caret for a DuckDB
error), never a traceback; interrupting the kernel cancels the running query. IPython is an optional
dependency (the ``notebook`` extra).
"""

from __future__ import annotations

import re
import sys

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand

from arcticsql.cli.execution import Cancelled, run_cancellable
from arcticsql.dbapi import Connection, connect
from arcticsql.errors import Error
from arcticsql.sql.tokens import split_statements


@magics_class
class SqlMagics(Magics):
    """``%sql``, ``%%sql`` and ``%sql_connect`` on one arcticsql connection per IPython session."""

    def __init__(self, shell) -> None:
        super().__init__(shell)
        self.connection: Connection | None = None
        self._cursor = None

    @line_magic
    def sql_connect(self, line: str):
        """%sql_connect [URI]: connect to an ArcticDB store (no URI: the config file's store)."""
        uri = line.strip() or None
        try:
            connection = connect(uri)
        except Error as error:
            print(f"Error: {error}", file=sys.stderr)
            return
        self.close()
        self.connection = connection
        print(f"Connected to {connection.session.settings.arctic_uri}")

    @no_var_expand
    @line_cell_magic
    def sql(self, line: str, cell: str | None = None):
        """%sql STATEMENT, or %%sql [NAME] with statements in the cell: the last result as a DataFrame."""
        text, target = (line, None) if cell is None else (cell, line.strip() or None)
        if not text.strip():
            print("Usage: %sql STATEMENT   or   %%sql [NAME] followed by statements", file=sys.stderr)
            return None
        try:
            frame = self._run(text)
        except Error as error:
            print(f"Error: {error}", file=sys.stderr)
            return None
        except Cancelled:
            print("Query cancelled", file=sys.stderr)
            return None
        if target and frame is not None:
            self.shell.user_ns[target] = frame
        return frame

    def _run(self, text: str):
        cursor = self._ensure_cursor()
        namespace = self.shell.user_ns
        text = expand_templates(text, namespace)
        names = {name for statement in split_statements(text) for name in statement.named}
        params = {name: namespace[name] for name in names if name in namespace} or None

        def work(cancel):
            cursor.execute(text, params)
            return cursor.fetch_df() if cursor.description is not None else None

        frame = run_cancellable(cursor, work)
        if frame is None:
            if cursor.message:
                print(cursor.message)
            elif cursor.rowcount >= 0:
                print(f"{cursor.rowcount} row{'' if cursor.rowcount == 1 else 's'} affected")
        return frame

    def _ensure_cursor(self):
        if self.connection is None or self.connection.closed:
            self.connection = connect()
            self._cursor = None
        if self._cursor is None:
            self._cursor = self.connection.cursor()
        return self._cursor

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection, self._cursor = None, None


#: ``{name}``, ``{{ name }}`` (jupysql) and ``{obj.attr}``; ``\{`` escapes.
_TEMPLATE = re.compile(r"\\\{|\{\{\s*(?P<jinja>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}"
                       r"|\{(?P<plain>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")


def expand_templates(text: str, namespace: dict) -> str:
    r"""``text`` with each ``{name}`` / ``{{name}}`` replaced by the text of the variable ``name`` of
    ``namespace`` (attributes with dots); ``\{`` is a literal brace; other braces stay as written.

    >>> expand_templates('''SELECT * FROM "prices_1min/{sym}" WHERE ts >= '{{ day }}' AND s = {'a': 1}''',
    ...                  {"sym": "AAPL", "day": "2024-01-02"})
    'SELECT * FROM "prices_1min/AAPL" WHERE ts >= \'2024-01-02\' AND s = {\'a\': 1}'
    >>> expand_templates("SELECT '\\{sym}'", {})
    "SELECT '{sym}'"
    """
    def replace(match: re.Match) -> str:
        path = match.group("jinja") or match.group("plain")
        if path is None:
            return "{"
        first, *attributes = path.split(".")
        if first not in namespace:
            raise Error(f"{match.group(0)}: the notebook has no variable {first!r} (write \\{match.group(0)} "
                        "for the braces themselves; use $name for a value as a bound parameter)")
        value = namespace[first]
        try:
            for attribute in attributes:
                value = getattr(value, attribute)
        except AttributeError as error:
            raise Error(f"{match.group(0)}: {error}") from None
        return str(value)

    return _TEMPLATE.sub(replace, text)


def load_ipython_extension(ipython) -> None:
    """Register the magics (``%load_ext arcticsql``)."""
    ipython.register_magics(SqlMagics)
