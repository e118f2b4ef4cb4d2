"""Store commands: statements that write to ArcticDB (``COPY (...) TO 'arctic://...'``)."""

from __future__ import annotations


def maybe_store_command(session, duck, parsed, references, statement, params):
    """Run ``parsed`` if it is a store command and return its Outcome; None for any other statement."""
    return None
