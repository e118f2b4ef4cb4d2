"""Checks on a loaded frame before anything reads it: allowed forms can still be inconsistent in ways that
read past memory (cells nested 200,000 deep or in themselves overflow the Arrow conversion; codes beyond
their values; a datetime array over another type's buffer; Arrow offsets beyond their buffers)."""

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
    """``obj`` if a DataFrame or Series safe to read: object values plain, at most MAX_DEPTH deep, without
    cycles; codes within their values; arrays of their dtype; Arrow valid. Else StorageError naming it."""
    frame = require_frame(obj, name)
    budget = [max(1 << 20, 16 * frame.size)]
    try:
        if isinstance(frame, pd.Series):
            columns = [("the series", frame._values)]
            _walk([frame.name], "the series name", budget)
        else:
            _check(frame.columns, "the column labels", budget)
            columns = [(f"column {label!r}" if isinstance(label, str) else f"column {position}",
                        frame._get_column_array(position)) for position, label in enumerate(frame.columns)]
        for where, values in [("the index", frame.index), *columns]:
            if len(values) != len(frame.index):
                raise _Bad(f"{where} has {len(values)} values for {len(frame.index)} rows")
            _check(values, where, budget)
        _walk(frame.attrs, "attrs", budget)
    except _Bad as bad:
        raise StorageError(f"{name}: refused to load: {bad}") from None
    except MemoryError:
        raise
    except Exception as error:  # a malformed frame: AttributeError, RecursionError (no _mgr), IndexError...
        raise StorageError(f"{name}: malformed frame: {type(error).__name__}: {one_line(error)}") from error
    return frame


def _check(values: Any, where: str, budget: list[int]) -> None:
    """One index's, column's or level's values: numpy, pandas extension or Arrow-backed arrays."""
    if isinstance(values, pd.Index):
        _walk(list(values.names), f"{where} names", budget)
    coded = zip(values.levels, values.codes, strict=True) if isinstance(values, pd.MultiIndex) else (
        [(values.categories, values.codes)] if isinstance(values, pd.Categorical) else [])
    for level, (labels, codes) in enumerate(coded):  # codes index their labels: pandas reads them unchecked
        if not isinstance(codes, np.ndarray) or codes.dtype.kind not in "iu" or len(codes) != len(values) \
                or (codes.size and (codes.min() < -1 or codes.max() >= len(labels))):
            raise _Bad(f"{where} level {level} has codes outside its {len(labels)} values")
        _check(labels, f"{where} level {level}", budget)
    if isinstance(values, pd.MultiIndex | pd.RangeIndex | pd.Categorical):
        return
    if isinstance(values, pd.Index):
        _check(values._values, where, budget)
    elif isinstance(values, np.ndarray):
        if values.dtype.fields is not None or values.dtype.subdtype is not None:
            raise _Bad(f"{where} is a structured numpy array")
        if values.dtype.hasobject and pd.api.types.infer_dtype(values, skipna=True) not in _FLAT:
            _walk(values, where, budget)
    elif isinstance(values, _ARRAYS.DatetimeArray | _ARRAYS.TimedeltaArray | _ARRAYS.PeriodArray):
        kind = "M" if isinstance(values, _ARRAYS.DatetimeArray) else "m"
        expected = np.dtype("i8") if isinstance(values, _ARRAYS.PeriodArray) else np.dtype(f"{kind}8[{values.unit}]")
        if not isinstance(values._ndarray, np.ndarray) or values._ndarray.dtype != expected:
            raise _Bad(f"{where} holds {values.dtype} values in a buffer of another type")
    elif isinstance(values, _ARRAYS.NumpyExtensionArray | _ARRAYS.StringArray):
        _check(values._ndarray, where, budget)
    elif isinstance(values, _ARRAYS.ArrowExtensionArray):
        if not isinstance(values._pa_array, pa.ChunkedArray) or not arrow_type_allowed(values._pa_array.type):
            raise _Bad(f"{where} holds an Arrow array of an unsupported type")
        try:
            values._pa_array.validate(full=True)
        except pa.ArrowException as error:
            raise _Bad(f"{where} holds an invalid Arrow array: {one_line(error)}") from None
    elif isinstance(values, _ARRAYS.IntegerArray | _ARRAYS.FloatingArray | _ARRAYS.BooleanArray):
        if values._data.shape != values._mask.shape or values._data.dtype != values.dtype.numpy_dtype:
            raise _Bad(f"{where} has a mask that does not match its values")


def _walk(values: Any, where: str, budget: list[int]) -> None:
    """Plain values and containers only, at most MAX_DEPTH deep, no cycles, ``budget[0]`` values in all
    (shared ones counted each time): iterative, as 200,000 levels overflow any recursion."""
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
