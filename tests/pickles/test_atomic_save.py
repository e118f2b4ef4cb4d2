"""A save is all or nothing: a failure midway leaves the previous file and no debris, and on GCS a
concurrent writer is detected rather than overwritten."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from arcticsql.pickles import GoogleCloudStorage, LocalStorage, StorageError
from tests.pickles.samples import ohlc_frame


class FailsMidway:
    """Raises while being pickled, after the large objects before it were already written."""

    def __reduce__(self):
        raise RuntimeError("simulated crash while pickling")


def payload_that_fails():
    # several MB are pickled (and, locally, written) before the failing element is reached
    return [b"x" * (4 * 1024 * 1024), ohlc_frame(rows=20_000), FailsMidway()]


def test_local_interrupted_save_keeps_old_file_and_leaves_no_temp(local_store):
    path = "index/nifty/gbm/20230901_123045_a.pkl"
    local_store.save(ohlc_frame(seed=1), path)
    full = os.path.join(local_store.base_path, path)
    before = Path(full).read_bytes()
    folder_before = sorted(os.listdir(os.path.dirname(full)))

    with pytest.raises(StorageError, match=r"cannot save .*20230901_123045_a\.pkl.*simulated crash"):
        local_store.save(payload_that_fails(), path)

    assert Path(full).read_bytes() == before
    assert sorted(os.listdir(os.path.dirname(full))) == folder_before  # no temp file left
    assert local_store.list_files("index/nifty/gbm") == ["20230901_123045_a.pkl"]


def test_local_interrupted_first_save_leaves_nothing(local_store):
    with pytest.raises(StorageError, match="new.pkl"):
        local_store.save(payload_that_fails(), "fresh/new.pkl")
    assert not local_store.exists("fresh/new.pkl")
    assert os.listdir(os.path.join(local_store.base_path, "fresh")) == []


def test_local_save_in_progress_is_invisible(local_store):
    """While a save is writing, readers see the old file and listings do not show the temp file."""
    path = "a/b.pkl"
    local_store.save([1], path)
    seen = {}

    class Spy:
        def __reduce__(self):
            # runs in the middle of the save, with the temp file half written
            folder = os.path.join(local_store.base_path, "a")
            seen["files"] = sorted(os.listdir(folder))
            seen["listed"] = local_store.list_files("a")
            seen["globbed"] = [e.path for e in local_store.list_recursive("a/*")]
            seen["loaded"] = local_store.load(path)
            return (complex, (5, 0))

    local_store.save([b"y" * 1_000_000, Spy()], path)
    assert len(seen["files"]) == 2 and any(name.endswith(".tmp") for name in seen["files"])
    assert seen["listed"] == ["b.pkl"]
    assert seen["globbed"] == ["a/b.pkl"]
    assert seen["loaded"] == [1]
    assert local_store.load(path)[1] == 5


def test_local_save_keeps_umask_permissions(local_store):
    local_store.save([1], "perm.pkl")
    mode = os.stat(os.path.join(local_store.base_path, "perm.pkl")).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_gcs_interrupted_save_uploads_nothing(gcs_store):
    path = "index/nifty/gbm/20230901_123045_a.pkl"
    gcs_store.save(ohlc_frame(seed=1), path)
    before = gcs_store.stat(path)
    content = gcs_store.bucket.blob(path).download_as_bytes()

    with pytest.raises(StorageError, match=r"gs://.*20230901_123045_a\.pkl.*simulated crash"):
        gcs_store.save(payload_that_fails(), path)

    assert gcs_store.stat(path).generation == before.generation
    assert gcs_store.bucket.blob(path).download_as_bytes() == content
    assert [e.path for e in gcs_store.list_recursive("**")] == [path]


def test_gcs_concurrent_writer_is_detected_not_overwritten(gcs_store, gcs_client):
    """A second writer saves while the first is still pickling: the first save fails (generation
    precondition) and the object is exactly the second writer's, never a mix."""
    path = "shared.pkl"
    gcs_store.save(["original"], path)
    other = GoogleCloudStorage(gcs_store.bucket_name, client=gcs_client)

    class RacingWriter:
        def __reduce__(self):
            other.save(["written by the other process"], path)
            return (str, ("mine",))

    with pytest.raises(StorageError, match="gs://.*shared.pkl.*modified concurrently"):
        gcs_store.save(["mine", RacingWriter()], path)
    assert pickle.loads(gcs_store.bucket.blob(path).download_as_bytes()) == ["written by the other process"]


def test_gcs_new_object_precondition(gcs_store, gcs_client):
    """A save of a new object requires it to still be new (if_generation_match=0)."""
    other = GoogleCloudStorage(gcs_store.bucket_name, client=gcs_client)

    class RacingCreator:
        def __reduce__(self):
            other.save("theirs", "new.pkl")
            return (str, ("mine",))

    with pytest.raises(StorageError, match="modified concurrently"):
        gcs_store.save(RacingCreator(), "new.pkl")
    assert other.load("new.pkl") == "theirs"


def test_save_to_a_folder_path_fails_with_the_path(local_store):
    local_store.save([1], "dir/file.pkl")
    with pytest.raises(StorageError, match="dir"):
        local_store.save([2], "dir")
    assert isinstance(local_store, LocalStorage) and local_store.load("dir/file.pkl") == [1]
