"""The shell: runs scripts of SQL statements and dot commands on one connection and writes their results.

One :class:`Shell` serves the interactive REPL, piped standard input, ``.read``, and the ``run`` and
``query`` commands; they differ only in where output goes and how errors are reported. Results go to the
*output* (standard output, or the ``.output`` file); status lines (``3 rows affected``, store messages,
timings of streamed results) go to the *status* stream, which is standard error when not interactive, so a
CSV or JSON result on standard output stays clean.

On a terminal a result is a view that fits it, as in the duckdb CLI: the first and last rows
(:attr:`Shell.max_rows` in all, 40 by default), the columns that fit (whole values; a ``…`` column for the
others), a footer counting both, a pager for anything taller than the screen, and ``.last`` for the whole
result. Anywhere else (a pipe, a file) the output is complete and untrimmed, with no footer.

With :attr:`Shell.one_document` (``query`` and ``run`` in csv, json or parquet), the output is one valid
document: only the script's last statement writes its result; earlier results are dropped with a note.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa

from arcticsql.cli import dot_commands
from arcticsql.cli.execution import Cancelled, Collected, ProgressLine, collect, iter_chunks, run_cancellable
from arcticsql.cli.formatting import (
    DATA_FORMATS,
    data_writer,
    display_writer,
    footer,
    in_columns,
    render_shown,
    text_width,
    write_parquet,
)
from arcticsql.cli.introspection import Rows
from arcticsql.cli.pager import page, pager_command
from arcticsql.cli.script import script_items
from arcticsql.engine.explain import describe_reads
from arcticsql.errors import Error, translate

#: Rows a terminal shows of a result (the first half and the last half), as the duckdb CLI does.
DEFAULT_MAX_ROWS = 40


class ScriptError(Exception):
    """A statement or dot command failed; the message names where (file and line) when that helps."""


@dataclass
class Shown:
    """A result ready to be shown: what was collected of it, and the footer's extras."""

    names: list[str]
    types: list[str]
    rows: Collected
    elapsed: float | None = None
    show_types: bool = True
    note: str | None = None


class Shell:
    """Runs input on a connection and writes results in the current format."""

    def __init__(self, connection, *, fmt: str = "table", max_rows: int | None = None,
                 interactive: bool = False, params: dict | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.format = fmt
        #: Rows shown of a result in display formats (0: all); None: 40 on a terminal, all elsewhere.
        self.max_rows = max_rows
        self.timer = False
        #: After each statement, say what it read from ArcticDB (``.explain on``).
        self.explain = False
        self.interactive = interactive
        self.params = params or {}
        #: ``.pager``: page results taller than the screen (on a terminal), with this command or $PAGER.
        self.pager = True
        self.pager_command: str | None = None
        #: Write only the last statement's result (one csv/json/parquet document).
        self.one_document = False
        #: The last result shown on a terminal, for ``.last``.
        self.last: Shown | None = None
        self._stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.out: IO[str] = self._stdout
        self.output_path: str | None = None
        self.status: IO[str] = self._stdout if interactive else self.stderr
        if interactive and self.stderr.isatty():
            self.cursor.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        self.on_change = None  # called after each statement (the REPL refreshes completions)
        self._progress: ProgressLine | None = None
        self._final = True  # whether the script being run ends the input (one_document)
        self._converter: duckdb.DuckDBPyConnection | None = None

    @property
    def catalog(self):
        return self.connection.catalog

    # -- scripts ----------------------------------------------------------------------------------------
    def run_script(self, text: str, source: str | None = None, *, show_line: bool = True,
                   final: bool | None = None) -> None:
        """Run every dot command and statement of ``text``; stop at the first failure with a
        :class:`ScriptError` naming ``source`` and the line (when ``show_line``). ``final``: whether this
        script ends the input (its last statement writes the one document); default: as the script
        that ran it."""
        final = self._final if final is None else final
        items = list(script_items(text))
        ends = [i for i, item in enumerate(items) if item.kind == "sql" or _is_read(item.text)]
        last = ends[-1] if ends else -1
        for position, item in enumerate(items):
            outer, self._final = self._final, final and position == last
            try:
                if item.kind == "dot":
                    dot_commands.run(self, item.text)
                elif self.run_sql(item.text, write=not self.one_document or self._final) is False:
                    self.say(f"{_where(source, item.line, True)}result not written: with --format "
                             f"{self.format} only the last statement writes its result (one document)")
            except (ScriptError, Cancelled, dot_commands.ExitShell, BrokenPipeError):
                raise
            except (Error, dot_commands.UsageError) as error:
                raise ScriptError(_where(source, item.line, show_line) + str(error)) from None
            except OSError as error:
                raise ScriptError(_where(source, item.line, show_line) + _os_error(error)) from None
            except Exception as error:  # noqa: BLE001 - a bug still gets one line, not a traceback
                raise ScriptError(_where(source, item.line, show_line) + str(translate(error))) from None
            finally:
                self._final = outer

    def run_file(self, path: str) -> None:
        """Run a SQL file (``-``: standard input)."""
        if path == "-":
            self.run_script(sys.stdin.read())
            return
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise dot_commands.UsageError(_os_error(error)) from None
        self.run_script(text, source=path)

    # -- one statement -------------------------------------------------------------------------------------
    def run_sql(self, sql: str, *, write: bool = True) -> bool | None:
        """Execute one statement and write its result (unless not ``write``); Ctrl-C raises
        :class:`Cancelled`. False when a result was left unwritten."""
        start = time.perf_counter()
        params = self.params or None

        def work(cancel: threading.Event):
            self.cursor.execute(sql, params)
            if not write and self.cursor.description is not None:
                return False
            return self._take_result(cancel, start)

        self._progress = ProgressLine(self.stderr) if self.interactive and self.stderr.isatty() else None
        session = self.cursor.connection.session
        session.progress = self._progress.loading if self._progress is not None else None
        mark = session.read_log.mark()
        try:
            outcome = run_cancellable(self.cursor, work, self._progress)
            if self.explain:
                self.say(describe_reads(session, session.read_log.since(mark)))
        finally:
            session.progress = None
            self._progress = None
            if self.on_change is not None:
                self.on_change()
        if isinstance(outcome, Shown):
            self.last = outcome
            self._show(outcome)
            return None
        return outcome

    def _begin_output(self) -> None:
        """Results are about to be written: the progress line goes away first."""
        if self._progress is not None:
            self._progress.stop()

    def _take_result(self, cancel: threading.Event, start: float) -> Shown | None:
        """Write the result of the statement just run, or (for a terminal) collect what to show of it."""
        cursor = self.cursor
        if cursor.description is None:
            self._begin_output()
            self._status_line(self._outcome_text(cursor), start)
            return None
        for note in getattr(cursor, "notes", ()):  # a write's notes go beside its result, on standard error
            self.status.write(f"note: {note}\n")
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
        elif self._to_terminal() or self._row_limit():
            rows = collect(cursor, self._row_limit(), cancel, self._python_rows)
            elapsed = time.perf_counter() - start if self.timer else None
            return Shown(names, types, rows, elapsed)
        else:  # complete and untrimmed, written as the rows arrive
            self._begin_output()
            writer = display_writer(self.format, self.out, names, types, unicode=self._unicode())
            count = 0
            for chunk in iter_chunks(cursor, cancel):
                writer.write(chunk)
                count += len(chunk)
            writer.close()
            self.out.flush()
            if self._for_people():
                elapsed = time.perf_counter() - start if self.timer else None
                self._write_line(footer(count, elapsed=elapsed))
            elif self.timer:
                self._status_line(None, start)
        return None

    def _show(self, shown: Shown, *, full: bool = False) -> None:
        """Write (or page) a collected result: fitted to the terminal, or (``full``) every row and column."""
        rows = shown.rows
        terminal = self._to_terminal()
        head = rows.head if not full else self._all_rows(rows)
        tail = None if full else rows.tail
        width = shutil.get_terminal_size().columns if terminal and not full else None
        text, shown_columns = render_shown(self.format, shown.names, shown.types, head, tail=tail,
                                           max_width=width if self.format == "table" else None,
                                           unicode=self._unicode(), show_types=shown.show_types)
        count = len(head) + (len(tail) if tail else 0)
        counted = footer(rows.total, count, columns=len(shown.names), shown_columns=shown_columns,
                         elapsed=shown.elapsed)
        people = self._for_people()
        if not people and count < rows.total:
            self.say(counted)  # a file or pipe gets the rows; the person running this learns some were left out
        elif not people and shown.elapsed is not None:
            self.say(f"Run time: {shown.elapsed:.3f} s")
        lines = text.splitlines() if text else []
        if shown.note is not None:
            lines.append(shown.note)  # what describe says of a table: part of the answer
        elif people:
            lines.append(counted)
        if not lines:
            return
        paging = terminal and self.pager and os.environ.get("TERM", "") != "dumb"
        command = pager_command(self.pager_command) if paging else None
        screen = shutil.get_terminal_size()
        too_big = len(lines) > screen.lines - 1 or (full and max(map(text_width, lines)) > screen.columns)
        if command and too_big:
            page("\n".join(lines) + "\n", command, getattr(self.out, "encoding", None) or "utf-8")
        else:
            self._write_line("\n".join(lines))

    def show_last(self) -> None:
        """``.last``: the last result shown, in full (every row and column), paged on a terminal."""
        if self.last is None:
            raise dot_commands.UsageError("no result yet: .last shows the last result of a query in full")
        if not self.last.rows.complete:
            raise dot_commands.UsageError(
                f"the last result has {self.last.rows.total:,} rows, more than .last keeps: run it again "
                "with .maxrows 0 (and .output FILE), or narrow it with LIMIT or WHERE")
        self._show(self.last, full=True)

    def _all_rows(self, rows: Collected) -> list[tuple]:
        if rows.tail is None:
            return rows.head
        return rows.head + rows.more + (self._python_rows(rows.rest) if rows.rest is not None else [])

    def _python_rows(self, table: pa.Table) -> list[tuple]:
        """Arrow rows as the Python rows the cursor gives (DuckDB converts them; times in the session's
        zone)."""
        if self._converter is None:
            self._converter = duckdb.connect()
        if any(pa.types.is_timestamp(f.type) and f.type.tz for f in table.schema):
            zone = self.cursor.execute("SELECT current_setting('TimeZone')").fetchone()[0]
            self._converter.execute("SET TimeZone = ?", [zone])
        return self._converter.from_arrow(table).fetchall()

    def _row_limit(self) -> int:
        if self.max_rows is not None:
            return self.max_rows
        return DEFAULT_MAX_ROWS if self._to_terminal() else 0

    def _to_terminal(self) -> bool:
        return _isatty(self.out)

    def _for_people(self) -> bool:
        """Whether the output is read by a person (a terminal, or the interactive shell's own output), so
        it gets footers; files and pipes get the rows alone."""
        return self.out is self._stdout and (self.interactive or _isatty(self.out))

    def _unicode(self) -> bool:
        return "utf" in (getattr(self.out, "encoding", None) or "utf-8").lower()

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
        fmt, self.format = self.format, "table" if self.format == "parquet" else self.format
        try:
            rows = Collected(list(result.rows), None, len(result.rows))
            self._show(Shown(result.names, result.types, rows, show_types=False, note=result.note))
        finally:
            self.format = fmt

    def emit_names(self, names: list[str]) -> None:
        """Names (``.tables``): in columns across a terminal, one per line elsewhere."""
        if not names:
            return
        width = shutil.get_terminal_size().columns if self._to_terminal() else 0
        self._write_line(in_columns(names, width) if width else "\n".join(names))

    def emit_text(self, text: str) -> None:
        """A line of text as it is (``.schema``)."""
        self._write_line(text)

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
        try:
            self.set_output(None)
        finally:
            self.cursor.close()
            if self._converter is not None:
                self._converter.close()


def _is_read(line: str) -> bool:
    return line.split(maxsplit=1)[0].lower() == ".read"


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


def quiet_broken_pipe() -> None:
    """Standard output's reader went away (``| head``): point it at /dev/null so that flushing it at exit
    raises nothing more (the rest of the output has nowhere to go)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
