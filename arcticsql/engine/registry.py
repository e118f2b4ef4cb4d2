"""The scan sources registered on one DuckDB connection, by what they read, least recently used first.

A repeated query finds its sources already registered (same key: same library, symbol and pinned version,
or the same files); past :attr:`Registry.LIMIT` the least recently used are dropped, except those a view was
created over (the view must keep reading them).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

_NAMES = itertools.count()

#: The prefix of every registered name (never shown to users: errors are rewritten to the user's names).
PREFIX = "__arcticsql_"


class Registry:
    """Registered sources of one DuckDB connection."""

    LIMIT = 256

    def __init__(self, duck) -> None:
        self.duck = duck
        self.names: OrderedDict[object, str] = OrderedDict()
        self.pinned: set[str] = set()
        #: The object registered under each name (the first of equal sources).
        self.sources: dict[str, object] = {}

    def add_view_source(self, name: str, source) -> None:
        """Register a source a view (made on another connection of the database) reads, under its name."""
        if name not in self.pinned:
            self.duck.register(name, source)
            self.pinned.add(name)

    def name_for(self, source, pin: bool = False) -> str:
        """The name ``source`` (or an equal one registered before) is registered under."""
        key = getattr(source, "key", None) or ("once", next(_NAMES))
        name = self.names.get(key)
        if name is None:
            name = f"{PREFIX}{next(_NAMES)}"
            if hasattr(source, "prepare"):  # a scan source (an Arrow table needs nothing)
                source.prepare()
            self.duck.register(name, source)
            self.names[key] = name
            self.sources[name] = source
        self.names.move_to_end(key)
        if pin:
            self.pinned.add(name)
        self._trim()
        return name

    def _trim(self) -> None:
        while len(self.names) > self.LIMIT:
            unpinned = next((key for key, name in self.names.items() if name not in self.pinned), None)
            if unpinned is None:
                return
            name = self.names.pop(unpinned)
            self.sources.pop(name, None)
            self.duck.unregister(name)
