"""The restricted unpickler: DataFrames of common dtypes load; anything that could run code is refused."""

from __future__ import annotations

import collections
import copyreg
import datetime
import decimal
import io
import pickle
import zoneinfo

import numpy as np
import pandas as pd
import pytest
import pytz

from arcticsql.pickles import StorageError, UnsafePickleError, read_pickle_table
from arcticsql.pickles.unpickling import load_pickle
from tests.pickles.samples import Exploit

IDX = pd.date_range("2024-01-01", periods=4, freq="D")

FRAMES = {
    "datetime_index": pd.DataFrame({"Open": np.arange(4.0), "Volume": np.arange(4)}, index=IDX),
    "tz_index_str": pd.DataFrame({"a": np.arange(4.0)}, index=IDX.tz_localize("Asia/Kolkata")),
    "tz_index_pytz": pd.DataFrame({"a": np.arange(4.0)}, index=IDX.tz_localize(pytz.timezone("US/Eastern"))),
    "tz_index_zoneinfo": pd.DataFrame({"a": np.arange(4.0)},
                                      index=IDX.tz_localize(zoneinfo.ZoneInfo("Europe/London"))),
    "tz_index_utc": pd.DataFrame({"a": np.arange(4.0)}, index=IDX.tz_localize(datetime.timezone.utc)),
    "multiindex": pd.DataFrame({"a": range(4)},
                               index=pd.MultiIndex.from_product([["x", "y"], [1, 2]], names=["s", "n"])),
    "categorical": pd.DataFrame({"c": pd.Categorical(["a", "b", "a", None])}),
    "objects": pd.DataFrame({"s": ["a", "b", None, "d"],
                             "ts": [pd.Timestamp("2024-01-01"), pd.NaT, pd.Timestamp("2024-01-03"),
                                    pd.Timestamp("2024-01-04", tz="UTC")],
                             "td": [pd.Timedelta("1D"), pd.NaT, pd.Timedelta(5), pd.Timedelta("2h")],
                             "mixed": [datetime.date(2024, 1, 1), decimal.Decimal("1.5"), 1 + 2j,
                                       collections.OrderedDict(a=1)]}),
    "string_dtypes": pd.DataFrame({"s": pd.array(["a", None, "c", "d"], dtype="string"),
                                   "p": pd.array(["a", "b", None, "d"], dtype="string[pyarrow]")}),
    "nullable": pd.DataFrame({"i": pd.array([1, None, 3, 4], dtype="Int64"),
                              "b": pd.array([True, None, False, True], dtype="boolean"),
                              "f": pd.array([1.5, None, 2.5, 3.5], dtype="Float64")}),
    "period": pd.DataFrame({"p": pd.period_range("2024-01", periods=4, freq="M")},
                           index=pd.period_range("2024-01-01", periods=4, freq="D")),
    "timedelta_index": pd.DataFrame({"a": range(4)}, index=pd.to_timedelta(range(4), unit="s")),
    "small_ints_floats": pd.DataFrame({"f": np.arange(4, dtype="float32"), "u": np.arange(4, dtype="uint8"),
                                       "b": [True, False, True, False]}),
    "dates_and_bytes": pd.DataFrame({"ExpiryDate": pd.to_datetime(["2024-01-25"] * 4).date,
                                     "raw": [b"a", b"b", bytearray(b"c"), None]}),
    "interval": pd.DataFrame({"iv": pd.interval_range(0, 4)}),
    "pyarrow_dtypes": pd.DataFrame({"x": pd.array([1, 2, None, 4], dtype="int64[pyarrow]")}),
}


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("name", sorted(FRAMES))
def test_common_frames_load_as_plain_pickle_would(name, protocol):
    frame = FRAMES[name]
    frame.attrs["version"] = "1.0"
    data = pickle.dumps(frame, protocol=protocol)
    back = load_pickle(data, name)
    pd.testing.assert_frame_equal(back, pickle.loads(data))
    assert back.attrs == {"version": "1.0"}


@pytest.mark.parametrize("obj", [
    pd.Series([1.0, 2.0], name="x"), pd.Timestamp("2024-01-01", tz="Asia/Kolkata"), pd.Timedelta("1D"),
    pd.Period("2024-01", "M"), pd.NaT, pd.NA, np.float64(1.5), np.datetime64("2024-01-01"),
    {"a": [1, (2, 3)], "b": {4, 5}, "c": frozenset([6]), "e": slice(1, 2)},
])
def test_scalars_and_containers(obj):
    data = pickle.dumps(obj, protocol=2)
    back = load_pickle(data, "x.pkl")
    if isinstance(obj, pd.Series):
        pd.testing.assert_series_equal(back, obj)
    elif obj is pd.NaT or obj is pd.NA:
        assert back is obj
    else:
        assert back == obj


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(pd.DataFrame({"a": [1, 2], "evil": [Exploit(marker), None]}))
    # the exploit is real: plain pickle runs it
    pickle.loads(pickle.dumps(Exploit(tmp_path / "control")))
    assert (tmp_path / "control").exists()

    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*(posix|os)\.system") as raised:
        load_pickle(payload, "evil.pkl")
    assert isinstance(raised.value, StorageError)
    assert not marker.exists()


def test_malicious_file_in_a_store_is_refused(store, tmp_path):
    marker = tmp_path / "pwned-store"
    store.save(Exploit(marker), "index/nifty/gbm/20230901_000000_evil.pkl")
    with pytest.raises(UnsafePickleError, match="20230901_000000_evil.pkl"):
        store.load("index/nifty/gbm/20230901_000000_evil.pkl")
    with pytest.raises(UnsafePickleError, match="20230901_000000_evil.pkl"):
        read_pickle_table(store, "index/**/*.pkl")
    assert not marker.exists()


def _pickle_global(module: str, name: str, args: tuple) -> bytes:
    """A hand-made pickle calling module.name(*args) (protocol 4 STACK_GLOBAL + REDUCE)."""
    body = pickle.dumps(args, protocol=4)[11:-1]  # the args tuple without header/frame/STOP
    return (b"\x80\x04" + b"\x8c" + bytes([len(module)]) + module.encode()
            + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93" + body + b"R.")


@pytest.mark.parametrize(("module", "name", "args"), [
    ("builtins", "eval", ("1+1",)),
    ("builtins", "exec", ("x=1",)),
    ("builtins", "__import__", ("os",)),
    ("builtins", "open", ("/etc/passwd",)),
    ("subprocess", "check_output", (["true"],)),
    ("os", "system", ("true",)),
    ("posix", "system", ("true",)),
    ("pandas.core.frame", "DataFrame.to_pickle", ()),       # a dotted name reaches methods
    ("pandas.core.computation.eval", "eval", ("1+1",)),      # expression evaluation
    ("pandas.core.frame", "np", ()),                         # a module a pandas module imports
    ("pandas.core.common", "apply_if_callable", (len, [1])),  # a pandas function that is no unpickle helper
    ("pandas.io.pickle", "read_pickle", ("/tmp/x",)),
    ("numpy", "load", ("/tmp/x",)),
    ("numpy.lib.npyio", "load", ("/tmp/x",)),
    ("pickle", "loads", (b"",)),
])
def test_refused_globals_name_module_and_name(module, name, args):
    data = _pickle_global(module, name, args)
    with pytest.raises(UnsafePickleError, match=f"bad.pkl: refused to unpickle global {module}.{name}"):
        load_pickle(data, "bad.pkl")


def test_getattr_only_for_zoneinfo():
    assert load_pickle(pickle.dumps(zoneinfo.ZoneInfo("Asia/Tokyo")), "z") == zoneinfo.ZoneInfo("Asia/Tokyo")

    class Sneaky:
        def __reduce__(self):
            return (getattr, (pd.DataFrame, "to_pickle"))  # DataFrame itself is allowed

    with pytest.raises(UnsafePickleError, match=r"g\.pkl: refused to unpickle: builtins\.getattr\(pandas\.core\.frame\.DataFrame, str\): not a call"):
        load_pickle(pickle.dumps(Sneaky()), "g.pkl")


def test_copyreg_reconstructor_needs_object_base():
    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, protocol=0)
    pickler.dump(copyreg._reconstructor)  # resolves as a global: copy_reg._reconstructor
    # a crafted call: copyreg._reconstructor(DataFrame, tzinfo, 5) would run tzinfo.__new__(DataFrame, 5)
    data = b"ccopy_reg\n_reconstructor\n(cpandas.core.frame\nDataFrame\ncdatetime\ntzinfo\nI5\ntR."
    with pytest.raises(UnsafePickleError, match=r"_reconstructor\(pandas\.core\.frame\.DataFrame, datetime\.tzinfo, "
                                                r"int\): not a call"):
        load_pickle(data, "r.pkl")
    frame = FRAMES["datetime_index"]
    pd.testing.assert_frame_equal(load_pickle(pickle.dumps(frame, protocol=0), "r.pkl"), frame)


class Custom:
    """A class of the test module: not on the allow-list."""

    def __init__(self, value):
        self.value = value


def test_allow_unsafe_admits_anything(store):
    store.save(Custom(7), "custom.pkl")
    with pytest.raises(UnsafePickleError, match=r"custom\.pkl.*test_safe_pickle\.Custom"):
        store.load("custom.pkl")
    assert store.load("custom.pkl", allow_unsafe=True).value == 7
    store.allow_unsafe = True
    assert store.load("custom.pkl").value == 7


def test_truncated_pickle_is_a_storage_error():
    data = pickle.dumps(FRAMES["datetime_index"])
    with pytest.raises(StorageError, match="short.pkl: cannot unpickle"):
        load_pickle(io.BytesIO(data[: len(data) // 2]), "short.pkl")


def test_non_frame_is_refused_where_a_table_is_needed(store):
    store.save({"not": "a frame"}, "index/nifty/gbm/20230901_000000_dict.pkl")
    with pytest.raises(StorageError, match=r"20230901_000000_dict\.pkl holds a builtins\.dict, not a pandas"):
        read_pickle_table(store, "**/*.pkl")
