"""The seed's Python API (``FlexibleDataStore``, ``FlexibleQuery``) on arcticsql's core.

    store = FlexibleDataStore()                      # config/config.yaml
    store.store_any_data('prices/1min/AAPL', df)     # -> 'prices_1min/AAPL'
    query = FlexibleQuery(store)
    query.load_multiple(['prices_*/AAPL'], date_range=('2024-01-01', '2024-01-31'))

``load_multiple`` runs the same SQL path as a wildcard table (pattern resolution, date-range pushdown,
parallel batched reads); ``store_any_data`` runs the same write path as the ``COPY ... TO 'arctic://'``
store command.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from arcticsql.dbapi import Connection, connect
from arcticsql.errors import ProgrammingError
from arcticsql.sql.names import TableName, table_name
from arcticsql.writes.arctic import store_frame


class FlexibleDataStore:
    """Schema-less storage of any DataFrame with automatic routing, versioning and metadata (seed 000)."""

    def __init__(self, config_path: str | None = None, *, uri: str | None = None,
                 connection: Connection | None = None) -> None:
        self.connection = connection or connect(uri=uri, config=config_path)
        self.catalog = self.connection.catalog
        for name in self.connection.session.settings.core_libraries:
            self.catalog.library(name, create=True)  # seed 000: the core libraries exist from the start

    def store_any_data(self, data_path: str, df: pd.DataFrame, metadata: dict[str, Any] | None = None) -> str:
        """Store ``df`` under ``data_path`` as a new version; returns ``'library/symbol'``."""
        result = store_frame(self.catalog, data_path, df, metadata=metadata, mode="write")
        return f"{result.library}/{result.symbol}"

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> FlexibleDataStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FlexibleQuery:
    """Pattern matching and date ranges over the store (seed 000)."""

    def __init__(self, store: FlexibleDataStore | Connection) -> None:
        self.connection = store.connection if isinstance(store, FlexibleDataStore) else store

    def load_multiple(self, patterns: list[str], date_range: tuple | None = None) -> dict[str, pd.DataFrame]:
        """``{'library/symbol': DataFrame}`` for every symbol the patterns match, each indexed as stored.

        ``date_range=(start, end)`` keeps index values in [start, end] (both inclusive, as ArcticDB's
        ``date_range``); either end may be None.
        """
        out: dict[str, pd.DataFrame] = {}
        catalog = self.connection.catalog
        for pattern in patterns:
            name = table_name([pattern])
            if name is None:
                raise ProgrammingError(f"{pattern!r} is not a 'library/symbol' pattern")
            for library, symbol in self._expand(name):
                schema = catalog.schema(library, symbol)
                where, params = _date_filter(schema.date_index, date_range)
                sql = f'SELECT * FROM "{library}/{symbol.replace(chr(34), chr(34) * 2)}"{where}'
                with self.connection.cursor() as cursor:
                    frame = cursor.execute(sql, params or None).fetch_df()
                out[f"{library}/{symbol}"] = _restore_index(frame, schema.index_columns)
        return out

    def _expand(self, name: TableName) -> list[tuple[str, str]]:
        catalog = self.connection.catalog
        if not name.is_pattern:
            catalog.schema(name.library, name.symbol)  # raises a clear error when missing
            return [(name.library, name.symbol)]
        pairs = catalog.expand(name.library, name.symbol)
        if not pairs:
            raise catalog.no_match(name.library, name.symbol)
        return pairs


def _date_filter(index: str | None, date_range: tuple | None) -> tuple[str, list]:
    if not date_range or index is None:
        return "", []
    start, end = date_range
    terms, params = [], []
    quoted = '"' + index.replace('"', '""') + '"'
    if start is not None:
        terms.append(f"{quoted} >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        terms.append(f"{quoted} <= ?")
        params.append(pd.Timestamp(end).to_pydatetime())
    return (" WHERE " + " AND ".join(terms), params) if terms else ("", [])


def _restore_index(frame: pd.DataFrame, index_columns: tuple[str, ...]) -> pd.DataFrame:
    columns = [c for c in index_columns if c in frame.columns]
    if not columns:
        return frame
    frame = frame.set_index(columns)
    if list(frame.index.names) == ["index"]:
        frame.index.name = None
    return frame
