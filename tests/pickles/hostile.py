"""Crafted pickles that really do what their names say to an unchecked loader (adapted from the research
corpus in /work/research/pickles/corpus.py, where each claim was verified against the code before the
checks): ``HOSTILE`` maps a name to a builder of the file's bytes. ``unsafe_crash``/``unsafe_sleep``/
``unsafe_memory`` run code, and load only with ``allow_unsafe_pickle``: they stand for whatever a future hole
lets through, for the sandbox to contain."""

from __future__ import annotations

import io
import pickle
import pickletools
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy._core.multiarray import _reconstruct
from pandas._libs.internals import _unpickle_block
from pandas.core.internals.blocks import Block

PROTO2, STOP, MARK, POP, DUP, BUILD, REDUCE = b"\x80\x02", b".", b"(", b"0", b"2", b"b", b"R"
EMPTY_LIST, APPEND, APPENDS, EMPTY_DICT, SETITEM, NONE, TUPLE = b"]", b"a", b"e", b"}", b"s", b"N", b"t"


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def i(value: int) -> bytes:
    if -2**31 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def s(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text.encode())) + text.encode()


def call(func: bytes, *args: bytes) -> bytes:
    return func + MARK + b"".join(args) + TUPLE + REDUCE


def unframed(data: bytes) -> bytes:
    """``data`` without its FRAME opcodes (optional for a reader), so that positions can be spliced."""
    out, last = [], 0
    for op, _arg, pos in pickletools.genops(data):
        if op.name == "FRAME":
            out.append(data[last:pos])
            last = pos + 9
    return b"".join([*out, data[last:]])


def replaced(data: bytes, sentinel: str, replacement: bytes) -> bytes:
    """``data`` with the opcode pushing the string ``sentinel`` replaced by ``replacement``."""
    data = unframed(data)
    for op, arg, pos in pickletools.genops(data):
        if arg == sentinel and op.name == "SHORT_BINUNICODE":
            return data[:pos] + replacement + data[pos + 2 + len(sentinel.encode()):]
    raise ValueError(sentinel)


def pickled(obj: object, override=lambda value: NotImplemented, protocol: int = 4) -> bytes:
    """``obj`` pickled, ``override(value)`` giving a value's reduce tuple where it is not NotImplemented."""
    class Pickler(pickle.Pickler):
        def reducer_override(self, value: object) -> object:
            return override(value)

    stream = io.BytesIO()
    Pickler(stream, protocol=protocol).dump(obj)
    return stream.getvalue()


class Reduce:
    def __init__(self, *reduce: object) -> None:
        self.reduce = reduce

    def __reduce__(self) -> tuple:
        return self.reduce


def object_cell(replacement: bytes) -> bytes:
    """A frame whose object column's first cell is what ``replacement`` pushes."""
    frame = pd.DataFrame({"x": pd.Series(["__CELL__", "b"], dtype=object), "y": [1.0, 2.0]})
    return replaced(pickled(frame), "__CELL__", replacement)


def prefixed(mutation: bytes, frame: pd.DataFrame | None = None) -> bytes:
    """``mutation`` (opcodes leaving one value), popped, then a valid frame: the file loads as a frame."""
    body = unframed(pickled(frame if frame is not None else pd.DataFrame({"a": [1.0, 2.0]})))
    return body[:2] + mutation + POP + body[2:]


def with_block_values(values: object, rows: int) -> bytes:
    """A one-column frame whose block values pickle as ``values``."""
    frame = pd.DataFrame({"v": np.zeros(rows)})
    return pickled(frame, lambda v: (_unpickle_block, (values, slice(0, 1, 1), 2)) if isinstance(v, Block)
                   else NotImplemented)


def string_array(forged: object) -> bytes:
    """A string[pyarrow] column whose Arrow array data is ``forged``."""
    frame = pd.DataFrame({"s": pd.array(["ab", "cd"], dtype="string[pyarrow]")})
    return pickled(frame, lambda v: (pa.lib._restore_array, (forged,))
                   if isinstance(v, pa.Array) and v.type in (pa.string(), pa.large_string()) else NotImplemented)


def deep_children(depth: int = 20_000) -> bytes:
    """Arrow array data whose children nest ``depth`` deep (pyarrow's restore recurses: a crash)."""
    int64 = call(g("pyarrow.lib", "type_for_alias"), s("int64"))
    leaf = MARK + int64 + i(1) + i(0) + i(0) + EMPTY_LIST + MARK + NONE + call(
        g("pyarrow.lib", "py_buffer"), b"B" + struct.pack("<I", 8) + b"\0" * 8) + APPENDS + EMPTY_LIST + NONE + TUPLE
    head = MARK + int64 + i(1) + i(0) + i(0) + EMPTY_LIST + MARK + NONE + NONE + APPENDS + EMPTY_LIST
    return replaced(string_array("__KIDS__"), "__KIDS__", head * depth + leaf + (APPEND + NONE + TUPLE) * depth)


def multiindex_codes_past_levels() -> bytes:
    index = pd.MultiIndex.from_arrays([np.arange(64) + 0.5, np.arange(64)], names=["k", "n"])
    reducer, (cls, state), *_ = index.__reduce__()
    forged = dict(state, levels=[pd.Index([0.5, 1.5]), state["levels"][1]],
                  codes=[np.arange(64, dtype=np.int8), np.arange(64, dtype=np.int8)])
    return pickled(pd.DataFrame({"v": np.ones(64)}, index=index),
                   lambda v: (reducer, (cls, forged)) if v is index else NotImplemented)


def categorical_codes_past_categories() -> bytes:
    def override(value: object) -> object:
        if isinstance(value, pd.Categorical):
            func, args, (dtype, _codes, extra) = value.__reduce__()
            return func, args, (dtype, np.array([0, 100], dtype=np.int8), extra)
        return NotImplemented
    return pickled(pd.DataFrame({"c": pd.Categorical(["a", "b"])}), override)


def structured_offset() -> bytes:
    """A cell holding a structured array whose dtype state puts field 'b' 100,000 bytes into a 12-byte item."""
    dtype = np.dtype([("a", "<f8"), ("b", "<i4")])
    forged = (3, "|", None, ("a", "b"), {"a": (np.dtype("<f8"), 0), "b": (np.dtype("<i8"), 100_000)}, 12, 1, 16)
    frame = pd.DataFrame({"o": pd.Series([np.zeros(2, dtype=dtype), None], dtype=object)})
    return pickled(frame, lambda v: (np.dtype, ("V12", False, True), forged)
                   if isinstance(v, np.dtype) and v == dtype else NotImplemented)


def object_short_state() -> bytes:
    """An object array of 3 elements from a 1-item list: numpy fills two slots with stray pointers."""
    return with_block_values(Reduce(_reconstruct, (np.ndarray, (0,), b"b"),
                                    (1, (1, 3), np.dtype("O"), False, ["first"])), 3)


def tzfile_path() -> bytes:
    import datetime

    import dateutil.tz

    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=2, tz="UTC")})
    return pickled(frame, lambda v: (dateutil.tz.tzfile, ("/etc/passwd",))
                   if isinstance(v, datetime.timezone) else NotImplemented)


HOSTILE = {
    "deep_nesting": lambda: object_cell(EMPTY_LIST * 200_000 + APPEND * 199_999),
    "cycle": lambda: object_cell(EMPTY_LIST + DUP + APPEND),
    "class_mutation": lambda: prefixed(g("pandas.core.indexes.base", "Index") + MARK + NONE + EMPTY_DICT
                                       + s("names") + EMPTY_LIST + s("poisoned") + APPEND + SETITEM + TUPLE + BUILD),
    "class_mutation_len": lambda: prefixed(g("pandas.core.indexes.range", "RangeIndex") + MARK + NONE + EMPTY_DICT
                                           + s("__len__") + g("builtins", "int") + SETITEM + TUPLE + BUILD,
                                           pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index([10, 20]))),
    "shared_instance_mutation": lambda: prefixed(g("pytz", "utc") + EMPTY_DICT + s("zone") + s("Poisoned") + SETITEM
                                                 + BUILD),
    "singleton_mutation": lambda: prefixed(call(g("pytz", "_UTC")) + EMPTY_DICT + s("zone") + s("Poisoned") + SETITEM
                                           + BUILD),
    "restore_array_out_of_bounds": lambda: string_array(
        (pa.string(), 2, 0, 0, [None, pa.py_buffer(np.array([0, 2000, 2], np.int32).tobytes()), pa.py_buffer(b"ab")],
         [], None)),
    "restore_array_few_buffers": lambda: string_array((pa.string(), 2, 0, 0, [None], [], None)),
    "restore_array_deep_children": deep_children,
    "bytearray_3gib": lambda: PROTO2 + call(g("builtins", "bytearray"), i(3 * 2**30)) + STOP,
    "tuple_range": lambda: PROTO2 + call(g("builtins", "tuple"), call(g("builtins", "range"), i(10**8))) + STOP,
    "numpy_uninitialised": lambda: with_block_values(Reduce(_reconstruct, (np.ndarray, (1, 4096), b"b")), 4096),
    "numpy_ndarray_call": lambda: with_block_values(Reduce(np.ndarray, ((1, 4096), "b")), 4096),
    "numpy_object_short_state": object_short_state,
    "numpy_structured_offset": structured_offset,
    "multiindex_codes_oob": multiindex_codes_past_levels,
    "categorical_codes_oob": categorical_codes_past_categories,
    "tzfile_path": tzfile_path,
    "memo_index_bomb": lambda: PROTO2 + NONE + b"r" + struct.pack("<I", 2**28) + STOP,
    "os_system": lambda: PROTO2 + call(g("os", "system"), s("true")) + STOP,
    "not_a_frame": lambda: pickle.dumps({"a": [1, 2, 3]}),
    "truncated": lambda: pickle.dumps(pd.DataFrame({"a": np.arange(100.0)}))[:300],
}

def sleeper(marker: str = "") -> bytes:
    """Sleeps a minute, having made the folder ``marker`` (when given) to say it has begun."""
    begun = call(g("os", "mkdir"), s(marker)) + POP if marker else b""
    return PROTO2 + begun + call(g("time", "sleep"), i(60)) + STOP


#: Files that run code when loaded with allow_unsafe_pickle: a segfault, a hang, a huge allocation.
UNSAFE = {
    "unsafe_crash": lambda: PROTO2 + call(g("ctypes", "string_at"), i(1)) + STOP,
    "unsafe_sleep": sleeper,
    "unsafe_memory": lambda: PROTO2 + call(g("builtins", "bytearray"), i(3 * 2**30)) + STOP,
}
