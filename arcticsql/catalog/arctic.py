"""Opening an ArcticDB store: process-wide ArcticDB settings, and one ``Arctic`` per LMDB path."""

from __future__ import annotations

import os
import threading

import arcticdb
from arcticdb.config import set_log_level
from arcticdb_ext import set_config_int

from arcticsql.errors import OperationalError

_ARCTICS: dict[str, object] = {}
_ARCTICS_LOCK = threading.Lock()
_CONFIGURED = False


def _configure_arcticdb(uri: str) -> None:
    """Process-wide ArcticDB settings, applied before the first store is opened.

    - Logging: ArcticDB prints INFO lines to the console by default; arcticsql shows errors only, unless
      ``$ARCTICSQL_ARCTICDB_LOG_LEVEL`` says otherwise (DEBUG, INFO, WARN, ERROR).
    - On local stores (lmdb://, mem://) the storage lock's settle wait drops from 1 s to 10 ms: the first
      ``list_symbols`` of a library compacts its symbol list under that lock and otherwise always waits a
      full second. Object stores keep ArcticDB's default.
    """
    global _CONFIGURED
    if _CONFIGURED:
        return
    set_log_level(os.environ.get("ARCTICSQL_ARCTICDB_LOG_LEVEL", "ERROR").upper())
    if uri.startswith(("lmdb://", "mem://")):
        set_config_int("StorageLock.WaitMs", 10)
    _CONFIGURED = True


def open_arctic(uri: str):
    """An ``arcticdb.Arctic`` for ``uri``; one per LMDB path per process, since LMDB environments must not
    be opened twice by one process."""
    _configure_arcticdb(uri)
    try:
        if not uri.startswith("lmdb://"):
            return arcticdb.Arctic(uri)
        with _ARCTICS_LOCK:
            if uri not in _ARCTICS:
                _ARCTICS[uri] = arcticdb.Arctic(uri)
            return _ARCTICS[uri]
    except Exception as error:  # noqa: BLE001 - arcticdb raises plain exceptions for bad URIs
        raise OperationalError(f"cannot open ArcticDB store {uri!r}: {error}") from None
