"""Choosing a backend: by type name (seed 003's ``StorageFactory``), from settings, or from a location."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from arcticsql.config import Settings
from arcticsql.errors import StorageError
from arcticsql.pickles.backends.base import BaseStorage
from arcticsql.pickles.backends.gcs import GoogleCloudStorage
from arcticsql.pickles.backends.local import LocalStorage
from arcticsql.pickles.globbing import literal_directory

#: Trailing literal folders of a local location kept in the glob (the naming convention's three folders).
_NAMING_DEPTH = 3


class StorageFactory:
    """``StorageFactory.get_storage("local" | "gcs", **kwargs)``."""

    @staticmethod
    def get_storage(storage_type: str, **kwargs: Any) -> BaseStorage:
        kind = str(storage_type).lower()
        if kind == "local":
            return LocalStorage(**kwargs)
        if kind == "gcs":
            return GoogleCloudStorage(**kwargs)
        raise ValueError(f"Unsupported storage type: {storage_type}")


def storage_from_settings(settings: Settings, **overrides: Any) -> BaseStorage:
    """The configured store (``settings.storage``: type, ``local.base_path`` or ``gcs.*``, unsafe setting);
    ``overrides`` (e.g. ``client=``) go to the constructor."""
    block = settings.storage
    kind = settings.storage_type
    options: dict[str, Any] = {"allow_unsafe": settings.allow_unsafe_pickle}
    if kind == "local":
        options["base_path"] = (block.get("local") or {}).get("base_path")
    elif kind == "gcs":
        gcs = block.get("gcs") or {}
        options["bucket_name"] = gcs.get("bucket_name")
        options["cache_dir"] = gcs.get("cache_dir")
        options["timeout"] = settings.gcs_timeout_s
    options.update(overrides)
    return StorageFactory.get_storage(kind, **options)


def storage_for_location(location: str, settings: Settings, *, stores: dict | None = None,
                         **overrides: Any) -> tuple[BaseStorage, str]:
    """The store and the glob relative to it for a user-given location: ``gs://bucket/x/*.pkl`` → that
    bucket (cache folder, timeout, unsafe setting from ``settings``) and ``x/*.pkl``; an absolute path, or one
    starting with ``./`` or ``../`` → a local store rooted at the literal folder less its last three (so
    ``/d/index/nifty/gbm/*.pkl`` → root ``/d``, glob ``index/nifty/gbm/*.pkl``: the naming fields stay
    readable); anything else → the configured store. ``stores``: a dict keeping the stores made, by kind and
    options, to hand out again (a session's)."""
    unsafe = settings.allow_unsafe_pickle
    if location.startswith("gs://"):
        bucket, _, pattern = location[len("gs://"):].partition("/")
        if not bucket:
            raise StorageError(f"{location!r} names no bucket: write gs://<bucket>/<glob>")
        cache_dir = (settings.storage.get("gcs") or {}).get("cache_dir")
        options = {"bucket_name": bucket, "cache_dir": cache_dir, "allow_unsafe": unsafe,
                   "timeout": settings.gcs_timeout_s, **overrides}
        return _kept(stores, ("gcs", options), lambda: StorageFactory.get_storage("gcs", **options)), pattern or "**"
    if os.path.isabs(location) or location.startswith(("./", "../")):
        pattern = location.replace(os.sep, "/")
        root, glob = _split_local(pattern)
        options = {"base_path": os.path.abspath(root), "allow_unsafe": unsafe, **overrides}
        return _kept(stores, ("local", options), lambda: StorageFactory.get_storage("local", **options)), glob
    return _kept(stores, ("configured", overrides), lambda: storage_from_settings(settings, **overrides)), location


def _kept(stores: dict | None, key: tuple[str, dict[str, Any]], make: Callable[[], BaseStorage]) -> BaseStorage:
    """The store ``stores`` holds under ``key`` (a kind and its options), else ``make()``, kept there."""
    kind, options = key
    try:
        hashable = (kind, tuple(sorted(options.items())))
        hash(hashable)
    except TypeError:  # an unhashable option (a client object, say): not kept
        return make()
    if stores is None:
        return make()
    if hashable not in stores:
        stores[hashable] = make()
    return stores[hashable]


def _split_local(pattern: str) -> tuple[str, str]:
    """A local pattern as (root, glob): up to three folders just before the first wildcard join the glob."""
    folders = literal_directory(pattern).split("/")
    kept = len(folders)
    while kept > 0 and len(folders) - kept < _NAMING_DEPTH and folders[kept - 1] not in ("", ".", ".."):
        kept -= 1
    segments = pattern.split("/")
    root = "/".join(segments[:kept]) or ("/" if pattern.startswith("/") else ".")
    return root, "/".join(segments[kept:])
