"""Showing long output through a pager: ``$PAGER``, else ``less`` (or ``more``), as psql and git do.

``less`` runs with ``LESS=FRSX`` unless ``$LESS`` is set: it quits at once when the text fits the screen,
keeps colours, chops long lines (scroll sideways with the arrow keys) and leaves the text on the screen.
"""

from __future__ import annotations

import os
import shutil
import subprocess


def pager_command(configured: str | None = None) -> str | None:
    """The pager to run: ``configured`` (``.pager COMMAND``), ``$PAGER``, ``less`` or ``more``; None when
    there is none."""
    command = configured or os.environ.get("PAGER", "").strip()
    if command:
        return command
    for candidate in ("less", "more"):
        if shutil.which(candidate):
            return candidate
    return None


def page(text: str, command: str, encoding: str = "utf-8") -> None:
    """Show ``text`` through the pager ``command`` and wait until the user leaves it.

    Ctrl-C belongs to the pager while it runs (``less`` ignores it, as it should); a pager that exits
    before reading everything is no error.
    """
    env = dict(os.environ)
    env.setdefault("LESS", "FRSX")
    process = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)  # $PAGER is a command line
    try:
        with process.stdin as pipe:
            try:
                pipe.write(text.encode(encoding, errors="replace"))
            except KeyboardInterrupt:
                pass
    except OSError:  # the pager quit early (BrokenPipeError) or could not read
        pass
    while True:
        try:
            process.wait()
            return
        except KeyboardInterrupt:
            continue
