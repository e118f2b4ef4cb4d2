"""Pickle datasets on local disk or Google Cloud Storage (seed 003).

    from arcticsql.pickles import StorageFactory, save_dataset, read_pickle_table
    store = StorageFactory.get_storage("local", base_path="./data/pickles")
    save_dataset(store, frame, "index", "nifty", "gbm", "bullish", model_params={"mu": 0.1})
    # -> 'index/nifty/gbm/20240102_093000_bullish.pkl'
    read_pickle_table(store, "index/**/*.pkl")      # one Arrow table, with file/naming columns

Loading admits only what DataFrames and Series need unless ``allow_unsafe`` (``allow_unsafe_pickle`` in
the config) says otherwise; every failure is a :class:`StorageError` naming the file.
"""

from __future__ import annotations

from arcticsql.errors import StorageError
from arcticsql.pickles.backends.base import BaseStorage, FileEntry
from arcticsql.pickles.backends.factory import StorageFactory, storage_for_location, storage_from_settings
from arcticsql.pickles.backends.gcs import GoogleCloudStorage
from arcticsql.pickles.backends.local import LocalStorage
from arcticsql.pickles.datasets import list_dataset, pickle_catalog, read_pickle_table
from arcticsql.pickles.metadata import read_attrs, save_dataset, stamp_attrs
from arcticsql.pickles.naming import make_path, parse_path
from arcticsql.pickles.unpickling import UnsafePickleError, require_frame

__all__ = [
    "BaseStorage", "FileEntry", "GoogleCloudStorage", "LocalStorage", "StorageError", "StorageFactory",
    "UnsafePickleError", "list_dataset", "make_path", "parse_path", "pickle_catalog", "read_attrs",
    "read_pickle_table", "require_frame", "save_dataset", "stamp_attrs", "storage_for_location",
    "storage_from_settings",
]
