"""The one place arcticsql touches ArcticDB's private API: dropping a library object's remembered latest
versions, so that a write under the symbol's lock bases its checks and its new version on the store's
actual latest version (each ``Library`` remembers it for up to ``VersionMap.ReloadInterval``, 2 s).

``flush_version_map`` is a binding of ArcticDB's C++ version store that its Python code does not call; if
an upgrade removes it, every latest-version lookup of the process goes to storage instead (the public
``VersionMap.ReloadInterval`` setting at 0: one more ref-key read per lookup). ``tests/test_write_lock.py``
fails loudly if the binding changes.
"""

from __future__ import annotations

from arcticdb_ext import set_config_int


def forget_cached_versions(lib) -> None:
    """Make the next call of the ArcticDB library ``lib`` read its symbols' latest versions from storage."""
    flush = getattr(getattr(getattr(lib, "_nvs", None), "version_store", None), "flush_version_map", None)
    if flush is not None:
        flush()
    else:
        set_config_int("VersionMap.ReloadInterval", 0)
