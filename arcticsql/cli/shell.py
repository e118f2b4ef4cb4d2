"""The shell: runs scripts of SQL statements and dot commands on one connection and writes their results.

One :class:`Shell` serves the interactive REPL, piped standard input, ``.read``, and the ``run`` and
``query`` commands; they differ only in where output goes and how errors are reported. Results go to the
*output* (standard output, or the ``.output`` file); status lines (``3 rows affected``, store messages,
timings of streamed results) go to the *status* stream, which is standard error when not interactive, so a
CSV or JSON result on standard output stays clean.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import IO

from arcticsql.cli import dot_commands
from arcticsql.cli.execution import (
    Cancelled,
    ProgressLine,
    count_rest,
    fetch_rows,
    iter_chunks,
    run_cancellable,
)
from arcticsql.cli.formatting import DATA_FORMATS, data_writer, footer, render, write_parquet
from arcticsql.cli.introspection import Rows
from arcticsql.cli.script import script_items
from arcticsql.errors import Error, translate

DEFAULT_MAX_ROWS = 1000


class ScriptError(Exception):
    """A statement or dot command failed; the message names where (file and line) when that helps."""


class Shell:
    """Runs input on a connection and writes results in the current format."""

    def __init__(self, connection, *, fmt: str = "table", max_rows: int = DEFAULT_MAX_ROWS,
                 interactive: bool = False, params: dict | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.format = fmt
        self.max_rows = max_rows
        self.timer = False
        self.interactive = interactive
        self.params = params or {}
        self._stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.out: IO[str] = self._stdout
        self.output_path: str | None = None
        self.status: IO[str] = self._stdout if interactive else self.stderr
        if interactive and self.stderr.isatty():
            self.cursor.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        self.on_change = None  # called after each statement (the REPL refreshes completions)
        self._progress: ProgressLine | None = None

    @property
    def catalog(self):
        return self.connection.catalog

    # -- scripts ----------------------------------------------------------------------------------------
    def run_script(self, text: str, source: str | None = None, *, show_line: bool = True) -> None:
        """Run every dot command and statement of ``text``; stop at the first failure with a
        :class:`ScriptError` naming ``source`` and the line (when ``show_line``)."""
        for item in script_items(text):
            try:
                if item.kind == "dot":
                    dot_commands.run(self, item.text)
                else:
                    self.run_sql(item.text)
            except (ScriptError, Cancelled, dot_commands.ExitShell):
                raise
            except (Error, dot_commands.UsageError) as error:
                raise ScriptError(_where(source, item.line, show_line) + str(error)) from None
            except OSError as error:
                raise ScriptError(_where(source, item.line, show_line) + _os_error(error)) from None
            except Exception as error:  # noqa: BLE001 - a bug still gets one line, not a traceback
                raise ScriptError(_where(source, item.line, show_line) + str(translate(error))) from None

    def run_file(self, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise dot_commands.UsageError(_os_error(error)) from None
        self.run_script(text, source=path)

    # -- one statement -------------------------------------------------------------------------------------
    def run_sql(self, sql: str) -> None:
        """Execute one statement and write its result; Ctrl-C raises :class:`Cancelled`."""
        start = time.perf_counter()
        params = self.params or None

        def work(cancel: threading.Event) -> None:
            self.cursor.execute(sql, params)
            self._write_result(cancel, start)

        self._progress = ProgressLine(self.stderr) if self.interactive and self.stderr.isatty() else None
        session = self.cursor.connection.session
        session.progress = self._progress.loading if self._progress is not None else None
        try:
            run_cancellable(self.cursor, work, self._progress)
        finally:
            session.progress = None
            self._progress = None
            if self.on_change is not None:
                self.on_change()

    def _begin_output(self) -> None:
        """Results are about to be written: the progress line goes away first."""
        if self._progress is not None:
            self._progress.stop()

    def _write_result(self, cancel: threading.Event, start: float) -> None:
        cursor = self.cursor
        if cursor.description is None:
            self._begin_output()
            self._status_line(self._outcome_text(cursor), start)
            return
        names = [str(d[0]) for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        if self.format == "parquet":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                count = write_parquet(cursor.fetch_record_batch(100_000), self.output_path)
            self._begin_output()
            self._status_line(f"wrote {count} row{'' if count == 1 else 's'} to {self.output_path}", start)
        elif self.format in DATA_FORMATS:
            self._begin_output()
            writer = data_writer(self.format, self.out, names)
            for chunk in iter_chunks(cursor, cancel):
                writer.write(chunk)
            writer.close()
            self.out.flush()
            if self.timer:
                self._status_line(None, start)
        else:
            rows = fetch_rows(cursor, self.max_rows, cancel)
            self._begin_output()
            self._write_rows(self.format, names, types, rows)
            # the rows are on screen; the count of the rest (a scan to the end) follows
            more = count_rest(cursor, cancel) if self.max_rows and len(rows) == self.max_rows else 0
            elapsed = time.perf_counter() - start if self.timer else None
            self._write_line(footer(len(rows), len(rows) + more, elapsed))

    def _outcome_text(self, cursor) -> str | None:
        if cursor.message:
            return cursor.message
        if cursor.rowcount >= 0:
            return f"{cursor.rowcount} row{'' if cursor.rowcount == 1 else 's'} affected"
        return "OK" if self.interactive else None

    def _status_line(self, text: str | None, start: float) -> None:
        if self.timer:
            elapsed = f"({time.perf_counter() - start:.3f} s)"
            text = f"{text} {elapsed}" if text else f"Run time: {elapsed[1:-1]}"
        if text:
            self.status.write(text + "\n")
            self.status.flush()

    def _write_rows(self, fmt: str, names, types, rows, *, show_types: bool = True) -> None:
        """Rows in a display format (fitted to the terminal's width when writing to one)."""
        width = shutil.get_terminal_size().columns if _isatty(self.out) else None
        unicode = "utf" in (getattr(self.out, "encoding", None) or "utf-8").lower()
        text = render(fmt, names, types, rows, max_width=width, unicode=unicode, show_types=show_types)
        if text:
            self._write_line(text)

    def _write_line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- results built outside SQL (dot commands, ls, describe) -----------------------------------------
    def emit_rows(self, result: Rows) -> None:
        """Write rows made by a dot command in the current format (as a table when that is parquet); their
        column types are not shown."""
        if self.format in DATA_FORMATS:
            writer = data_writer(self.format, self.out, result.names)
            writer.write(result.rows)
            writer.close()
            self.out.flush()
            return
        fmt = "table" if self.format == "parquet" else self.format
        self._write_rows(fmt, result.names, result.types, result.rows, show_types=False)
        self._write_line(result.note or footer(len(result.rows), len(result.rows)))

    def say(self, text: str) -> None:
        """A status line (command feedback)."""
        self.status.write(text + "\n")
        self.status.flush()

    # -- output --------------------------------------------------------------------------------------------
    def set_output(self, path: str | None) -> None:
        """Send results to ``path`` (created or truncated), or back to standard output when None.

        In parquet format the path is only remembered: each result is written there as a Parquet file.
        """
        if self.out is not self._stdout:
            self.out.close()
        self.out, self.output_path = self._stdout, None
        if path and self.format == "parquet":
            self.output_path = path
        elif path:
            self.out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed on the next switch
            self.output_path = path

    def close(self) -> None:
        self.set_output(None)
        self.cursor.close()


def _where(source: str | None, line: int, show_line: bool) -> str:
    if source:
        return f"{source} line {line}: "
    return f"line {line}: " if show_line else ""


def _os_error(error: OSError) -> str:
    return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

