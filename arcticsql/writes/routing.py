"""Where a store path goes: seed 000's routing of ``prices/1min/AAPL`` to library ``prices_1min``, symbol ``AAPL``."""

from __future__ import annotations

import re

from arcticsql.errors import ProgrammingError

_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-:+=@ ]+$")


def route(path: str, catalog) -> tuple[str, str]:
    """``(library, symbol)`` for a store path.

    The library is the longest run of leading segments, joined by '_', that names an existing or core
    library; otherwise the first segment (a new library). The remaining segments, joined by '/', are the
    symbol. So 'prices/1min/AAPL' -> prices_1min/AAPL, 'news/enriched/2024-01-15' -> news_enriched/2024-01-15,
    'signals/momentum/SP500' -> signals/momentum/SP500, 'prices_daily/MSFT' -> prices_daily/MSFT.
    """
    segments = path.strip().strip("/").split("/")
    if len(segments) < 2 or any(not s for s in segments):
        raise ProgrammingError(f"invalid store path {path!r}: expected 'library/symbol' or seed-style "
                               "segments such as 'prices/1min/AAPL'")
    bad = [s for s in segments if not _SEGMENT.match(s)]
    if bad:
        raise ProgrammingError(f"invalid store path {path!r}: segment {bad[0]!r} has characters other than "
                               "letters, digits and _ . - : + = @ space")
    for cut in range(len(segments) - 1, 0, -1):
        library = "_".join(segments[:cut])
        if catalog.is_known_library(library) or catalog.has_library(library):
            return library, "/".join(segments[cut:])
    return segments[0], "/".join(segments[1:])


