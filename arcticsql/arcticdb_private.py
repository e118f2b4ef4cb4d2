"""The one place arcticsql touches ArcticDB's private API (as ``sources/protocol.py`` is for DuckDB's).

Two things ArcticDB's public ``Library`` does not offer:

- :func:`forget_cached_versions`: drop a library object's remembered latest versions, so that a write under
  the symbol's lock bases its checks and its new version on the store's actual latest version (each
  ``Library`` remembers it for up to ``VersionMap.ReloadInterval``, 2 s). ``flush_version_map`` is a binding
  of ArcticDB's C++ version store that its Python code does not call; if an upgrade removes it, every
  latest-version lookup of the process goes to storage instead (the public ``VersionMap.ReloadInterval``
  setting at 0: one more ref-key read per lookup).
- :func:`segment_table`: a version's index key, which lists its data segments (rows, first and last
  timestamp, columns), for EXPLAIN ANALYZE's count of the segments a read touched (ArcticDB's own query
  statistics cover S3 and memory only). Through ``NativeVersionStore.read_index``.

Contract tests: ``tests/test_write_lock.py`` (the binding, and a write seeing another process's version)
and ``tests/test_segments.py`` (the counts against ArcticDB's own statistics); ``tests/test_layout.py``
checks no other module reaches into ArcticDB's private attributes.
"""

from __future__ import annotations

import pandas as pd
from arcticdb.config import set_config_int


def forget_cached_versions(lib) -> None:
    """Make the next call of the ArcticDB library ``lib`` read its symbols' latest versions from storage."""
    flush = getattr(getattr(getattr(lib, "_nvs", None), "version_store", None), "flush_version_map", None)
    if flush is not None:
        flush()
    else:
        set_config_int("VersionMap.ReloadInterval", 0)


def segment_table(lib, symbol: str, version: int) -> pd.DataFrame:
    """The index key of ``symbol`` at ``version`` in the ArcticDB library ``lib``: one row per data segment,
    indexed by its first index value, with ``end_index``, ``start_row``, ``end_row`` (exclusive),
    ``start_col`` and ``end_col`` (exclusive)."""
    return lib._nvs.read_index(symbol, as_of=version)
