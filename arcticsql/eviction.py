"""The eviction policy every arcticsql cache shares: least recently used out, by bytes, never above a bound.

:class:`LRU` does the accounting for any cache: entries with their sizes, in order of last use. Adding an entry
evicts the least recently used ones until the total fits the bound again, and says which they were (the
cache then drops them); an entry larger than the bound is refused. It holds no data and takes no lock: the
cache that owns it calls it under its own lock.

:func:`trim_folder` applies the same policy to a folder of cache files (the scan cache's disk folder, the
pickle download cache): a file's last use is its modification time, which readers renew on every hit
(:func:`touch`), and the oldest files are deleted until the folder fits its bound.

    >>> lru = LRU(limit=100)
    >>> lru.add("a", 60), lru.add("b", 30)
    ([], [])
    >>> lru.touch("a")
    >>> lru.add("c", 40)          # 'b' is the least recently used
    ['b']
    >>> lru.add("huge", 101), lru.used
    (['huge'], 100)
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from pathlib import Path


class LRU:
    """Sizes of entries in order of use, kept at or under ``limit`` bytes in total."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self.used = 0
        self._sizes: OrderedDict[Hashable, int] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._sizes

    def __len__(self) -> int:
        return len(self._sizes)

    def items(self) -> Iterator[tuple[Hashable, int]]:
        """(key, size), least recently used first."""
        return iter(list(self._sizes.items()))

    def add(self, key: Hashable, size: int) -> list[Hashable]:
        """Account for ``key`` (replacing its old size) as the most recently used; the keys evicted to make
        room, least recently used first. A key larger than the bound is not added: it is returned itself."""
        size = max(0, int(size))
        self.discard(key)
        if size > self.limit:
            return [key]
        evicted = []
        while self.used + size > self.limit:
            old, old_size = self._sizes.popitem(last=False)
            self.used -= old_size
            evicted.append(old)
        self._sizes[key] = size
        self.used += size
        return evicted

    def size(self, key: Hashable) -> int:
        """The size ``key`` was added with (0 when it is not held)."""
        return self._sizes.get(key, 0)

    def touch(self, key: Hashable) -> None:
        """Mark ``key`` as just used (nothing when it is not held)."""
        if key in self._sizes:
            self._sizes.move_to_end(key)

    def discard(self, key: Hashable) -> None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self.used -= size

    def clear(self) -> None:
        self._sizes.clear()
        self.used = 0


def touch(path: str | os.PathLike) -> None:
    """Record a use of a cache file (its modification time is its last use); nothing if it is gone."""
    try:
        os.utime(path)
    except OSError:
        pass


#: A temporary file older than this (seconds) was left by a writer that died: trimming removes it.
STALE_TEMP_S = 3600


def trim_folder(root: str | os.PathLike, limit: int, *, temp_suffix: str = ".tmp") -> int:
    """Delete the least recently used files under ``root`` until the rest fit ``limit`` bytes; how many bytes
    were freed. Temporary files (``temp_suffix``) of live writers are left alone, those older than
    :data:`STALE_TEMP_S` removed. Safe while other processes read and write the folder: a file deleted under
    a reader is that reader's miss."""
    policy = LRU(limit)
    files: list[tuple[float, int, Path]] = []
    freed = 0
    now = time.time()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                status = path.stat()
            except OSError:
                continue
            if name.endswith(temp_suffix):
                if now - status.st_mtime > STALE_TEMP_S:
                    freed += _unlink(path, status.st_size)
                continue
            files.append((status.st_mtime, status.st_size, path))
    files.sort(key=lambda entry: entry[0])
    for _mtime, size, path in files:
        for evicted in policy.add(path, size):
            freed += _unlink(evicted, 0)
    return freed


def _unlink(path: Path, size: int) -> int:
    try:
        size = size or path.stat().st_size
        path.unlink()
    except OSError:
        return 0
    return size
