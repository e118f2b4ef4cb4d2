"""Pickle files in a local folder (seed 003's ``LocalStorage``), written atomically."""

from __future__ import annotations

import os
import pickle
import posixpath
import stat
import uuid
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import IO, Any

from arcticsql.errors import StorageError
from arcticsql.pickles.backends.base import BaseStorage, FileEntry, Target, is_temp_name, target_path
from arcticsql.pickles.globbing import compile_glob, literal_directory, max_depth

DEFAULT_BASE_PATH = "./data"


class LocalStorage(BaseStorage):
    """Files under ``base_path`` (default ``$LOCAL_STORAGE_PATH``, then ``./data``), made absolute once;
    unlike the seed's, created by the first save, not the constructor (reading creates no folder)."""

    def __init__(self, base_path: str | os.PathLike | None = None, *, allow_unsafe: bool = False) -> None:
        super().__init__(allow_unsafe=allow_unsafe)
        chosen = base_path or os.getenv("LOCAL_STORAGE_PATH") or DEFAULT_BASE_PATH
        self.base_path = os.path.abspath(os.fspath(chosen))

    def __repr__(self) -> str:
        return f"LocalStorage({self.base_path!r})"

    def _full(self, filepath: str, resolved: bool = False) -> str:
        """The absolute path; StorageError if it leaves the folder (``resolved``: through a link too)."""
        relative = posixpath.normpath(str(filepath).replace(os.sep, "/")) if filepath else "."
        if relative.startswith(("/", "../")) or relative == "..":
            raise StorageError(f"{filepath!r} is outside the storage folder {self.base_path}")
        full = os.path.join(self.base_path, relative) if relative != "." else self.base_path
        root, real = (os.path.realpath(self.base_path), os.path.realpath(full)) if resolved else ("", "")
        if real != root and not real.startswith(os.path.join(root, "")):
            raise StorageError(f"{filepath!r} leads outside the storage folder {self.base_path} (to {real})")
        return full

    def location(self, filepath: str) -> str:
        try:
            return self._full(filepath)
        except StorageError:
            return os.path.join(self.base_path, filepath)

    def save(self, data: Any, filepath: str) -> str:
        """Pickle beside the target, then ``os.replace`` it: a failed save leaves the old file, no temp file."""
        full = self._full(filepath, resolved=True)
        folder, name = os.path.split(full)
        temp = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(temp, "xb") as stream:
                pickle.dump(data, stream, protocol=pickle.HIGHEST_PROTOCOL)
                stream.flush()
                os.fsync(stream.fileno())
            _newer_than_before(temp, full)
            os.replace(temp, full)
        except BaseException as error:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            if isinstance(error, Exception):
                raise StorageError(f"cannot save {full}: {type(error).__name__}: {error}") from error
            raise
        return full

    def exists(self, filepath: str) -> bool:
        return os.path.isfile(self._full(filepath))

    def stat(self, filepath: str) -> FileEntry:
        full = self._full(filepath)
        try:
            info = os.stat(full)
        except OSError as error:
            raise StorageError(f"no such file: {full} ({error.strerror})") from None
        return _entry(str(filepath), info)

    def _open(self, target: Target) -> AbstractContextManager[IO[bytes]]:
        full = self.source(target)
        try:
            return open(full, "rb")
        except OSError as error:
            raise StorageError(f"cannot open {full}: {error.strerror}") from None

    def source(self, filepath: Target) -> str:
        """The file's path, inside the store: a loader process reads it itself."""
        full = self._full(target_path(filepath), resolved=True)
        with self._stats_lock:
            self._loads += 1
        return full

    def _list_directory(self, directory: str) -> list[str]:
        full = self._full(directory)
        try:
            with os.scandir(full) as items:
                return [item.name for item in items if item.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise StorageError(f"cannot list {full}: {error.strerror}") from None

    def list_recursive(self, pattern: str) -> list[FileEntry]:
        """Walk only from the pattern's literal folder, and no deeper than the pattern can match."""
        pattern = pattern.strip("/")
        regex = compile_glob(pattern)
        start = literal_directory(pattern)
        top = self._full(start)
        depth_limit = max_depth(pattern)
        found: list[FileEntry] = []
        for folder, subfolders, files in os.walk(top):
            relative_folder = os.path.relpath(folder, self.base_path).replace(os.sep, "/")
            prefix = "" if relative_folder == "." else relative_folder + "/"
            if depth_limit is not None and prefix.count("/") + 1 >= depth_limit:
                subfolders.clear()  # files here are at the deepest level a match can have
            for name in files:
                relative = prefix + name
                if is_temp_name(name) or not regex.match(relative):
                    continue
                try:
                    info = os.stat(os.path.join(folder, name))
                except OSError:  # removed while listing, or not ours to read: not a dataset file
                    continue
                if stat.S_ISREG(info.st_mode):  # not a FIFO, say, whose reading would wait forever
                    found.append(_entry(relative, info))
        found.sort(key=lambda entry: entry.path)
        return found


def _newer_than_before(temp: str, full: str) -> None:
    """Give ``temp`` a modification time after the file it replaces: the time is this store's generation,
    and two saves within one tick of the file system's clock would otherwise have the same one."""
    try:
        before = os.stat(full).st_mtime_ns
    except FileNotFoundError:
        return
    now = os.stat(temp)
    if now.st_mtime_ns <= before:
        os.utime(temp, ns=(now.st_atime_ns, before + 1))


def _entry(path: str, info: os.stat_result) -> FileEntry:
    return FileEntry(path=path, size=info.st_size,
                     updated=datetime.fromtimestamp(info.st_mtime, tz=timezone.utc),
                     generation=info.st_mtime_ns)
