"""A local folder of downloaded GCS objects, keyed by (bucket, object name, generation): a rewritten object
has a new generation, so a cached copy is valid while its generation is current. Each object has one file,
``root/<bucket>/<2 hex>/<sha256 of name>.pkl``: a 16-byte header (magic, generation), then the bytes; a
lookup for another generation misses, and a new generation replaces the file atomically (temp, rename).
With ``limit_bytes``, the folder is bounded by the policy every arcticsql cache shares
(:mod:`arcticsql.eviction`): a hit renews a file's time, and after each twentieth of the bound written the
least recently used files go until it fits.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import struct
import threading
from pathlib import Path
from typing import IO

from arcticsql.eviction import touch, trim_folder

_MAGIC = b"asqlgcs1"
_HEADER = struct.Struct(">8sQ")  # magic, generation
_TEMP_NAMES = itertools.count()


class DownloadCache:
    """Cached object bytes by (bucket, name, generation); 256 shard folders per bucket."""

    def __init__(self, root: str | os.PathLike, limit_bytes: int | None = None) -> None:
        self.root = Path(root).absolute()
        self._folders: set[Path] = set()
        #: the most the folder holds (None: no bound), least recently used out
        self.limit_bytes = limit_bytes
        self._written = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DownloadCache({str(self.root)!r})"

    def path(self, bucket: str, name: str) -> Path:
        """The file that holds the cached copy of the object (of whatever generation)."""
        digest = hashlib.sha256(name.encode()).hexdigest()
        return self.root / bucket / digest[:2] / f"{digest}.pkl"

    def open(self, bucket: str, name: str, generation: int) -> IO[bytes] | None:
        """The cached copy positioned at the object's first byte, or None unless this generation is cached."""
        try:
            stream = open(self.path(bucket, name), "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            return None
        if stream.read(_HEADER.size) != _HEADER.pack(_MAGIC, int(generation)):
            stream.close()
            return None
        if self.limit_bytes is not None:
            touch(stream.name)
        return stream

    def store(self, bucket: str, name: str, generation: int, data: bytes | memoryview) -> Path:
        """Publish a copy of this generation atomically, replacing any other generation's."""
        path = self._write(bucket, name, int(generation), data)
        if self.limit_bytes is not None:
            with self._lock:
                self._written += len(data)
                due = self._written > self.limit_bytes // 20
                if due:
                    self._written = 0
            if due:
                trim_folder(self.root, self.limit_bytes)
        return path

    def _write(self, bucket: str, name: str, generation: int, data: bytes | memoryview) -> Path:
        target = self.path(bucket, name)
        folder = target.parent
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        temp = folder / f".{os.getpid()}-{next(_TEMP_NAMES)}-{random.getrandbits(32):08x}.tmp"
        try:
            try:
                descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:  # the folder was removed since: make it again
                folder.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _write_all(descriptor, [_HEADER.pack(_MAGIC, generation), data])
            finally:
                os.close(descriptor)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target


def _write_all(descriptor: int, parts: list) -> None:
    """``os.writev`` until every byte of ``parts`` is written (one system call for a header and body)."""
    views = [memoryview(part).cast("B") for part in parts]
    while views:
        written = os.writev(descriptor, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
