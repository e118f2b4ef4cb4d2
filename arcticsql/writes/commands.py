"""Running a store command (see :mod:`arcticsql.sql.commands`): its query first, then the write.

The caller hands over what a write needs — the catalog, the settings, and ``run_query``, which runs the
command's query through the normal statement flow (so it may read ArcticDB tables) and returns its Arrow
result. A failing query writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pyarrow as pa

from arcticsql.config import Settings
from arcticsql.errors import ProgrammingError
from arcticsql.sql.commands import PICKLE_SCHEME, StoreCommand
from arcticsql.writes.arctic import StoreResult, store_frame
from arcticsql.writes.frames import arrow_to_frame, cast_to_existing, integer_columns_with_nulls
from arcticsql.writes.metadata import parse_metadata
from arcticsql.writes.pickles import SavedPickle, save_pickle
from arcticsql.writes.routing import route


def run_store_command(command: StoreCommand, *, catalog, settings: Settings,
                      run_query: Callable[[str], pa.Table]) -> StoreResult | SavedPickle:
    """Run ``command``'s query and write its result; what was written."""
    if command.scheme == PICKLE_SCHEME:
        return save_pickle(command.path, run_query(command.query), command.options, settings)
    options = command.options
    if command.target is not None:
        library, symbol = command.target.library, command.target.symbol
    else:
        library, symbol = route(command.path, catalog)
    if options.get("CREATE") == "new" and catalog.library(library, create=True).has_symbol(symbol):
        raise ProgrammingError(f"{library}/{symbol} already exists: use CREATE OR REPLACE TABLE "
                               "(a new version) or INSERT INTO (append)")
    mode = str(options.get("MODE", "write")).lower()
    metadata = parse_metadata(options.get("METADATA"))
    prune = _boolean(options.get("PRUNE", False), "PRUNE")
    table = run_query(command.query)
    lib = catalog.library(library, create=True)
    existing = catalog.layout(library, symbol) if lib.has_symbol(symbol) else None
    if existing is not None and not table.num_rows and mode == "write" \
            and not _boolean(options.get("ALLOW_EMPTY", False), "ALLOW_EMPTY"):
        raise ProgrammingError(f"the query returned no rows: writing them would make {library}/{symbol} empty "
                               "(add ALLOW_EMPTY true to COPY to do that)")
    if existing is not None and mode in ("append", "update"):
        table = cast_to_existing(table, existing)
    notes = tuple(f"column {name!r} stored as DOUBLE (it has NULLs, which an integer column cannot hold)"
                  for name in integer_columns_with_nulls(table))
    frame = arrow_to_frame(table, index=options.get("INDEX"), existing=existing)
    result = store_frame(catalog, f"{library}/{symbol}", frame, metadata=metadata, mode=mode, prune=prune,
                         library=library, symbol=symbol)
    return replace(result, notes=result.notes + notes) if result.rows else result


def _boolean(value, option: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ProgrammingError(f"{option} takes true or false, not {value!r}")
