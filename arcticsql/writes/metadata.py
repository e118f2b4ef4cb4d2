"""The metadata every write carries: seed 000's automatic metadata under ``auto``, merged with the user's."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from arcticsql.errors import DataError


def auto_metadata(df: pd.DataFrame) -> dict[str, Any]:
    """Seed 000's automatic metadata, JSON-ready."""
    index = df.index
    date_range = None
    if len(df) and isinstance(index, pd.DatetimeIndex):
        if index.is_monotonic_increasing:  # cached on the index; ArcticDB checks it on write anyway
            date_range = [index[0].isoformat(), index[-1].isoformat()]
        else:
            date_range = [index.min().isoformat(), index.max().isoformat()]
    return {
        "shape": list(df.shape),
        "columns": [str(c) for c in df.columns],
        "dtypes": {str(k): str(v) for k, v in df.dtypes.to_dict().items()},
        "stored_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
        "index_type": type(index).__name__,
        "index_names": [n for n in index.names],
        "memory_usage_mb": float(df.memory_usage(deep=True).sum() / 1024 / 1024),
        "has_nulls": any(_has_nulls(df.iloc[:, position]) for position in range(df.shape[1])),
        "date_range": date_range,
    }


def _has_nulls(column: pd.Series) -> bool:
    """Whether ``column`` holds a NaN, None or NaT (as ``Series.hasnans``), without a mask per column."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iub":  # integers and booleans cannot hold a null
            return False
        if dtype.kind == "f":
            values = column.to_numpy()
            # min propagates NaN and nothing else makes it NaN (inf - inf is never computed)
            return bool(len(values)) and bool(np.isnan(values.min()))
    return bool(column.hasnans)


def combine_auto_metadata(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The automatic metadata of rows written in parts (the :func:`auto_metadata` of each), as of one frame."""
    first = parts[0]
    ranges = [part["date_range"] for part in parts if part.get("date_range")]
    return {
        **first,
        "shape": [sum(part["shape"][0] for part in parts), first["shape"][1]],
        "stored_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
        "memory_usage_mb": float(sum(part["memory_usage_mb"] for part in parts)),
        "has_nulls": any(part["has_nulls"] for part in parts),
        "date_range": [min(pd.Timestamp(r[0]) for r in ranges).isoformat(),
                       max(pd.Timestamp(r[1]) for r in ranges).isoformat()] if ranges else None,
    }


def merge_metadata(user: dict[str, Any] | None, df: pd.DataFrame, auto: dict[str, Any] | None = None) -> dict[str, Any]:
    """User metadata with the automatic metadata (``auto``, or that of ``df``) under ``auto`` (which it may not
    override)."""
    if user is not None and not isinstance(user, dict):
        raise DataError("METADATA must be a JSON object")
    merged = dict(user or {})
    merged["auto"] = auto if auto is not None else auto_metadata(df)
    return merged


def parse_metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"METADATA is not valid JSON: {error.msg} at position {error.pos}") from None
    if not isinstance(value, dict):
        raise DataError("METADATA must be a JSON object, such as '{\"model\": \"v2\"}'")
    return value


