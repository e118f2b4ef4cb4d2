"""Saving a query result as a pickle file: ``COPY (<query>) TO 'pkl://<path>.pkl' (METADATA '{...}')``.

``<path>`` is in the configured pickle store (``..``, an absolute path or a symbolic link out of it is
refused); elsewhere is named: ``pkl://gs://bucket/path.pkl``, ``pkl://file:///abs/path.pkl``. The frame
carries seed 003's attrs (``version``, ``created_at``, METADATA as ``model_params``), and not read_pickle's
naming columns (the path says them again): ``COPY (SELECT * FROM read_pickle('a.pkl')) TO 'pkl://b.pkl'``.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

import pyarrow as pa

from arcticsql.config import Settings
from arcticsql.errors import ProgrammingError
from arcticsql.pickles.arrow import NAMING_COLUMNS
from arcticsql.pickles.backends.base import BaseStorage
from arcticsql.pickles.backends.factory import storage_for_location, storage_from_settings
from arcticsql.pickles.metadata import stamp_attrs
from arcticsql.writes.frames import arrow_to_frame
from arcticsql.writes.metadata import parse_metadata

_PICKLE_OPTIONS = {"METADATA", "INDEX"}


@dataclass(frozen=True)
class SavedPickle:
    location: str
    rows: int

    def __str__(self) -> str:
        return f"saved {self.location} ({self.rows:,} rows)"


def save_pickle(path: str, table: pa.Table, options: dict, settings: Settings) -> SavedPickle:
    """Save ``table`` as a DataFrame pickle at ``path`` (a ``pkl://`` target, without the scheme)."""
    if not path.endswith(".pkl"):
        raise ProgrammingError(f"a pkl:// target must name a .pkl file, not {path!r}")
    unknown = set(options) - _PICKLE_OPTIONS
    if unknown:
        raise ProgrammingError(f"option {sorted(unknown)[0]} does not apply to pkl:// (METADATA, INDEX do)")
    model_params = parse_metadata(options.get("METADATA"))
    if set(NAMING_COLUMNS) <= set(table.column_names):
        table = table.drop_columns([name for name in NAMING_COLUMNS if name != options.get("INDEX")])
    storage, relative = _target(path, settings)
    frame = arrow_to_frame(table, index=options.get("INDEX"))
    written = storage.save(stamp_attrs(frame, model_params), relative)
    return SavedPickle(str(written), len(frame))


def _target(path: str, settings: Settings) -> tuple[BaseStorage, str]:
    """The store and the path within it that a ``pkl://`` target names (see the module docstring)."""
    explicit = path.removeprefix("file://")
    if path.startswith("gs://") or (explicit != path and os.path.isabs(explicit)):
        return storage_for_location(explicit, settings)
    relative = posixpath.normpath(explicit)
    if explicit != path or path.startswith("/") or relative == ".." or relative.startswith("../"):
        raise ProgrammingError(f"pkl://{path} is outside the pickle store; to write elsewhere name the place: "
                               "pkl://file:///abs/path.pkl or pkl://gs://bucket/path.pkl")
    return storage_from_settings(settings), path
