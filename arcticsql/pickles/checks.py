"""Checks on a loaded object before anything reads or converts it: what the unpickler made in the allowed
forms can still be inconsistent in ways pandas, numpy and pyarrow read past memory for (object cells nested
200,000 deep or inside themselves overflow the Arrow conversion's C stack; MultiIndex or categorical codes
beyond their values; a datetime array over a buffer of another type; Arrow offsets beyond their buffers).
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from arcticsql.errors import StorageError, one_line
from arcticsql.pickles.unpickling import MAX_DEPTH, arrow_type_allowed, require_frame

_LEAVES = (str, bytes, bytearray, bool, int, float, complex, type(None), decimal.Decimal, datetime.date,
           datetime.time, datetime.timedelta, datetime.tzinfo, np.generic, pd.Period, pd.Interval)
_CONTAINERS = (list, tuple, dict, set, frozenset)
#: infer_dtype's answers (C speed) that mean every value is a plain scalar: nothing to walk
_FLAT = frozenset({"string", "bytes", "empty", "integer", "floating", "mixed-integer-float", "boolean", "decimal",
                   "datetime", "datetime64", "date", "time", "timedelta", "timedelta64", "complex", "period",
                   "interval"})
_ARRAYS = pd.arrays


class _Bad(Exception):
    """A failed check; becomes a StorageError naming the file."""


def check_frame(obj: Any, name: str) -> Any:
    """``obj`` if it is a DataFrame or Series every part of which is safe to read and convert: object values
    plain and at most MAX_DEPTH deep without cycles, codes within their values, arrays of their own dtype,
    Arrow arrays valid in full. StorageError naming the file and the part otherwise."""
    frame = require_frame(obj, name)
    try:
        _check_frame(frame, [max(1 << 20, 16 * frame.size)])
    except _Bad as bad:
        raise StorageError(f"{name}: refused to load: {bad}") from None
    except MemoryError:
        raise
    except Exception as error:  # a malformed frame: AttributeError, RecursionError (no _mgr), IndexError...
        raise StorageError(f"{name}: malformed frame: {type(error).__name__}: {one_line(error)}") from error
    return frame


def _check_frame(frame: Any, budget: list[int]) -> None:
    _check_index(frame.index, "the index", budget)
    if isinstance(frame, pd.Series):
        columns = [("the series", frame._values)]
        _walk([frame.name], "the series name", budget)
    else:
        _check_index(frame.columns, "the column labels", budget)
        columns = [(f"column {label!r}" if isinstance(label, str) else f"column {position}",
                    frame._get_column_array(position)) for position, label in enumerate(frame.columns)]
    for where, values in columns:
        if len(values) != len(frame.index):
            raise _Bad(f"{where} has {len(values)} values for {len(frame.index)} rows")
        _check_values(values, where, budget)
    _walk(frame.attrs, "attrs", budget)


def _check_index(index: pd.Index, where: str, budget: list[int]) -> None:
    _walk(list(index.names), f"{where} names", budget)
    if isinstance(index, pd.MultiIndex):
        for level, (values, codes) in enumerate(zip(index.levels, index.codes, strict=True)):
            if len(codes) != len(index):
                raise _Bad(f"{where} level {level} has {len(codes)} codes for {len(index)} rows")
            _check_codes(codes, len(values), f"{where} level {level}")
            _check_index(values, f"{where} level {level}", budget)
    elif not isinstance(index, pd.RangeIndex):
        _check_values(index._values, where, budget)


def _check_codes(codes: Any, size: int, where: str) -> None:
    if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "iu":
        raise _Bad(f"{where} has codes that are no integer array")
    if codes.size and (codes.min() < -1 or codes.max() >= size):
        raise _Bad(f"{where} has codes outside its {size} values")


def _check_values(values: Any, where: str, budget: list[int]) -> None:
    """One column's (or index level's) values: numpy, pandas extension or Arrow-backed arrays."""
    if isinstance(values, pd.Index):
        _check_index(values, where, budget)
    elif isinstance(values, np.ndarray):
        if values.dtype.fields is not None or values.dtype.subdtype is not None:
            raise _Bad(f"{where} is a structured numpy array")
        if values.dtype.hasobject and pd.api.types.infer_dtype(values, skipna=True) not in _FLAT:
            _walk(values, where, budget)
    elif isinstance(values, pd.Categorical):
        _check_codes(values.codes, len(values.categories), f"{where} (categorical)")
        _check_index(values.categories, f"{where} categories", budget)
    elif isinstance(values, _ARRAYS.DatetimeArray | _ARRAYS.TimedeltaArray | _ARRAYS.PeriodArray):
        kind = "M" if isinstance(values, _ARRAYS.DatetimeArray) else "m"
        expected = np.dtype("i8") if isinstance(values, _ARRAYS.PeriodArray) else np.dtype(f"{kind}8[{values.unit}]")
        if not isinstance(values._ndarray, np.ndarray) or values._ndarray.dtype != expected:
            raise _Bad(f"{where} holds {values.dtype} values in a buffer of another type")
    elif isinstance(values, _ARRAYS.NumpyExtensionArray | _ARRAYS.StringArray):
        _check_values(values._ndarray, where, budget)
    elif isinstance(values, _ARRAYS.ArrowExtensionArray):
        chunked = values._pa_array
        if not isinstance(chunked, pa.ChunkedArray) or not arrow_type_allowed(chunked.type):
            raise _Bad(f"{where} holds an Arrow array of an unsupported type")
        try:
            chunked.validate(full=True)
        except pa.ArrowException as error:
            raise _Bad(f"{where} holds an invalid Arrow array: {one_line(error)}") from None
    elif isinstance(values, _ARRAYS.IntegerArray | _ARRAYS.FloatingArray | _ARRAYS.BooleanArray):
        data, mask = values._data, values._mask
        if not (isinstance(data, np.ndarray) and isinstance(mask, np.ndarray) and mask.dtype == bool
                and data.shape == mask.shape and data.dtype == values.dtype.numpy_dtype):
            raise _Bad(f"{where} has a mask that does not match its values")
    elif isinstance(values, _ARRAYS.IntervalArray):
        for side in (values._left, values._right):
            _check_values(side, where, budget)
    elif isinstance(values, _ARRAYS.SparseArray):  # its IntIndex/BlockIndex checks itself as it is made
        _check_values(values.sp_values, where, budget)


def _walk(values: Any, where: str, budget: list[int]) -> None:
    """Plain values and containers only, nested at most MAX_DEPTH deep, without cycles, at most
    ``budget[0]`` of them in all (shared references counted each time they are met): iterative, since a
    value nested 200,000 deep overflows any recursion."""
    on_path = {id(values)}
    stack: list[tuple[Iterator[Any], int]] = [(_children(values), id(values))]
    while stack:
        child = next(stack[-1][0], _walk)
        if child is _walk:
            on_path.discard(stack.pop()[1])
            continue
        budget[0] -= 1
        if budget[0] < 0:
            raise _Bad(f"{where} holds too many nested values")
        if isinstance(child, _CONTAINERS) or (isinstance(child, np.ndarray) and child.dtype.hasobject):
            if id(child) in on_path:
                raise _Bad(f"{where} holds a container inside itself (cycle)")
            if len(stack) >= MAX_DEPTH:
                raise _Bad(f"{where} holds values nested deeper than {MAX_DEPTH}")
            on_path.add(id(child))
            stack.append((_children(child), id(child)))
        elif isinstance(child, np.ndarray):
            if child.dtype.fields is not None or child.dtype.subdtype is not None:
                raise _Bad(f"{where} holds a structured numpy array")
        elif not (isinstance(child, _LEAVES) or child is pd.NA or child is pd.NaT):
            raise _Bad(f"{where} holds a {type(child).__module__}.{type(child).__qualname__}")


def _children(container: Any) -> Iterator[Any]:
    if isinstance(container, dict):
        return (item for pair in container.items() for item in pair)
    if isinstance(container, np.ndarray):
        return iter(container.ravel(order="K"))
    return iter(container) if isinstance(container, _CONTAINERS) else iter((container,))
