"""The one missing-value rule: a float NaN is a missing value, read as SQL NULL.

That is what pandas means by NaN (``mean`` skips it), what the seed's users wrote, and what DuckDB's own scan
of a pandas frame does; ArcticDB stores pandas' NaN as a NaN value, so its output is converted here. The
setting ``processing.nan_is_null: false`` keeps raw NaN (then ``avg`` over a NaN is NaN, as in DuckDB over
raw floats). Writing goes the other way by itself: a NULL in a float column is stored as NaN.

    >>> import pyarrow as pa
    >>> nan_to_null(pa.array([1.0, float("nan"), None])).to_pylist()
    [1.0, None, None]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def nan_to_null(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``column`` with every NaN made null; the column itself when it is not floating point or has no NaN
    (checked with one pass that propagates NaN, a fraction of a millisecond per million values)."""
    if not pa.types.is_floating(column.type) or not _has_nan(column):
        return column
    return pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)


#: More chunks than this are checked in one Arrow call (a wildcard's small members come as thousands of
#: chunks, where a Python loop costs about 10 us each).
_MANY_CHUNKS = 16


def _has_nan(column: pa.Array | pa.ChunkedArray) -> bool:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if len(chunks) > _MANY_CHUNKS:
        return pc.any(pc.is_nan(column)).as_py() is True  # (nulls skipped; None when every value is null)
    for chunk in chunks:
        if len(chunk) == chunk.null_count:
            continue
        if chunk.null_count:
            chunk = chunk.drop_null()
        if np.isnan(chunk.to_numpy(zero_copy_only=False).min()):  # min is NaN exactly when a value is
            return True
    return False
