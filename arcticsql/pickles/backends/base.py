"""The storage interface of seed 003 (``save``, ``load``, ``exists``, ``list_files``) and its error type.

A backend supplies the primitives (``save``, ``exists``, ``stat``, ``list_recursive``, ``_list_directory``,
``_open``, ``location``); loading and regex listing are shared, so both load through the same restricted
unpickler and checks and fail with the same :class:`StorageError`.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import pandas

from arcticsql.errors import StorageError
from arcticsql.pickles.checks import check_frame
from arcticsql.pickles.loading import ordered_map
from arcticsql.pickles.unpickling import load_pickle


@dataclass(frozen=True)
class FileEntry:
    """One stored file: its path relative to the store's root, and this version's ``generation`` (GCS's, or
    ``st_mtime_ns`` on disk: a changed file has a new one); ``updated`` is timezone-aware (UTC)."""

    path: str
    size: int
    updated: datetime
    generation: int


Target = str | FileEntry


def target_path(target: Target) -> str:
    """The relative path of a path or an entry."""
    return target.path if isinstance(target, FileEntry) else target


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of the in-progress temp files a local save writes (``.<name>.<id>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


class BaseStorage(ABC):
    """A store of pickle files addressed by '/'-separated paths relative to its root. ``allow_unsafe``,
    the loads' default: True unpickles anything (files you trust), False only what frames need."""

    #: Threads a multi-file load uses when the caller does not say: a backend whose loads wait on the
    #: network gains from several; unpickling holds the GIL, so for local files more threads only contend.
    default_workers = 1

    def __init__(self, *, allow_unsafe: bool = False) -> None:
        self.allow_unsafe = allow_unsafe
        self._loads = 0
        self._stats_lock = threading.Lock()

    @property
    def loads(self) -> int:
        """How many files this store has loaded (attempts included), for tests and diagnostics."""
        return self._loads

    # -- what a backend provides -------------------------------------------------------------------------

    @abstractmethod
    def save(self, data: Any, filepath: str) -> str:
        """Pickle ``data`` to ``filepath`` atomically (all or nothing); return its full location."""

    @abstractmethod
    def exists(self, filepath: str) -> bool:
        """Whether a file is stored at ``filepath``."""

    @abstractmethod
    def stat(self, filepath: str) -> FileEntry:
        """The entry for ``filepath``; StorageError if there is none."""

    @abstractmethod
    def list_recursive(self, pattern: str) -> list[FileEntry]:
        """Entries whose relative path matches the glob ``pattern`` (``*``, ``?``, ``[..]``, ``**``), by path."""

    @abstractmethod
    def location(self, filepath: str) -> str:
        """The full location of ``filepath`` (a filesystem path or a ``gs://`` URL), for messages."""

    @abstractmethod
    def _list_directory(self, directory: str) -> list[str]:
        """Names of the files directly inside ``directory`` (relative to it); [] if there is none."""

    @abstractmethod
    def _open(self, target: Target) -> AbstractContextManager[IO[bytes]]:
        """A readable binary stream of the stored file; StorageError naming it if it is missing."""

    # -- shared behaviour --------------------------------------------------------------------------------

    def source(self, filepath: Target) -> str | bytes:
        """What a loader reads the file from (counted in :attr:`loads`): its bytes, or a local file's path."""
        with self._stats_lock:
            self._loads += 1
        with self._open(filepath) as stream:
            return stream.read()

    def load(self, filepath: Target, *, allow_unsafe: bool | None = None) -> Any:
        """Unpickle the file at ``filepath`` (a path or a :class:`FileEntry`) in this process, a frame checked
        unless ``allow_unsafe`` (None: the store's default); StorageError (UnsafePickleError) naming it."""
        unsafe = self.allow_unsafe if allow_unsafe is None else allow_unsafe
        name = self.location(target_path(filepath))
        obj = load_pickle(self.source(filepath), name, allow_unsafe=unsafe)
        return check_frame(obj, name) if not unsafe and isinstance(obj, pandas.DataFrame | pandas.Series) else obj

    def workers(self, max_workers: int | None) -> int:
        """``max_workers``, or this backend's :attr:`default_workers` when None."""
        return self.default_workers if max_workers is None else max(1, int(max_workers))

    def load_many(self, paths: Iterable[Target], max_workers: int | None = None, *,
                  allow_unsafe: bool | None = None) -> list[Any]:
        """Load several files with at most ``max_workers`` threads (None: the backend's default); results
        are in the order of ``paths``."""
        return list(ordered_map(lambda target: self.load(target, allow_unsafe=allow_unsafe), paths,
                                self.workers(max_workers)))

    def list_files(self, directory: str = "", pattern: str | None = None) -> list[str]:
        """Names of the files directly inside ``directory``, sorted; with ``pattern``, only the names the
        regular expression matches at their start (``re.match``, as in seed 003)."""
        names = [name for name in self._list_directory(directory) if not is_temp_name(name)]
        if pattern:
            try:
                compiled = re.compile(pattern)
            except re.error as error:
                raise StorageError(f"invalid pattern {pattern!r} for {self.location(directory)}: {error}") from None
            names = [name for name in names if compiled.match(name)]
        return sorted(names)
