"""Every crafted file of :mod:`tests.pickles.hostile`, loaded in a fresh interpreter three ways (SQL read_pickle
in the sandbox, SQL with the sandbox off, the Python API's ``storage.load``): each is refused with a one-line
error naming the file, the interpreter ends normally, and pandas, pytz and numpy are as they were."""

from __future__ import annotations

import json
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
