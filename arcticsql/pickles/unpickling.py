"""A restricted unpickler: only the globals pandas DataFrames and Series of common dtypes need.

Unpickling runs whatever callables a file names, so a file from elsewhere could run ``os.system``. The
:class:`SafeUnpickler` resolves a global only if it is

- one of a few exact stdlib, numpy, pyarrow, pytz and dateutil names (datetime types, ``decimal.Decimal``,
  ``numpy.dtype``, ``numpy...multiarray._reconstruct``, ``zoneinfo.ZoneInfo``, ...);
- a class defined in ``pandas.core``/``pandas._libs``, one of pandas' own unpickle helpers (``_new_Index``,
  ``_unpickle_block``, ``__pyx_unpickle_*``, ...), or the ``NA``/``NaT`` singletons — never a dotted name
  (that would reach methods such as ``DataFrame.to_pickle``), never something a pandas module merely
  imports from elsewhere, never ``pandas.core.computation`` (expression evaluation).

``builtins.getattr`` is admitted only for the one lookup ``ZoneInfo`` pickles use (``ZoneInfo._unpickle``),
and ``copyreg._reconstructor`` only with ``object`` as the base. Anything else raises
:class:`UnsafePickleError` naming the file and the refused ``module.name``.
"""

from __future__ import annotations

import _compat_pickle
import copyreg
import importlib
import io
import pickle
import re
from typing import IO, Any

from arcticsql.errors import StorageError


class UnsafePickleError(StorageError):
    """A pickle names a global outside the allow-list; it was not loaded."""


_EXACT: dict[str, frozenset[str]] = {
    "builtins": frozenset({
        "slice", "complex", "set", "frozenset", "range", "bytearray", "bytes", "list", "dict", "tuple",
        "int", "float", "str", "bool", "object", "NotImplemented", "Ellipsis",
    }),
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "collections": frozenset({"OrderedDict"}),
    "_codecs": frozenset({"encode"}),  # bytes in protocol 2 pickles
    "zoneinfo": frozenset({"ZoneInfo"}),
    "pytz": frozenset({"_p", "_UTC", "UTC", "utc"}),
    "dateutil.tz.tz": frozenset({"tzutc", "tzoffset", "tzlocal", "tzfile"}),
    "dateutil.tz._tzfile": frozenset({"tzfile", "_unpickle"}),
    "numpy": frozenset({"dtype", "ndarray"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    # pyarrow-backed columns (string[pyarrow], int64[pyarrow], ...): arrays, buffers and type factories
    "pyarrow.lib": frozenset({
        "_restore_array", "py_buffer", "type_for_alias", "field", "schema", "null", "bool_", "int8", "int16",
        "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64", "string",
        "large_string", "binary", "large_binary", "fixed_size_binary", "date32", "date64", "time32", "time64",
        "timestamp", "duration", "month_day_nano_interval", "decimal128", "decimal256", "list_", "large_list",
        "struct", "map_", "dictionary",
    }),
}

_PANDAS_PREFIXES = ("pandas.core.", "pandas._libs.")
_PANDAS_DENIED = ("pandas.core.computation",)
_PANDAS_HELPER = re.compile(r"_+(?:new_|unpickle|pyx_unpickle|nat_unpickle)\w*|\w*_unpickle")
_NUMPY_DTYPES = "numpy.dtypes"  # numpy 2 pickles some dtypes as numpy.dtypes.Float64DType etc.


#: find_class answers by (module, name), None for refused: resolving is pure, and a file names the same
#: dozen globals again and again.
_RESOLVED: dict[tuple[str, str], Any] = {}


def _in_pandas(module: str) -> bool:
    return module.startswith(_PANDAS_PREFIXES) and not module.startswith(_PANDAS_DENIED)


def _safe_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` limited to the lookup ZoneInfo pickles use."""
    from zoneinfo import ZoneInfo

    if obj is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle
    raise pickle.UnpicklingError(f"getattr({getattr(obj, '__name__', type(obj).__name__)}, {name!r}) is not allowed")


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` for plain classes only (base ``object``)."""
    if base is not object:
        raise pickle.UnpicklingError(f"copyreg._reconstructor with base {base!r} is not allowed")
    return copyreg._reconstructor(cls, base, state)


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only the allow-list above."""

    def __init__(self, file: IO[bytes], name: str) -> None:
        super().__init__(file)
        self.name = name

    def find_class(self, module: str, name: str) -> Any:
        # protocol 0-2 pickles use Python 2 names (__builtin__, copy_reg)
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in _RESOLVED:
            resolved = _RESOLVED[key]
        else:
            resolved = _RESOLVED[key] = self._resolve(module, name)
        if resolved is None:
            raise UnsafePickleError(f"{self.name}: refused to unpickle global {module}.{name} "
                                    "(not a pandas/numpy/datetime type; allow_unsafe_pickle admits it)")
        return resolved

    @classmethod
    def _resolve(cls, module: str, name: str) -> Any | None:
        if "." in name:
            return None
        if module == "builtins" and name == "getattr":
            return _safe_getattr
        if module == "copyreg" and name == "_reconstructor":
            return _safe_reconstructor
        allowed = name in _EXACT.get(module, ()) or (module == _NUMPY_DTYPES and name.endswith("DType"))
        if not allowed and not _in_pandas(module):
            return None
        try:
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None
        if allowed:
            return obj if module != _NUMPY_DTYPES or isinstance(obj, type) else None
        return obj if cls._pandas_object_allowed(obj, name) else None

    @staticmethod
    def _pandas_object_allowed(obj: Any, name: str) -> bool:
        import pandas

        if obj is pandas.NA or obj is pandas.NaT:
            return True
        defined_in = getattr(obj, "__module__", None)
        if not isinstance(defined_in, str):
            return False
        if isinstance(obj, type):  # public classes may report plain "pandas"
            return defined_in == "pandas" or _in_pandas(defined_in + ".")
        # a function must be pandas' own (not one a pandas module imports) and an unpickle helper
        return callable(obj) and _in_pandas(defined_in + ".") and _PANDAS_HELPER.fullmatch(name) is not None


def load_pickle(stream: IO[bytes], name: str, *, allow_unsafe: bool = False) -> Any:
    """Unpickle one object from ``stream``; ``name`` (the file's location) goes into every error message."""
    try:
        if allow_unsafe:
            return pickle.load(stream)
        return SafeUnpickler(stream, name).load()
    except StorageError:
        raise
    except Exception as error:  # UnpicklingError, EOFError, and whatever a constructor raised
        raise StorageError(f"{name}: cannot unpickle: {type(error).__name__}: {error}") from error


def loads_pickle(data: bytes, name: str, *, allow_unsafe: bool = False) -> Any:
    """:func:`load_pickle` from bytes."""
    return load_pickle(io.BytesIO(data), name, allow_unsafe=allow_unsafe)


def require_frame(obj: Any, name: str) -> Any:
    """``obj`` if it is a pandas DataFrame or Series, else StorageError naming the file and the type."""
    import pandas

    if isinstance(obj, pandas.DataFrame | pandas.Series):
        return obj
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    raise StorageError(f"{name} holds a {kind}, not a pandas DataFrame or Series")
