"""The ``arcticsql`` command: an interactive SQL shell, and commands to run, query, list and describe.

    arcticsql                                  the REPL (or run standard input when it is not a terminal)
    arcticsql run report.sql --param day=2024-01-02 --format csv
    arcticsql run --engine spark --spark-master 'local[4]' report.sql          the same SQL on Apache Spark
    arcticsql query "SELECT count(*) FROM prices_1min.AAPL"
    echo 'SELECT 42' | arcticsql query -           SQL from standard input (also: run -, arcticsql < file.sql)
    arcticsql ls 'prices_1min/A*'
    arcticsql describe prices_1min.AAPL
    arcticsql demo --symbols 5 --days 10

Every failure is an ``Error: ...`` on standard error (a DuckDB error adds the statement line and a caret)
and a non-zero exit status; a reader that stops early (``| head``) ends the output quietly, status 0.
In csv, json and parquet, a script's output is one document: the result of its last statement.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from arcticsql import __version__
from arcticsql.cli import introspection
from arcticsql.cli.dot_commands import ExitShell, UsageError
from arcticsql.cli.engines import engine_options
from arcticsql.cli.execution import Cancelled
from arcticsql.cli.formatting import FORMATS, MACHINE_FORMATS
from arcticsql.cli.repl import run_repl
from arcticsql.cli.shell import DEFAULT_MAX_ROWS, ScriptError, Shell, quiet_broken_pipe
from arcticsql.dbapi import connect
from arcticsql.demo import generate_demo
from arcticsql.engine.as_of import as_of_statement
from arcticsql.errors import Error, translate

OUTPUT_FORMATS = (*FORMATS, "parquet")


@dataclass
class Options:
    """The group's options, shared by every command."""

    config: str | None
    uri: str | None
    _connection: object = None
    engine: object = None  # --engine spark (see arcticsql.cli.engines); None: DuckDB

    def connect(self):
        """The connection (opened on first use; a failure becomes a one-line error)."""
        if self._connection is None:
            try:
                self._connection = (connect(self.uri, self.config) if self.engine is None
                                    else self.engine.connect(self.uri, self.config))
            except Error as error:
                raise click.ClickException(str(error)) from None
            click.get_current_context().call_on_close(self._connection.close)
        return self._connection


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), metavar="PATH",
              help="Config file (default: $ARCTICSQL_CONFIG, then ./config/config.yaml).")
@click.option("--uri", metavar="URI",
              help="ArcticDB URI, e.g. lmdb://./data/arctic_storage (overrides the config).")
@click.version_option(__version__, prog_name="arcticsql")
@click.pass_context
def cli(ctx: click.Context, config: str | None, uri: str | None) -> None:
    """SQL over an ArcticDB research store. Without a command: the interactive shell."""
    ctx.obj = Options(config, uri)
    if ctx.invoked_subcommand is None:
        ctx.invoke(repl)


@cli.command()
@click.pass_obj
def repl(options: Options) -> None:
    """The interactive SQL shell (runs standard input as a script when it is not a terminal)."""
    connection = options.connect()
    if not sys.stdin.isatty():
        shell = Shell(connection)
        _run(shell, lambda: shell.run_script(sys.stdin.read()))
        return
    shell = Shell(connection, interactive=True)
    try:
        run_repl(shell, connection.session.settings.arctic_uri)
    finally:
        shell.close()


def _format_options(command):
    """The --format, --output and --max-rows options of ``run`` and ``query``."""
    options = [
        click.option("--format", "-f", "fmt", type=click.Choice(OUTPUT_FORMATS), default="table",
                     show_default=True, help="Output format (parquet needs --output)."),
        click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="PATH",
                     help="Write results to PATH instead of standard output."),
        click.option("--max-rows", type=click.IntRange(min=0), default=None,
                     help=f"Rows shown in table, markdown and line formats, first and last (0: all) "
                          f"[default: {DEFAULT_MAX_ROWS} on a terminal, all elsewhere]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _parameter(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"expected name=value, got {value!r}")
        params[name.strip().lstrip("$")] = text
    return params


_AS_OF = click.option("--as-of", "as_of", metavar="SNAPSHOT|TIME",
                      help="Read every ArcticDB table at this snapshot, or point in time (2024-06-01T12:00, UTC), "
                           "as SET arcticsql.as_of does.")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", callback=_parameter,
              help="Value of $NAME in the SQL (repeatable; values are strings, cast with $NAME::INT).")
@_AS_OF
@_format_options
@engine_options
@click.pass_obj
def run(options: Options, files: tuple[str, ...], params: dict, as_of: str | None, fmt: str, output: str | None,
        max_rows: int | None) -> None:
    """Run every statement of each SQL FILE (- for standard input), printing the results.

    In csv, json and parquet the output is one document: the last statement's result."""
    shell = _shell(options, fmt, output, max_rows, params)

    def run_files() -> None:
        if as_of:
            shell.cursor.execute(as_of_statement(as_of))
        for position, path in enumerate(files):
            shell.run_script(_read_file(path), source=None if path == "-" else path,
                             final=position == len(files) - 1)

    _run(shell, run_files)


@cli.command()
@click.argument("sql")
@_AS_OF
@_format_options
@engine_options
@click.pass_obj
def query(options: Options, sql: str, as_of: str | None, fmt: str, output: str | None, max_rows: int | None) -> None:
    """Run SQL (one or more statements; - reads them from standard input) and print the result.

    In csv, json and parquet the output is one document: the last statement's result."""
    shell = _shell(options, fmt, output, max_rows, {})
    if sql == "-":
        sql = sys.stdin.read()

    def run_query() -> None:
        if as_of:
            shell.cursor.execute(as_of_statement(as_of))
        shell.run_script(sql, show_line="\n" in sql.strip())

    _run(shell, run_query)


def _read_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from None


def _shell(options: Options, fmt: str, output: str | None, max_rows: int | None, params: dict) -> Shell:
    if fmt == "parquet" and not output:
        raise click.UsageError("--format parquet needs --output PATH")
    shell = Shell(options.connect(), fmt=fmt, max_rows=max_rows, params=params)
    shell.one_document = fmt in MACHINE_FORMATS
    try:
        shell.set_output(output)
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror}") from None
    return shell


def _run(shell: Shell, action) -> None:
    """Run ``action`` on ``shell``; errors and Ctrl-C become an error message and a non-zero exit; a closed
    standard output (``| head``) ends quietly with status 0."""
    try:
        action()
    except ExitShell:
        pass
    except BrokenPipeError:
        quiet_broken_pipe()
        sys.exit(0)
    except (ScriptError, UsageError, Error) as error:
        raise click.ClickException(str(error)) from None
    except (Cancelled, KeyboardInterrupt):
        click.echo("Query cancelled", err=True)
        sys.exit(130)
    finally:
        try:
            shell.close()
        except BrokenPipeError:
            quiet_broken_pipe()


@cli.command()
@click.argument("pattern", required=False)
@click.pass_obj
def ls(options: Options, pattern: str | None) -> None:
    """List libraries, or symbols: PATTERN is a library glob, or LIB/SYMBOL globs ('prices_1min/A*')."""
    catalog = options.connect().catalog
    try:
        names = introspection.list_names(catalog, pattern)
    except Exception as error:  # noqa: BLE001 - every failure is one line in the user's words
        raise click.ClickException(str(translate(error, catalog.store.failure))) from None
    try:
        for name in names:
            click.echo(name)
    except BrokenPipeError:
        quiet_broken_pipe()


@cli.command()
@click.argument("table")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
@click.pass_obj
def describe(options: Options, table: str, fmt: str) -> None:
    """Columns and types of TABLE (e.g. prices_1min.AAPL), with its index, version and row count."""
    shell = Shell(options.connect(), fmt=fmt)
    _run(shell, lambda: shell.emit_rows(introspection.describe(shell.cursor, shell.catalog, table)))


@cli.command()
@click.option("--symbols", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of tickers.")
@click.option("--days", type=click.IntRange(min=1), default=10, show_default=True,
              help="Trading days of minute bars.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.pass_obj
def demo(options: Options, symbols: int, days: int, seed: int) -> None:
    """Write a small synthetic research store (prices, news, signals) to try arcticsql on."""
    connection = options.connect()
    session = connection.session
    pickle_dir = session.settings.storage["local"]["base_path"]
    progress = _ProgressBar()
    try:
        summary = generate_demo(session.store.arctic(create=True), pickle_dir, symbols=symbols, days=days, seed=seed,
                                progress=progress)
    except (Error, ValueError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        progress.close()
    click.echo(f"Demo data written to {session.settings.arctic_uri}:")
    for library, written in (summary.get("libraries") or {}).items():
        rows = sum(written.values())
        plural = "" if len(written) == 1 else "s"
        click.echo(f"  {library:<16}{rows:>9} rows in {len(written)} symbol{plural}")
    files = summary.get("pickle_files") or []
    if files:
        click.echo(f"  {len(files)} pickle datasets under {summary.get('pickle_dir', pickle_dir)}")
    ticker = (summary.get("tickers") or ["AAPL"])[0]
    click.echo(f'Try: arcticsql query "SELECT * FROM prices_1min.{ticker} LIMIT 5"')


class _ProgressBar:
    """A ``progress(done, total, label)`` callback drawing a click progress bar on standard error (made on
    the first call, when the total is known)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label="Writing demo data", file=sys.stderr,
                                          show_pos=True, item_show_func=lambda item: item)
            self._bar.__enter__()
        self._bar.current_item = label
        self._bar.update(done - self._bar.pos)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def main() -> None:
    """Console script entry point; an unexpected failure is one line too (traceback with
    ``ARCTICSQL_DEBUG=1``)."""
    try:
        cli(prog_name="arcticsql", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except BrokenPipeError:  # the reader of standard output went away (| head): nothing more to say
        quiet_broken_pipe()
        sys.exit(0)
    except Exception as error:
        if os.environ.get("ARCTICSQL_DEBUG"):
            raise
        click.echo(f"Error: {translate(error)}", err=True)
        sys.exit(1)
