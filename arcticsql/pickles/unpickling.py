"""A restricted unpickler: only what pandas, numpy and pyarrow write for DataFrames and Series.

Allowed globals alone are not enough (they can still change a class for the whole process, or build arrays
over memory nobody filled), so :class:`SafeUnpickler`, the pure-Python ``pickle._Unpickler`` (a private name
used only here; tests/pickles/test_safe_pickle.py checks it), replaces REDUCE (only :data:`_CALLS`, in the
forms of :data:`_ARGUMENTS`: never ``ndarray()``, a tz file by path, ``bytearray(size)``), NEWOBJ (frames,
extension arrays, dtypes, zones) and BUILD (once, on an object this load made: never a class or a shared
``pytz.utc``; numpy states that fill their array, dtypes as numpy writes them). Arrow data is checked
before ``_restore_array`` builds it, then validated in full.
"""

from __future__ import annotations

import _compat_pickle
import collections
import copyreg
import datetime
import functools
import importlib
import inspect
import io
import math
import pickle
import zoneinfo
from typing import IO, Any

import dateutil.tz.tz as tz
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy._core.multiarray import _reconstruct
from pandas._libs.arrays import __pyx_unpickle_NDArrayBacked
from pandas._libs.interval import __pyx_unpickle_IntervalMixin
from pandas._libs.tslibs import offsets

from arcticsql.errors import StorageError, one_line

MAX_DEPTH = 64  # how deep values and Arrow children may nest (a frame's own pickle: about 12)


class UnsafePickleError(StorageError):
    """A pickle does something a pandas frame's pickle does not; it was not loaded."""


class _Refused(Exception):
    """Raised inside the unpickler; an UnsafePickleError naming the file outside."""


#: What a pickle may call (REDUCE), by module.
_CALLS = {
    "builtins": "slice complex set frozenset bytearray bytes getattr", "copyreg": "_reconstructor",
    "_codecs": "encode", "collections": "OrderedDict", "decimal": "Decimal",
    "datetime": "datetime date time timedelta timezone tzinfo", "pytz": "_p _UTC FixedOffset",
    "dateutil.tz.tz": "tzfile tzutc tzoffset tzlocal", "numpy": "dtype",
    "numpy._core.multiarray": "_reconstruct scalar", "numpy._core.numeric": "_frombuffer",
    "pandas._libs.internals": "_unpickle_block", "pandas._libs.arrays": "__pyx_unpickle_NDArrayBacked",
    "pandas._libs.interval": "Interval __pyx_unpickle_IntervalMixin", "pandas._libs.sparse": "IntIndex BlockIndex",
    "pandas._libs.tslibs.nattype": "__nat_unpickle", "pandas._libs.tslibs.timestamps": "_unpickle_timestamp",
    "pandas._libs.tslibs.timedeltas": "_timedelta_unpickle", "pandas._libs.tslibs.period": "Period",
    "pandas.core.internals.managers": "BlockManager", "pandas.core.indexes.base": "_new_Index",
    "pandas.core.indexes.datetimes": "_new_DatetimeIndex", "pandas.core.indexes.interval": "_new_IntervalIndex",
    "pandas.core.arrays.string_": "StringDtype", "pandas.core.dtypes.dtypes": "PeriodDtype",
    "pyarrow.lib": "_restore_array py_buffer type_for_alias field list_ large_list struct map_ dictionary timestamp "
                   "duration time32 time64 decimal128 decimal256 binary",
}
#: Other globals a pickle may name (as arguments or values), as may pandas' classes (its offsets are called).
_VALUES = {"builtins": "object", "datetime": "tzinfo", "zoneinfo": "ZoneInfo", "numpy": "ndarray",
           "dateutil.tz.tz": "_ttinfo", "pandas._libs.missing": "NA"}
_PANDAS = ("pandas.core.", "pandas._libs.")
#: numpy 1.x spellings of numpy 2 modules (Python 2 names are mapped by _compat_pickle)
_ALIASES = {"numpy.core.multiarray": "numpy._core.multiarray", "numpy.core.numeric": "numpy._core.numeric"}
#: What NEWOBJ (and copyreg._reconstructor) may make: not numpy arrays nor pandas' Cython-backed arrays.
_NEWABLE = (pd.core.generic.NDFrame, pd.core.internals.managers.SingleBlockManager,
            pd.core.arrays.masked.BaseMaskedArray, pd.arrays.ArrowExtensionArray, pd.arrays.SparseArray,
            pd.api.extensions.ExtensionDtype, tz.tzutc, tz.tzoffset, tz.tzlocal, tz._ttinfo)


@functools.cache
def _resolve(module: str, name: str) -> Any:
    """The object an allowed global names, else None."""
    listed = name in _CALLS.get(module, "").split() or name in _VALUES.get(module, "").split()
    if "." in name or not (listed or module.startswith(_PANDAS)) or module.startswith("pandas.core.computation"):
        return None
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    # beyond the lists, only classes pandas defines (never a function, nor what a pandas module imports)
    if listed or (isinstance(obj, type) and (obj.__module__ == "pandas" or obj.__module__.startswith(_PANDAS))):
        return obj
    return None


def _newable(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, _NEWABLE) and cls.__module__.startswith(("pandas.", "dateutil."))


def _is(value: Any, literal: Any) -> bool:
    return type(value) is type(literal) and value == literal


_CALLABLE = frozenset({_resolve(module, name) for module, names in _CALLS.items() for name in names.split()}
                      | {cls for cls in vars(offsets).values() if isinstance(cls, type)
                         and issubclass(cls, offsets.BaseOffset) and cls.__module__ == offsets.__name__}
                      | {zoneinfo.ZoneInfo._unpickle})  # reached through getattr, as ZoneInfo pickles do
#: The argument forms numpy and pandas write, for the callables where the values matter.
_ARGUMENTS = {
    _reconstruct: lambda a: len(a) == 3 and a[0] is np.ndarray and _is(a[1], (0,)) and _is(a[2], b"b"),
    np.dtype: lambda a: len(a) == 3 and type(a[0]) is str and a[1] is False and a[2] is True,  # a copy
    bytearray: lambda a: a == () or (len(a) == 1 and type(a[0]) is bytes),
    bytes: lambda a: a == (),
    set: lambda a: a == () or (len(a) == 1 and type(a[0]) in (list, tuple)),
    frozenset: lambda a: a == () or (len(a) == 1 and type(a[0]) in (list, tuple)),
    collections.OrderedDict: lambda a: a == (),
    _resolve("_codecs", "encode"): lambda a: len(a) == 2 and type(a[0]) is str and _is(a[1], "latin1"),
    tz.tzfile: lambda a: len(a) == 2 and a[0] is None and type(a[1]) is str,  # never a path to open
    getattr: lambda a: len(a) == 2 and a[0] is zoneinfo.ZoneInfo and _is(a[1], "_unpickle"),
    __pyx_unpickle_NDArrayBacked: lambda a: len(a) == 3 and a[2] is None,  # the state comes by BUILD
    __pyx_unpickle_IntervalMixin: lambda a: len(a) == 3 and a[2] is None,
    copyreg._reconstructor: lambda a: len(a) == 3 and _newable(a[0]) and (
        (a[1] is object and a[2] is None) or (a[1] is datetime.tzinfo and type(a[2]) is datetime.tzinfo)),
}
#: Callables whose results are new objects, which BUILD may then set up.
_FRESH = frozenset({_reconstruct, np.dtype, copyreg._reconstructor, tz.tzfile, __pyx_unpickle_NDArrayBacked,
                    __pyx_unpickle_IntervalMixin})


def _show(obj: Any) -> str:
    """A short description for messages: a global's dotted name, else the value's type."""
    if isinstance(obj, type) or inspect.isroutine(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    return f"{type(obj).__module__}.{type(obj).__qualname__}".removeprefix("builtins.")


class SafeUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with the checks of the module docstring; ``name`` goes into errors."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: IO[bytes], name: str) -> None:
        super().__init__(file)
        self.name = name
        self._fresh: dict[int, Any] = {}  # id -> an object this load made and has not built yet

    def find_class(self, module: str, name: str) -> Any:
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        module = _ALIASES.get(module, module)
        obj = _resolve(module, name)
        if obj is None:
            raise UnsafePickleError(f"{self.name}: refused to unpickle global {module}.{name} "
                                    "(not a pandas/numpy/datetime type; allow_unsafe_pickle admits it)")
        return obj

    def load(self) -> Any:
        try:
            return super().load()
        except _Refused as refused:
            raise UnsafePickleError(f"{self.name}: refused to unpickle: {refused}") from None

    def _reduce(self) -> None:
        args, func = self.stack.pop(), self.stack[-1]
        try:
            check = _ARGUMENTS.get(func)
            allowed = func in _CALLABLE and type(args) is tuple and (check is None or check(args))
        except Exception:  # noqa: BLE001 - unhashable, or odd argument values (arrays compared...)
            allowed = False
        if not allowed:
            shown = ", ".join(map(_show, args)) if type(args) is tuple else _show(args)
            raise _Refused(f"{_show(func)}({shown}): not a call numpy/pandas pickles make")
        made = self.stack[-1] = _restore_array(*args) if func is pa.lib._restore_array else func(*args)
        if func is np.dtype and (made.fields is not None or made.subdtype is not None):
            raise _Refused("a structured or subarray numpy dtype")
        if func in _FRESH:
            self._fresh[id(made)] = made

    def _newobj(self) -> None:
        args, cls = self.stack.pop(), self.stack.pop()
        if args != () or not _newable(cls):
            raise _Refused(f"NEWOBJ of {_show(cls)}")
        made = cls.__new__(cls)
        self._fresh[id(made)] = made
        self.append(made)

    def _build(self) -> None:
        state, target = self.stack[-1], self.stack[-2]
        if self._fresh.pop(id(target), None) is not target:
            raise _Refused(f"BUILD on {_show(target)} (only once, on an object this file made)")
        if isinstance(target, np.ndarray):  # ([version,] shape, dtype, fortran, data): data fills the array
            if type(state) is not tuple or len(state) not in (4, 5) or type(state[-4]) is not tuple \
                    or not all(type(n) is int and n >= 0 for n in state[-4]) or not isinstance(state[-3], np.dtype):
                raise _Refused("a malformed numpy array state")
            count, objects, data = math.prod(state[-4]), state[-3].hasobject, state[-1]
            if objects and (type(data) is not list or len(data) != count):
                size = len(data) if type(data) is list else "no"
                raise _Refused(f"an object array of {count} elements with {size} values (uninitialised memory)")
            if not objects and not isinstance(data, (bytes, bytearray)):  # numpy checks their length
                raise _Refused("a numpy array state without its bytes")
        elif isinstance(target, np.dtype) and not (type(state) is tuple and len(state) in (8, 9) and state[2:5]
                                                   == (None, None, None) and state[5:8] == target.__reduce__()[2][5:8]):
            raise _Refused(f"a state numpy does not write for a {target.str} dtype (structured, or forged sizes)")
        elif isinstance(target, tz.tzfile):
            _check_zone(state)
        pickle._Unpickler.load_build(self)

    def _refuse_opcode(self) -> None:
        raise _Refused("an opcode pandas pickles do not use (INST, OBJ or NEWOBJ_EX)")


for _code, _handler in ((pickle.REDUCE, SafeUnpickler._reduce), (pickle.NEWOBJ, SafeUnpickler._newobj),
                        (pickle.BUILD, SafeUnpickler._build), (pickle.INST, SafeUnpickler._refuse_opcode),
                        (pickle.OBJ, SafeUnpickler._refuse_opcode), (pickle.NEWOBJ_EX, SafeUnpickler._refuse_opcode)):
    SafeUnpickler.dispatch[_code[0]] = _handler


_ARROW_REFUSED = ("union", "run_end_encoded", "string_view", "binary_view", "list_view", "large_list_view")


def arrow_type_allowed(kind: pa.DataType, depth: int = 0) -> bool:
    """Whether ``validate(full=True)`` checks a type's layout without crashing: no views (a forged
    string_view crashes it), unions, run-end encoding or extension types."""
    if depth > MAX_DEPTH or isinstance(kind, pa.BaseExtensionType) or any(
            getattr(pa.types, f"is_{name}")(kind) for name in _ARROW_REFUSED):
        return False
    inner = [kind.index_type, kind.value_type] if pa.types.is_dictionary(kind) else []
    return all(arrow_type_allowed(child, depth + 1) for child in [*inner, *(kind.field(i).type for i in range(kind.num_fields))])


def _restore_array(data: Any) -> pa.Array:
    """``pyarrow.lib._restore_array`` once its ArrayData has the buffers and children its type has (too few
    crash it, deep children overflow it); then validated in full (forged offsets would read the heap)."""
    pending = [(data, None, 0)]
    while pending:
        node, expected, depth = pending.pop()
        if depth > MAX_DEPTH or type(node) is not tuple or len(node) != 7:
            raise _Refused("malformed or too deeply nested Arrow array data")
        kind, length, nulls, offset, buffers, children, dictionary = node
        if not isinstance(kind, pa.DataType) or not arrow_type_allowed(kind) or (expected and kind != expected):
            raise _Refused(f"an Arrow array of type {kind}")
        if not all(type(n) is int for n in (length, nulls, offset)) or min(length, offset, nulls + 1) < 0 \
                or type(buffers) is not list or len(buffers) != kind.num_buffers or type(children) is not list \
                or len(children) != kind.num_fields or (dictionary is not None) != pa.types.is_dictionary(kind) \
                or not all(b is None or isinstance(b, pa.Buffer) for b in buffers):
            raise _Refused(f"an Arrow {kind} array without the lengths, {kind.num_buffers} buffers and "
                           f"{kind.num_fields} children its type has")
        pending += [(child, kind.field(i).type, depth + 1) for i, child in enumerate(children)]
        if dictionary is not None:
            pending.append((dictionary, kind.value_type, depth + 1))
    array = pa.lib._restore_array(data)
    try:
        array.validate(full=True)
    except pa.ArrowException as error:
        raise _Refused(f"an invalid Arrow array: {error}") from None
    return array


def _check_zone(state: Any) -> None:
    """A dateutil zone's state named as a zone of this system must be that zone's: pandas caches a zone's
    transitions for the whole process under its file name, so a forged one would change every later
    conversion to the real zone."""
    if type(state) is not dict or type(state.get("_filename")) is not str:
        raise _Refused("a dateutil zone's state that dateutil does not write")
    name = state["_filename"]
    system = tz.gettz(name.rsplit("zoneinfo/", 1)[-1]) if name else None
    if isinstance(system, tz.tzfile) and system._filename == name and vars(system) != state:
        raise _Refused(f"a dateutil zone named {name!r} whose transitions are not this system's")


def load_pickle(source: str | bytes, name: str, *, allow_unsafe: bool = False) -> Any:
    """One object unpickled from bytes or a local file's path; errors name the file (``name``)."""
    try:
        if isinstance(source, str):
            with open(source, "rb") as stream:
                source = stream.read()
        return pickle.loads(source) if allow_unsafe else SafeUnpickler(io.BytesIO(source), name).load()
    except StorageError:
        raise
    except OSError as error:
        raise StorageError(f"cannot read {name}: {error.strerror}") from None
    except MemoryError:
        raise StorageError(f"{name}: out of memory while unpickling") from None
    except Exception as error:  # UnpicklingError, EOFError, and whatever a constructor raised
        raise StorageError(f"{name}: cannot unpickle: {type(error).__name__}: {one_line(error)}") from error


def require_frame(obj: Any, name: str) -> Any:
    """``obj`` if it is a pandas DataFrame or Series, else StorageError naming the file and the type."""
    if isinstance(obj, pd.DataFrame | pd.Series):
        return obj
    raise StorageError(f"{name} holds a {type(obj).__module__}.{type(obj).__qualname__}, "
                       "not a pandas DataFrame or Series")
