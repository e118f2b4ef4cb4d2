"""Pickle objects in a Google Cloud Storage bucket (seed 003's ``GoogleCloudStorage``).

Saves upload with a generation precondition (two writers or a failed upload never leave a mixed object);
loads are pinned to the generation a listing gave, through a :class:`~arcticsql.pickles.backends.cache.
DownloadCache` when given a folder. Every request times out (``timeout`` s, retries included): a server that
stops answering is an error, not a hang.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from google.api_core.exceptions import NotFound
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from arcticsql.errors import StorageError, one_line
from arcticsql.pickles.backends.base import BaseStorage, FileEntry, Target, target_path
from arcticsql.pickles.backends.cache import DownloadCache
from arcticsql.pickles.globbing import compile_glob, literal_prefix

#: How often a load retries when the object is rewritten between reading its generation and downloading it.
_CHANGED_RETRIES = 3
#: A pickle is staged in memory up to this size before upload, in a temp file beyond it.
_SPOOL_BYTES = 32 * 1024 * 1024
_LIST_FIELDS = "items(name,size,updated,generation),prefixes,nextPageToken"
#: Seconds a request (with its retries) may take before it fails.
DEFAULT_TIMEOUT = 60.0


class _Changed(Exception):
    """The pinned generation is gone (rewritten or deleted since it was read)."""


@contextmanager
def _translated(action: str, where: str) -> Iterator[None]:
    """Re-raise any failure but a StorageError as one naming ``where``."""
    try:
        yield
    except StorageError:
        raise
    except Exception as error:
        raise StorageError(f"cannot {action} {where}: {type(error).__name__}: {one_line(error, 1000)}") from error


class GoogleCloudStorage(BaseStorage):
    """Objects of ``bucket_name`` (default ``$GCS_BUCKET_NAME``, else ValueError), through ``client``
    (default ``storage.Client()``, which honours ``STORAGE_EMULATOR_HOST``); ``cache_dir``: the download
    cache, None for none; ``timeout``: seconds a request may take, retries included."""

    default_workers = 8  # loads wait on the network

    def __init__(self, bucket_name: str | None = None, *, client: Any = None,
                 cache_dir: str | os.PathLike | None = None, allow_unsafe: bool = False,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(allow_unsafe=allow_unsafe)
        self.bucket_name = bucket_name or os.getenv("GCS_BUCKET_NAME")
        if not self.bucket_name:
            raise ValueError("Google Cloud Storage bucket name must be provided")
        if client is None:
            with _translated("create a client for", f"gs://{self.bucket_name}"):
                client = storage.Client()
        self.client = client
        self.cache_dir = os.fspath(cache_dir) if cache_dir else None
        self.bucket = client.bucket(self.bucket_name)
        self.cache = DownloadCache(cache_dir) if cache_dir else None
        self.timeout = float(timeout)
        self._retry = DEFAULT_RETRY.with_timeout(self.timeout)
        self._downloads = 0
        self._downloads_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GoogleCloudStorage({self.bucket_name!r}, cache={self.cache!r})"

    @property
    def downloads(self) -> int:
        """Object downloads made so far (cache hits are not downloads)."""
        return self._downloads

    def location(self, filepath: str) -> str:
        return f"gs://{self.bucket_name}/{filepath}"

    def _requests(self) -> dict[str, Any]:
        """The timeout and retry every request of this store takes."""
        return {"timeout": self.timeout, "retry": self._retry}

    # -- writing -----------------------------------------------------------------------------------------

    def save(self, data: Any, filepath: str) -> str:
        """Read the object's generation (0 when new), pickle completely (in memory, or a temp file when
        large), then upload if the generation is still that one: a failed pickling uploads nothing, and a
        write by anyone else since makes it a StorageError, never an overwrite or a mix."""
        where = self.location(filepath)
        with _translated("save", where):
            current = self.bucket.get_blob(filepath, **self._requests())
        generation = current.generation if current is not None else 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as payload, _translated("save", where):
            pickle.dump(data, payload, protocol=pickle.HIGHEST_PROTOCOL)
            size = payload.tell()
            payload.seek(0)
            try:
                self.bucket.blob(filepath).upload_from_file(
                    payload, size=size, content_type="application/octet-stream", if_generation_match=generation,
                    **self._requests())
            except Exception as error:
                if getattr(error, "code", None) == 412:
                    raise StorageError(f"cannot save {where}: it was modified concurrently "
                                       f"(expected generation {generation})") from error
                raise
        return where

    # -- reading -----------------------------------------------------------------------------------------

    def exists(self, filepath: str) -> bool:
        with _translated("check", self.location(filepath)):
            return bool(self.bucket.blob(filepath).exists(**self._requests()))

    def stat(self, filepath: str) -> FileEntry:
        where = self.location(filepath)
        with _translated("stat", where):
            blob = self.bucket.get_blob(filepath, **self._requests())
        if blob is None:
            raise StorageError(f"no such object: {where}")
        return _entry(blob)

    def _open(self, target: Target) -> IO[bytes]:
        """The object's bytes: from the cache when this generation is there, else downloaded (pinned to the
        generation, and then cached) and read from memory."""
        name = target_path(target)
        if isinstance(target, FileEntry):
            generation: int | None = target.generation
        elif self.cache is not None:
            generation = self.stat(name).generation  # StorageError if there is no such object
        else:
            generation = None  # one request, for the current object
        for _attempt in range(_CHANGED_RETRIES):
            if self.cache is not None:
                cached = self.cache.open(self.bucket_name, name, generation)
                if cached is not None:
                    return cached
            try:
                data = self._download(name, generation)
            except _Changed:
                if generation is None:
                    raise StorageError(f"no such object: {self.location(name)}") from None
                generation = self.stat(name).generation  # rewritten since listed (StorageError if gone)
                continue
            if self.cache is not None:
                with _translated("cache", self.location(name)):
                    self.cache.store(self.bucket_name, name, generation, data)
            return io.BytesIO(data)
        raise StorageError(f"{self.location(name)} kept changing while being read")

    def _download(self, name: str, generation: int | None) -> bytes:
        """One object's bytes (the given generation, or the current one), checksum verified."""
        with self._downloads_lock:
            self._downloads += 1
        with _translated("download", self.location(name)):
            try:
                # Read in one piece: by default the body is streamed in 8 KiB pieces, a Python-level step
                # each, which for files of a few hundred KB costs more CPU than the transfer itself.
                return self.bucket.blob(name, generation=generation).download_as_bytes(
                    single_shot_download=True, **self._requests())
            except NotFound:
                pass
        raise _Changed(name)

    # -- listing -----------------------------------------------------------------------------------------

    def _list_directory(self, directory: str) -> list[str]:
        prefix = directory.strip("/") + "/" if directory.strip("/") else ""
        with _translated("list", self.location(prefix)):
            blobs = self.client.list_blobs(self.bucket_name, prefix=prefix or None, delimiter="/",
                                           fields=_LIST_FIELDS, **self._requests())
            return [blob.name[len(prefix):] for blob in blobs if blob.name != prefix]

    def list_recursive(self, pattern: str) -> list[FileEntry]:
        """List from the pattern's literal prefix and keep the names the glob matches."""
        pattern = pattern.strip("/")
        regex = compile_glob(pattern)
        prefix = literal_prefix(pattern)
        with _translated("list", self.location(pattern)):
            blobs = self.client.list_blobs(self.bucket_name, prefix=prefix or None, fields=_LIST_FIELDS,
                                           **self._requests())
            found = [_entry(blob) for blob in blobs if not blob.name.endswith("/") and regex.match(blob.name)]
        found.sort(key=lambda entry: entry.path)
        return found


def _entry(blob: Any) -> FileEntry:
    return FileEntry(path=blob.name, size=int(blob.size or 0), updated=blob.updated,
                     generation=int(blob.generation))
