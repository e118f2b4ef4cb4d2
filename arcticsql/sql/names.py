"""How a table reference written in SQL names an ArcticDB library and symbol.

    prices_1min.AAPL              library prices_1min, symbol AAPL
    "prices_1min/AAPL"            the same (split at the first '/')
    signals."momentum/SP500"      library signals, symbol momentum/SP500
    "signals/momentum/SP500"      the same
    "prices_*/AAPL", "*/AAPL"     glob patterns (* ? [...]) in either part

A one-part name without '/' and any three-part name belong to DuckDB (temp tables, views, CTEs).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from sqlglot import exp

_GLOB = re.compile(r"[*?\[]")

#: The library name of arcticsql's own catalog tables (arcticsql.symbols, ...): no ArcticDB library has it.
CATALOG_LIBRARY = "arcticsql"


@dataclass(frozen=True)
class TableName:
    library: str
    symbol: str

    @property
    def is_pattern(self) -> bool:
        return bool(_GLOB.search(self.library) or _GLOB.search(self.symbol))

    def __str__(self) -> str:
        return f"{self.library}/{self.symbol}"


def table_name(parts: list[str]) -> TableName | None:
    """The library/symbol a reference names, from its parts as written ([db, name] or [name])."""
    parts = [p for p in parts if p != ""]
    if len(parts) == 1:
        library, slash, symbol = parts[0].partition("/")
        if slash and library and symbol:
            return TableName(library, symbol)
        return None
    if len(parts) == 2:
        return TableName(parts[0], parts[1])
    return None


def sql_name(library: str, symbol: str) -> str:
    """How to write a symbol in SQL: ``prices_1min.AAPL``, ``signals."momentum/SP500"``."""
    return exp.table_(exp.to_identifier(symbol), db=exp.to_identifier(library)).sql("duckdb")


def is_glob(text: str) -> bool:
    return bool(_GLOB.search(text))


def glob_regex(pattern: str) -> str:
    """An anchored regular expression equivalent to a glob (for ArcticDB's ``list_symbols(regex=)``)."""
    return fnmatch.translate(pattern)


def matches(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)
