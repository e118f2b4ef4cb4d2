"""Pickle objects in a Google Cloud Storage bucket (seed 003's ``GoogleCloudStorage``).

Saves upload with a generation precondition, so two writers or a failed upload never leave a mixed object.
Loads go through a :class:`~arcticsql.storage.gcs_cache.DownloadCache` when a cache folder is given: an
unchanged object (same generation) is downloaded once, and a download pins the generation it read.

``load`` of one object uses the client's own download; the files of a multi-file load (``load_many``,
datasets, SQL) come through :class:`~arcticsql.storage.gcs_fetch.MediaFetcher`, which costs a third of
the CPU per object, and may be loaded by loader processes (:meth:`GoogleCloudStorage.worker_spec`).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import IO, Any

from arcticsql.storage.base import BaseStorage, FileEntry, StorageError, Target, target_path
from arcticsql.storage.gcs_cache import DownloadCache
from arcticsql.storage.globbing import compile_glob, literal_prefix

#: How often a load retries when the object is rewritten between reading its generation and downloading it.
_CHANGED_RETRIES = 3
#: A pickle is staged in memory up to this size before upload, in a temp file beyond it.
_SPOOL_BYTES = 32 * 1024 * 1024
_LIST_FIELDS = "items(name,size,updated,generation),prefixes,nextPageToken"


_UNSET = object()


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
        raise StorageError(f"cannot {action} {where}: {type(error).__name__}: {error}") from error


class GoogleCloudStorage(BaseStorage):
    """Objects of ``bucket_name`` (default ``$GCS_BUCKET_NAME``; ValueError if neither is given).

    ``client``: a ``google.cloud.storage.Client`` (default ``storage.Client()``, which honours
    ``STORAGE_EMULATOR_HOST``). ``cache_dir``: the download cache folder, or None to download every load;
    ``cache_write_behind``: keep new copies in memory until :meth:`idle_work` writes them (loader processes).
    ``downloads`` counts the object downloads this instance made.
    """

    default_workers = 8  # loads wait on the network
    loader_threads = 8  # at most, per loader process: a worker runs as many at once as gain from it
    loader_group = 4  # files per request: against 1, 10-15% less wall time on the emulator, the same at 20 ms

    def __init__(self, bucket_name: str | None = None, *, client: Any = None,
                 cache_dir: str | os.PathLike | None = None, allow_unsafe: bool = False,
                 cache_write_behind: bool = False) -> None:
        super().__init__(allow_unsafe=allow_unsafe)
        self.bucket_name = bucket_name or os.getenv("GCS_BUCKET_NAME")
        if not self.bucket_name:
            raise ValueError("Google Cloud Storage bucket name must be provided")
        self._owns_client = client is None
        if client is None:
            from google.cloud import storage

            with _translated("create a client for", f"gs://{self.bucket_name}"):
                client = storage.Client()
        self.client = client
        self.cache_dir = os.fspath(cache_dir) if cache_dir else None
        self.bucket = client.bucket(self.bucket_name)
        self.cache = DownloadCache(cache_dir, write_behind=cache_write_behind) if cache_dir else None
        self._downloads = 0
        self._fetcher = None
        self._spec: Any = _UNSET
        self._this_thread = threading.local()

    def __repr__(self) -> str:
        return f"GoogleCloudStorage({self.bucket_name!r}, cache={self.cache!r})"

    def worker_spec(self) -> tuple[Any, Any, dict[str, Any]] | None:
        """A loader process makes its own client: the default one (from the environment) when this store
        made its client, else one with this client's project, endpoint and credentials (if they pickle)."""
        if self._spec is _UNSET:
            self._spec = self._make_worker_spec()
        return self._spec

    def _make_worker_spec(self) -> tuple[Any, Any, dict[str, Any]] | None:
        options = None
        if not self._owns_client:
            options = {"project": self.client.project, "api_endpoint": self.client.api_endpoint,
                       "credentials": getattr(self.client, "_credentials", None)}
            try:
                identity = hashlib.sha256(pickle.dumps(options)).hexdigest()
            except Exception:  # credentials that cannot cross to another process: load here
                return None
        else:
            identity = "default"
        kwargs = {"bucket_name": self.bucket_name, "client_options": options, "cache_dir": self.cache_dir,
                  "allow_unsafe": self.allow_unsafe}
        key = ("gcs", self.bucket_name, identity, self.cache_dir, self.allow_unsafe)
        return key, _storage_in_worker, kwargs

    def idle_work(self) -> bool:
        """Write one copy the write-behind cache holds."""
        if self.cache is None:
            return False
        try:
            return self.cache.write_one()
        except OSError:  # a copy that cannot be written is dropped: the next read downloads it again
            return True

    def record_remote_load(self, downloads: int = 0) -> None:
        with self._stats_lock:
            self._loads += 1
            self._downloads += downloads

    def _count_download(self) -> None:
        with self._stats_lock:
            self._downloads += 1
        self._this_thread.downloads = getattr(self._this_thread, "downloads", 0) + 1

    @property
    def thread_waited(self) -> float:
        """Seconds the calling thread's multi-file downloads waited for their answers to begin."""
        return self._fetcher.thread_waited if self._fetcher is not None else 0.0

    @property
    def thread_downloads(self) -> int:
        """Downloads made by the calling thread (a loader process reports each load's own)."""
        return getattr(self._this_thread, "downloads", 0)

    @property
    def downloads(self) -> int:
        """Object downloads made so far (cache hits are not downloads)."""
        return self._downloads

    def location(self, filepath: str) -> str:
        return f"gs://{self.bucket_name}/{filepath}"

    # -- writing -----------------------------------------------------------------------------------------

    def save(self, data: Any, filepath: str) -> str:
        """Read the object's generation (0 when new), pickle completely (in memory, or a temp file when
        large), then upload on condition that the generation is still the one read.

        A pickling failure uploads nothing; a write by anyone else since the save began makes it fail with
        StorageError instead of being overwritten or interleaved.
        """
        where = self.location(filepath)
        with _translated("save", where):
            current = self.bucket.get_blob(filepath)
        generation = current.generation if current is not None else 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as payload, _translated("save", where):
            pickle.dump(data, payload, protocol=pickle.HIGHEST_PROTOCOL)
            size = payload.tell()
            payload.seek(0)
            try:
                self.bucket.blob(filepath).upload_from_file(
                    payload, size=size, content_type="application/octet-stream", if_generation_match=generation)
            except Exception as error:
                if getattr(error, "code", None) == 412:
                    raise StorageError(f"cannot save {where}: it was modified concurrently "
                                       f"(expected generation {generation})") from error
                raise
        return where

    # -- reading -----------------------------------------------------------------------------------------

    def exists(self, filepath: str) -> bool:
        with _translated("check", self.location(filepath)):
            return bool(self.bucket.blob(filepath).exists())

    def stat(self, filepath: str) -> FileEntry:
        where = self.location(filepath)
        with _translated("stat", where):
            blob = self.bucket.get_blob(filepath)
        if blob is None:
            raise StorageError(f"no such object: {where}")
        return _entry(blob)

    def _open(self, target: Target) -> AbstractContextManager[IO[bytes]]:
        return self._read(target, self._download)

    def _open_member(self, target: Target) -> AbstractContextManager[IO[bytes]]:
        return self._read(target, self._fetch)

    def _read(self, target: Target, download: Callable[[str, int | None], bytes]) -> IO[bytes]:
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
                data = download(name, generation)
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
        """One object's bytes (the given generation, or the current one)."""
        from google.api_core.exceptions import NotFound

        self._count_download()
        with _translated("download", self.location(name)):
            try:
                # One request, read in one piece (the checksum is still verified): by default the body is
                # streamed in 8 KiB pieces, a Python-level step each, which for files of a few hundred KB
                # costs more CPU than the transfer itself.
                return self.bucket.blob(name, generation=generation).download_as_bytes(single_shot_download=True)
            except NotFound:
                pass
        raise _Changed(name)

    def _fetch(self, name: str, generation: int | None) -> bytes:
        """One object's bytes through the pooled fetcher of multi-file loads (see :mod:`.gcs_fetch`)."""
        from arcticsql.storage.gcs_fetch import ObjectGone

        self._count_download()
        with self._stats_lock:
            if self._fetcher is None:
                from arcticsql.storage.gcs_fetch import MediaFetcher

                with _translated("connect to", self.location("")):
                    self._fetcher = MediaFetcher(self.client, self.bucket_name, pool_size=max(8, self.default_workers),
                                                 user_project=self.bucket.user_project)
            fetcher = self._fetcher
        try:
            return fetcher.fetch(name, generation)
        except ObjectGone:
            raise _Changed(name) from None

    # -- listing -----------------------------------------------------------------------------------------

    def _list_directory(self, directory: str) -> list[str]:
        prefix = directory.strip("/") + "/" if directory.strip("/") else ""
        with _translated("list", self.location(prefix)):
            blobs = self.client.list_blobs(self.bucket_name, prefix=prefix or None, delimiter="/",
                                           fields=_LIST_FIELDS)
            return [blob.name[len(prefix):] for blob in blobs if blob.name != prefix]

    def list_recursive(self, pattern: str) -> list[FileEntry]:
        """List from the pattern's literal prefix and keep the names the glob matches."""
        pattern = pattern.strip("/")
        regex = compile_glob(pattern)
        prefix = literal_prefix(pattern)
        with _translated("list", self.location(pattern)):
            blobs = self.client.list_blobs(self.bucket_name, prefix=prefix or None, fields=_LIST_FIELDS)
            found = [_entry(blob) for blob in blobs if not blob.name.endswith("/") and regex.match(blob.name)]
        found.sort(key=lambda entry: entry.path)
        return found


def _storage_in_worker(bucket_name: str, client_options: dict[str, Any] | None, cache_dir: str | None,
                       allow_unsafe: bool) -> GoogleCloudStorage:
    """The store a loader process opens for :meth:`GoogleCloudStorage.worker_spec`."""
    client = None
    if client_options is not None:
        from google.cloud import storage

        client = storage.Client(project=client_options["project"], credentials=client_options["credentials"],
                                client_options={"api_endpoint": client_options["api_endpoint"]})
    return GoogleCloudStorage(bucket_name, client=client, cache_dir=cache_dir, allow_unsafe=allow_unsafe,
                              cache_write_behind=True)


def _entry(blob: Any) -> FileEntry:
    return FileEntry(path=blob.name, size=int(blob.size or 0), updated=_updated(blob),
                     generation=int(blob.generation))


def _updated(blob: Any) -> Any:
    """``blob.updated``, read with ``datetime.fromisoformat`` where it can (GCS's RFC 3339 with a 'Z'):
    the client's own parser is a regex and a strptime, ~10% of a 200-file read's listing."""
    text = blob._properties.get("updated") if isinstance(getattr(blob, "_properties", None), dict) else None
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return blob.updated
