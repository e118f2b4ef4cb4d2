"""What Spark's Python workers share with the driver: the settings they run with, and the store opened once
per worker process (Spark reuses its Python workers across tasks and queries)."""

from __future__ import annotations

import json
import threading

from arcticsql.catalog import Catalog, Store
from arcticsql.config import Settings

#: The settings a worker takes from the driver (the rest are the defaults).
SHARED_SETTINGS = ("nan_is_null", "io_threads", "request_timeout_s", "attempts", "scan_chunk_bytes",
                   "write_lock_timeout_s", "unlocked_writes", "core_libraries", "storage")

_catalogs: dict[tuple[str, str], Catalog] = {}
_catalogs_lock = threading.Lock()


def settings_json(settings: Settings, **changes) -> str:
    """The settings workers need, as the ``settings`` option of a data source."""
    values = {name: getattr(settings, name) for name in SHARED_SETTINGS}
    values.update(changes)
    return json.dumps(values, default=list)


def worker_settings(uri: str, text: str | None) -> Settings:
    """The settings of the ``settings`` option."""
    values = json.loads(text) if text else {}
    if "core_libraries" in values:
        values["core_libraries"] = tuple(values["core_libraries"])
    return Settings(arctic_uri=uri, **{k: v for k, v in values.items() if k in SHARED_SETTINGS})


def worker_catalog(uri: str, settings_text: str | None) -> Catalog:
    """This process's catalog of the store at ``uri``: opened once per process (an LMDB store must not be
    opened twice by one process, and an object store's client is worth keeping)."""
    key = (uri, settings_text or "")
    with _catalogs_lock:
        catalog = _catalogs.get(key)
        if catalog is None:
            settings = worker_settings(uri, settings_text)
            catalog = _catalogs[key] = Catalog(Store(uri, settings), settings)
        return catalog
