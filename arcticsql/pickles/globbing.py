"""Glob patterns over '/'-separated relative paths, matched the same way on every backend.

``*`` matches within one path segment, ``?`` one character, ``[...]`` a class, and a whole ``**`` segment
any number of segments (zero included). As in a shell, a wildcard never matches a name's leading dot.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WILDCARDS = frozenset("*?[")


def literal_prefix(pattern: str) -> str:
    """The pattern's text before its first wildcard (for a GCS ``prefix=``); the whole text if it has none."""
    for index, char in enumerate(pattern):
        if char in _WILDCARDS:
            return pattern[:index]
    return pattern


def literal_directory(pattern: str) -> str:
    """The directory part of the literal prefix: the segments wholly free of wildcards ('' for none)."""
    prefix = literal_prefix(pattern)
    if prefix == pattern:  # no wildcard: the directory holding the named file
        return pattern.rpartition("/")[0]
    return prefix.rpartition("/")[0]


def max_depth(pattern: str) -> int | None:
    """How many segments a matching path has at most; None when ``**`` allows any number."""
    segments = pattern.split("/")
    return None if "**" in segments else len(segments)


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = index + 1
            if segment[start:start + 1] == "!":
                start += 1
            if segment[start:start + 1] == "]":
                start += 1
            end = segment.find("]", start)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = segment[index + 1:end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                elif body.startswith("^"):
                    body = "\\" + body
                out.append("(?!/)[" + body + "]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    regex = "".join(out)
    if segment[:1] in ("*", "?", "["):
        regex = "(?!\\.)" + regex  # a wildcard does not match a leading dot
    return regex


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression a whole relative path must match for ``pattern``."""
    parts: list[str] = []
    segments = pattern.strip("/").split("/")
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "**":
            # zero or more whole segments, none of them hidden
            parts.append("(?:(?!\\.)[^/]*(?:/|$))*" if last else "(?:(?!\\.)[^/]*/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(parts) + "\\Z")


def glob_matches(pattern: str, path: str) -> bool:
    """Whether the relative ``path`` matches the glob ``pattern``."""
    return compile_glob(pattern).match(path) is not None
