"""Dot commands: one-line shell commands such as ``.mode csv`` or ``.describe prices_1min.AAPL``.

Each command is a function of the shell and the rest of its line, registered with :func:`command`.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from arcticsql.cli import introspection
from arcticsql.cli.formatting import FORMATS


class UsageError(Exception):
    """A dot command was misused (unknown command, bad argument, unreadable file)."""


class ExitShell(Exception):
    """``.quit``: leave the REPL, or stop a script."""


@dataclass(frozen=True)
class DotCommand:
    name: str
    usage: str
    summary: str
    handler: Callable[[object, str], None]
    choices: tuple[str, ...] = ()   # fixed argument values, offered by completion
    argument: str | None = None     # "table", "library" or "path": what completion offers


COMMANDS: dict[str, DotCommand] = {}


def command(name: str, usage: str, summary: str, *, choices: tuple[str, ...] = (),
            argument: str | None = None, aliases: tuple[str, ...] = ()):
    """Register the decorated function as ``.name`` (and its aliases)."""
    def register(handler: Callable[[object, str], None]) -> Callable[[object, str], None]:
        for each in (name, *aliases):
            COMMANDS[each] = DotCommand(each, usage, summary, handler, choices, argument)
        return handler

    return register


def run(shell, line: str) -> None:
    """Run one dot command line (``.name args``)."""
    name, _, args = line.strip()[1:].partition(" ")
    found = COMMANDS.get(name.lower())
    if found is None:
        raise UsageError(f"unknown command .{name}; enter .help for the list")
    found.handler(shell, args.strip())


# -- the commands -------------------------------------------------------------------------------------------
@command("help", ".help", "Show this help")
def _help(shell, args: str) -> None:
    width = min(100, shutil.get_terminal_size().columns - 1)
    seen, lines = set(), []
    for entry in COMMANDS.values():
        if entry.handler in seen:
            continue
        seen.add(entry.handler)
        lines.extend(textwrap.wrap(entry.summary, width, initial_indent=f"  {entry.usage:<34} ",
                                   subsequent_indent=" " * 37) or [f"  {entry.usage}"])
    prose = (
        "Statements end with ';' and may span lines. Tables: prices_1min.AAPL, \"prices_1min/AAPL\", "
        "signals.\"momentum/SP500\", \"prices_*/AAPL\"; past versions: prices_1min.AAPL AT (VERSION => 3), "
        "AT (SNAPSHOT => 'name'), AT (TIMESTAMP => '2024-06-01 12:00'). Pickle datasets: "
        "read_pickle('index/*/gbm/*.pkl'), listed with pickle_files('index/**/*.pkl').",
        "A result shows its first and last rows and the columns that fit (.maxrows, .last for all of it); "
        "one taller than the screen opens in the pager (.pager). Statements change ArcticDB tables too: "
        "INSERT, CREATE TABLE ... AS, DELETE ... WHERE <index range>, DROP TABLE, COPY ... TO 'arctic://...'.",
        "Tab completes keywords, libraries, symbols and columns; Ctrl-C cancels a running query or clears "
        "the line; Ctrl-D quits.",
    )
    shell.say("\n".join([*(line for paragraph in prose for line in textwrap.wrap(paragraph, width)), "", *lines]))


@command("libraries", ".libraries", "List the ArcticDB libraries")
def _libraries(shell, args: str) -> None:
    shell.emit_rows(introspection.libraries(shell.catalog))


@command("symbols", ".symbols [LIBRARY] [PATTERN]", "List symbols (of every library, or one; glob)",
         argument="library")
def _symbols(shell, args: str) -> None:
    parts = args.split()
    if len(parts) > 2:
        raise UsageError("usage: .symbols [LIBRARY] [PATTERN]")
    shell.emit_rows(introspection.symbols(shell.catalog, *parts))


@command("tables", ".tables [LIBRARY|PATTERN]", "List tables: ArcticDB symbols as SQL names, then DuckDB's",
         argument="library")
def _tables(shell, args: str) -> None:
    names = introspection.table_names(shell.cursor, shell.catalog, args.rstrip(";").strip() or None)
    shell.emit_names(names)


@command("schema", ".schema [TABLE|LIBRARY|PATTERN]", "CREATE TABLE lines with the columns of tables",
         argument="table")
def _schema(shell, args: str) -> None:
    for line in introspection.schema_statements(shell.cursor, shell.catalog, args.rstrip(";").strip() or None):
        shell.emit_text(line)


@command("pickles", ".pickles [GLOB]", "List pickle files with their attrs (default: all, **/*.pkl)")
def _pickles(shell, args: str) -> None:
    glob = args.rstrip(";").strip() or "**/*.pkl"
    if glob[:1] == glob[-1:] and glob[:1] in ("'", '"') and len(glob) > 1:
        glob = glob[1:-1]
    quoted = "'" + glob.replace("'", "''") + "'"
    shell.run_sql(f"SELECT file, rows, created_at, model_params, error FROM pickle_files({quoted}) ORDER BY file")


@command("describe", ".describe TABLE", "Columns and types, index and row count of a table",
         argument="table")
def _describe(shell, args: str) -> None:
    if not args:
        raise UsageError("usage: .describe TABLE   (e.g. .describe prices_1min.AAPL)")
    shell.emit_rows(introspection.describe(shell.cursor, shell.catalog, args.rstrip(";")))


@command("versions", ".versions TABLE", "Versions of a symbol, with dates and snapshots", argument="table")
def _versions(shell, args: str) -> None:
    if not args:
        raise UsageError("usage: .versions TABLE   (e.g. .versions prices_1min.AAPL)")
    shell.emit_rows(introspection.versions(shell.catalog, args.rstrip(";")))


@command("mode", ".mode table|csv|json|markdown|line", "Set the output format", choices=FORMATS)
def _mode(shell, args: str) -> None:
    if not args:
        shell.say(f"mode: {shell.format}")
        return
    if args not in FORMATS:
        raise UsageError(f"unknown mode {args!r}; choose one of {', '.join(FORMATS)}")
    shell.format = args


@command("output", ".output [FILE]", "Write results to FILE, or back to the screen", argument="path")
def _output(shell, args: str) -> None:
    shell.set_output(args or None)


@command("read", ".read FILE", "Run the statements of a SQL file", argument="path")
def _read(shell, args: str) -> None:
    if not args:
        raise UsageError("usage: .read FILE")
    shell.run_file(args)


@command("timer", ".timer on|off", "Show how long each statement takes", choices=("on", "off"))
def _timer(shell, args: str) -> None:
    if args not in ("on", "off"):
        raise UsageError("usage: .timer on|off")
    shell.timer = args == "on"


@command("explain", ".explain on|off", "After each statement, show what it read from ArcticDB", choices=("on", "off"))
def _explain(shell, args: str) -> None:
    if args not in ("on", "off"):
        raise UsageError(f"usage: .explain on|off   (now {'on' if shell.explain else 'off'})")
    shell.explain = args == "on"


@command("maxrows", ".maxrows N", "Rows shown of a result, first and last (default 40; 0: all)")
def _maxrows(shell, args: str) -> None:
    if not args.isdigit():
        now = "40 on a terminal, all elsewhere" if shell.max_rows is None else shell.max_rows
        raise UsageError(f"usage: .maxrows N   (now {now})")
    shell.max_rows = int(args)


@command("last", ".last", "Show the last result in full: every row and column (paged)")
def _last(shell, args: str) -> None:
    shell.show_last()


@command("pager", ".pager on|off|COMMAND", "Page results taller than the screen (default on: $PAGER, less)",
         choices=("on", "off"))
def _pager(shell, args: str) -> None:
    if not args:
        shell.say(f"pager: {'on' if shell.pager else 'off'} ({shell.pager_command or 'default: $PAGER or less'})")
    elif args in ("on", "off"):
        shell.pager = args == "on"
    else:
        shell.pager, shell.pager_command = True, args


@command("cache", ".cache [clear]", "Cached ArcticDB data: size, hit rate, largest entries (clear: empty it)",
         choices=("clear",))
def _cache(shell, args: str) -> None:
    cache = shell.cursor.connection.session.scan_cache
    if args == "clear":
        cache.clear()
        shell.say("the cache is empty")
    elif args:
        raise UsageError("usage: .cache [clear]")
    else:
        shell.emit_rows(introspection.Rows(*cache.report()))


@command("quit", ".quit", "Leave arcticsql (or Ctrl-D)", aliases=("exit",))
def _quit(shell, args: str) -> None:
    raise ExitShell()
