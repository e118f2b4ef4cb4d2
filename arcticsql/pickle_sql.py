"""Pickle datasets in SQL: ``read_pickle('<glob>')``, ``pickle_files('<glob>')`` and
``COPY (<query>) TO 'pkl://<path>.pkl'``.

A glob is resolved by :func:`~arcticsql.storage.factory.storage_for_location`: ``gs://bucket/...``, a local
path (absolute or starting with ./ or ../), or else relative to the configured store (config ``storage``).
"""

from __future__ import annotations

import pyarrow as pa

from arcticsql.errors import ProgrammingError
from arcticsql.scan.pickle_source import PickleDatasetSource, learn_schemas
from arcticsql.storage.arrow import NAMING_COLUMNS
from arcticsql.storage.datasets import pickle_catalog
from arcticsql.storage.factory import storage_for_location
from arcticsql.storage.metadata import stamp_attrs


def read_pickle_source(settings, location: str, *, pool=None, stores: dict | None = None,
                       progress=None) -> PickleDatasetSource:
    storage, glob = storage_for_location(location, settings, stores=stores)
    source = PickleDatasetSource(storage, glob, pool=pool, progress=progress, label=f"read_pickle({location!r})")
    if not source.entries:
        raise ProgrammingError(f"no pickle files match {location!r} (looked in {storage.location(glob)})")
    return source


def learn_pickle_schemas(settings, location: str, *, stores: dict | None = None) -> int:
    """Remember the schemas of the files ``location`` matches that differ from their folder's sample (see
    :func:`~arcticsql.scan.pickle_source.learn_schemas`); how many were new."""
    storage, glob = storage_for_location(location, settings, stores=stores)
    return learn_schemas(storage, glob)


def pickle_files_table(settings, location: str, *, stores: dict | None = None) -> pa.Table:
    storage, glob = storage_for_location(location, settings, stores=stores)
    return pickle_catalog(storage, glob)


def copy_to_pickle(session, duck, query: str, path: str, options: dict, params):
    """Save a query result as a DataFrame pickle with seed 003's attrs (METADATA becomes model_params).

    A result with all of read_pickle's naming columns (``file``, ``data_type``, ... ``params``) is saved
    without them, as the path of the new file says them again: ``COPY (SELECT * FROM read_pickle('a.pkl'))
    TO 'pkl://b.pkl'`` copies the frame."""
    from arcticsql.session import Outcome
    from arcticsql.store import arrow_to_frame, parse_metadata

    if not path.endswith(".pkl"):
        raise ProgrammingError(f"a pkl:// target must name a .pkl file, not {path!r}")
    unknown = set(options) - {"METADATA", "INDEX"}
    if unknown:
        raise ProgrammingError(f"option {sorted(unknown)[0]} does not apply to pkl:// (METADATA, INDEX do)")
    model_params = parse_metadata(options.get("METADATA"))
    table = session.query_arrow(duck, query, params)
    naming = [name for name in NAMING_COLUMNS if name != options.get("INDEX")]
    if set(NAMING_COLUMNS) <= set(table.column_names):
        # read_pickle's columns, which the new file's path gives back: a copied frame stays the frame
        table = table.drop_columns(naming)
    frame = arrow_to_frame(table, index=options.get("INDEX"))
    storage, relative = storage_for_location(path, session.settings)
    written = storage.save(stamp_attrs(frame, model_params), relative)
    duck.execute("SELECT ? AS file, ?::BIGINT AS rows", [str(written), len(frame)])
    return Outcome(rowcount=len(frame), message=f"saved {written} ({len(frame):,} rows)", has_result=True)
