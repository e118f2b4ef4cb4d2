"""The interactive shell: a prompt_toolkit prompt with SQL highlighting, completion and history.

Enter runs the input once it is a complete statement (ends with ``;``), a dot command or a quit word, and
otherwise starts a new line (shown with a ``...>`` prompt). Ctrl-C clears the line, or cancels a running
statement; Ctrl-D leaves.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.styles import Style
from pygments.lexers.sql import SqlLexer

from arcticsql import __version__
from arcticsql.cli.completion import NameCache, SqlCompleter
from arcticsql.cli.dot_commands import ExitShell
from arcticsql.cli.execution import Cancelled
from arcticsql.cli.script import QUIT_WORDS, is_complete
from arcticsql.cli.shell import ScriptError, Shell
from arcticsql.engine.as_of import shown
from arcticsql.errors import translate

PROMPT = "arcticsql> "
CONTINUATION = "...> "

_STYLE = Style.from_dict({
    "prompt": "ansicyan bold",
    "continuation": "ansibrightblack",
})


def history_path() -> Path:
    """``$ARCTICSQL_HISTORY``, or ``~/.arcticsql_history``."""
    return Path(os.environ.get("ARCTICSQL_HISTORY") or Path.home() / ".arcticsql_history").expanduser()


class _History(FileHistory):
    """File history that carries on (without saving) when the file cannot be written."""

    def store_string(self, string: str) -> None:
        with contextlib.suppress(OSError):
            super().store_string(string)


def _history() -> History:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return _History(str(path))


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
    def _enter(event) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        if state is not None:
            buffer.cancel_completion()
        if is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def _continuation(width: int, line_number: int, is_soft_wrap: bool):
    return [("class:continuation", CONTINUATION.rjust(width))]


def prompt_text(session) -> str:
    """The prompt: ``arcticsql> ``, or with the session as-of, ``arcticsql@eod> ``."""
    as_of = shown(session.as_of)
    return f"arcticsql@{as_of}> " if as_of else PROMPT


def make_prompt(names: NameCache, text=lambda: PROMPT) -> PromptSession:
    return PromptSession(
        message=lambda: [("class:prompt", text())],
        multiline=True,
        prompt_continuation=_continuation,
        key_bindings=_key_bindings(),
        lexer=PygmentsLexer(SqlLexer),
        completer=ThreadedCompleter(SqlCompleter(names)),
        complete_while_typing=True,
        auto_suggest=AutoSuggestFromHistory(),
        history=_history(),
        style=_STYLE,
        include_default_pygments_style=True,
    )


def run_repl(shell: Shell, uri: str) -> None:
    """Read, run and print until ``.quit`` or Ctrl-D."""
    names = NameCache(shell.connection)
    shell.on_change = names.invalidate
    prompt = make_prompt(names, lambda: prompt_text(shell.connection.session))
    print(f"arcticsql {__version__} on {uri}")
    print('Enter ".help" for usage hints. Statements end with ";".')
    while True:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if text.strip().rstrip(";").strip().lower() in QUIT_WORDS:
            break
        try:
            shell.run_script(text, show_line=False)
        except ExitShell:
            break
        except (Cancelled, KeyboardInterrupt):
            print("Query cancelled", file=sys.stderr)
        except ScriptError as error:
            print(f"Error: {error}", file=sys.stderr)
        except Exception as error:  # noqa: BLE001 - never a traceback in the shell
            print(f"Error: {translate(error)}", file=sys.stderr)
