"""Pickle datasets on local disk or Google Cloud Storage (seed 003).

    >>> from arcticsql.storage import StorageFactory, save_dataset, read_pickle_table
    >>> store = StorageFactory.get_storage("local", base_path="./data/pickles")
    >>> save_dataset(store, frame, "index", "nifty", "gbm", "bullish", model_params={"mu": 0.1})
    'index/nifty/gbm/20240102_093000_bullish.pkl'
    >>> read_pickle_table(store, "index/**/*.pkl")      # one Arrow table, with file/naming columns

Loading admits only what DataFrames and Series need unless ``allow_unsafe`` (``allow_unsafe_pickle`` in
the config) says otherwise; every failure is a :class:`StorageError` naming the file.
"""

from __future__ import annotations

from arcticsql.storage.base import BaseStorage, FileEntry, StorageError
from arcticsql.storage.datasets import list_dataset, pickle_catalog, read_pickle_table
from arcticsql.storage.factory import StorageFactory, storage_for_location, storage_from_settings
from arcticsql.storage.gcs import GoogleCloudStorage
from arcticsql.storage.local import LocalStorage
from arcticsql.storage.metadata import read_attrs, save_dataset, stamp_attrs
from arcticsql.storage.naming import make_path, parse_path
from arcticsql.storage.safe_pickle import UnsafePickleError, require_frame

__all__ = [
    "BaseStorage", "FileEntry", "GoogleCloudStorage", "LocalStorage", "StorageError", "StorageFactory",
    "UnsafePickleError", "list_dataset", "make_path", "parse_path", "pickle_catalog", "read_attrs",
    "read_pickle_table", "require_frame", "save_dataset", "stamp_attrs", "storage_for_location",
    "storage_from_settings",
]
