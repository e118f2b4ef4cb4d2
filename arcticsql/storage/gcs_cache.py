"""A local folder of downloaded GCS objects, keyed by (bucket, object name, generation).

An object's generation changes whenever it is rewritten, so a cached copy under its generation is valid
for as long as that generation is the current one; storing a new generation deletes the older copies of
the same object. Files are written to a temp name and renamed, so a reader never sees a partial copy.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO


class DownloadCache:
    """``root/<bucket>/<sha256 of name>/<generation>.pkl``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"DownloadCache({str(self.root)!r})"

    def _folder(self, bucket: str, name: str) -> Path:
        return self.root / bucket / hashlib.sha256(name.encode()).hexdigest()

    def path(self, bucket: str, name: str, generation: int) -> Path:
        """Where the copy of this generation lives (whether or not it exists)."""
        return self._folder(bucket, name) / f"{int(generation)}.pkl"

    def open(self, bucket: str, name: str, generation: int) -> IO[bytes] | None:
        """The cached copy opened for reading, or None if this generation is not cached."""
        try:
            return open(self.path(bucket, name, generation), "rb")
        except FileNotFoundError:
            return None

    def store(self, bucket: str, name: str, generation: int, fill: Callable[[IO[bytes]], None]) -> Path:
        """Write a copy with ``fill(stream)`` and publish it atomically; drop older generations of the object."""
        target = self.path(bucket, name, generation)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".{uuid.uuid4().hex}.tmp"
        try:
            with open(temp, "xb") as stream:
                fill(stream)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        for other in target.parent.glob("*.pkl"):
            if other.name != target.name:
                other.unlink(missing_ok=True)  # an open reader keeps its copy (POSIX)
        return target
