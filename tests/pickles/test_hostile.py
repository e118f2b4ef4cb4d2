"""Every crafted file of :mod:`tests.pickles.hostile`, loaded in a fresh interpreter three ways (SQL read_pickle
in the sandbox, SQL with the sandbox off, the Python API's ``storage.load``): each is refused with a one-line
error naming the file, the interpreter ends normally, and pandas, pytz and numpy are as they were."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pickles.hostile import HOSTILE

ROOT = Path(__file__).resolve().parents[2]

#: What each refusal says (beside the file's name).
REASONS = {
    "deep_nesting": "nested deeper than 64", "cycle": "inside itself (cycle)", "class_mutation": "BUILD on",
    "class_mutation_len": "global builtins.int", "shared_instance_mutation": "global pytz.utc",
    "singleton_mutation": "BUILD on pytz.UTC", "restore_array_out_of_bounds": "invalid Arrow array",
    "restore_array_few_buffers": "3 buffers", "restore_array_deep_children": "Arrow",
    "bytearray_3gib": "builtins.bytearray(int)", "tuple_range": "global builtins.tuple",
    "numpy_uninitialised": "_reconstruct(numpy.ndarray, tuple, bytes)", "numpy_ndarray_call": "numpy.ndarray(",
    "numpy_object_short_state": "3 elements with 1 values", "numpy_structured_offset": "structured",
    "multiindex_codes_oob": "codes outside its 2 values", "categorical_codes_oob": "codes outside its 2 values",
    "tzfile_path": "tzfile(str)", "memo_index_bomb": "not a pandas DataFrame", "os_system": "global os.system",
    "not_a_frame": "holds a builtins.dict", "truncated": "cannot unpickle",
}

CHILD = r"""
import json, resource, sys
import pandas as pd, pytz
import arcticsql
from arcticsql.pickles import LocalStorage

def clean():
    return pd.Index([1, 2]).names == [None] and len(pd.RangeIndex(2)) == 2 and pytz.utc.zone == "UTC" \
        and len(pd.DataFrame({"a": [1, 2]})) == 2

mode, folder, names = sys.argv[1], sys.argv[2], sys.argv[3:]
store = LocalStorage(folder)
conn = arcticsql.connect(uri="mem://", config={"storage": {"local": {"base_path": folder},
                                                           "sandbox": mode == "sandbox"}})
for name in names:
    try:
        if mode == "api":
            store.load(f"{name}.pkl")
        else:
            conn.execute(f"SELECT * FROM read_pickle('{name}.pkl')").fetchall()
        error = None
    except arcticsql.Error as caught:
        error = str(caught)
    print(json.dumps({"name": name, "error": error, "clean": clean()}), flush=True)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    for name, build in HOSTILE.items():
        (folder / f"{name}.pkl").write_bytes(build())
    return folder


@pytest.mark.parametrize("mode", ["sandbox", "in-process", "api"])
def test_every_hostile_file_is_refused_and_changes_nothing(hostile_folder, mode):
    child = subprocess.run([sys.executable, "-c", CHILD, mode, str(hostile_folder), *HOSTILE],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert child.returncode == 0, child.stderr[-2000:]
    *outcomes, usage = [json.loads(line) for line in child.stdout.splitlines()]
    assert [outcome["name"] for outcome in outcomes] == list(HOSTILE)
    for outcome in outcomes:
        error, where = outcome["error"], str(hostile_folder / f"{outcome['name']}.pkl")
        assert outcome["clean"], f"{outcome['name']} changed the process"
        if mode == "api" and outcome["name"] in ("memo_index_bomb", "not_a_frame"):
            assert error is None  # storage.load returns any plain object (None, a dict), as the seed's did
            continue
        assert error is not None, f"{outcome['name']} loaded"
        assert where in error and "\n" not in error and REASONS[outcome["name"]] in error, error
    assert usage["peak_mb"] < 1500  # no 3 GiB bytearray, 4 GB tuple or memo was ever allocated


UNCHECKED = r"""
import pickle, sys
import pandas as pd, pytz
pickle.loads(open(sys.argv[1], "rb").read())
print(pd.Index([1, 2]).names, pytz.utc.zone)
"""


@pytest.mark.parametrize(("name", "effect"), [("class_mutation", "['poisoned'] UTC"),
                                              ("shared_instance_mutation", "[None] Poisoned")])
def test_the_hostile_files_are_real(hostile_folder, name, effect):
    """Plain pickle does to the process what the file's name says."""
    child = subprocess.run([sys.executable, "-c", UNCHECKED, str(hostile_folder / f"{name}.pkl")],
                           capture_output=True, text=True, timeout=120)
    assert child.stdout.strip() == effect


FORGED_ZONE = r"""
import copy, pickle, sys
import dateutil.tz, pandas as pd
import arcticsql
from arcticsql.pickles import LocalStorage

mode, folder = sys.argv[1], sys.argv[2]
if mode == "write":  # (in a process of its own: making the zone poisons the cache of the process making it)
    real = dateutil.tz.gettz("Europe/London")
    forged = dateutil.tz.tzfile.__new__(dateutil.tz.tzfile)
    state = copy.deepcopy(vars(real))  # the system zone's own file name, its offsets five hours off
    for info in state["_ttinfo_list"]:
        info.offset += 5 * 3600
        info.delta += pd.Timedelta(hours=5).to_pytimedelta()
    forged.__dict__.update(state)
    cell = pd.Timestamp(1717243200_000000000, tz=forged)
    frame = pd.DataFrame({"t": pd.Series([cell], dtype=object), "v": [1.0]})
    open(f"{folder}/zone.pkl", "wb").write(pickle.dumps(frame))
    sys.exit()
try:
    if mode == "api":
        LocalStorage(folder).load("zone.pkl")
    else:
        conn = arcticsql.connect(uri="mem://", config={"storage": {"local": {"base_path": folder},
                                                                   "sandbox": mode == "sandbox"}})
        conn.execute("SELECT * FROM read_pickle('zone.pkl')").fetchall()
    print("loaded")
except arcticsql.Error as error:
    print("refused" if "whose transitions are not this system's" in str(error) else error)
noon = pd.DatetimeIndex(["2024-06-01 12:00"]).tz_localize("dateutil/Europe/London")
print(noon.tz_convert("UTC").strftime("%H:%M")[0])
"""


@pytest.mark.parametrize("mode", ["sandbox", "in-process", "api"])
def test_a_forged_dateutil_zone_changes_no_conversion_of_the_process(tmp_path, mode):
    """pandas caches a dateutil zone's transitions for the whole process by the zone's file name: a zone
    from a file, named as the system's, must not stand for it afterwards."""
    subprocess.run([sys.executable, "-c", FORGED_ZONE, "write", str(tmp_path)], check=True, timeout=120, cwd=ROOT)
    child = subprocess.run([sys.executable, "-c", FORGED_ZONE, mode, str(tmp_path)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == ["refused", "11:00"]  # and London noon in June is 11:00 UTC


@pytest.mark.parametrize("sandbox", [True, False])
def test_more_rows_than_a_file_can_hold_are_refused(tmp_path, sandbox):
    """A frame of no columns and a huge RangeIndex costs a few bytes in the file; the naming columns SQL adds
    would cost the session gigabytes."""
    import pandas as pd

    import arcticsql

    (tmp_path / "rows.pkl").write_bytes(pickle.dumps(pd.DataFrame(index=pd.RangeIndex(500_000_000))))
    conn = arcticsql.connect(uri="mem://", config={"storage": {"local": {"base_path": str(tmp_path)},
                                                               "sandbox": sandbox}})
    with pytest.raises(arcticsql.OperationalError, match=r"rows.pkl: 500,000,000 rows from a file of \d+ bytes"):
        conn.execute("SELECT count(*) FROM read_pickle('rows.pkl')").fetchall()
    conn.close()
