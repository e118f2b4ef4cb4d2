"""Output formats shared by the REPL and the commands: how rows become text (or a Parquet file).

``table``, ``markdown`` and ``line`` are *display* formats. On a terminal they show a bounded view of a
result, as the duckdb CLI does: the first and last rows (:func:`render` with ``tail``), and, for a table
wider than the terminal, whole values of the first and last columns with a ``…`` column in place of the
middle ones; the :func:`footer` says how many rows and columns there are and how many are shown.
Elsewhere (a pipe, a file) they are complete and untrimmed, written as rows arrive
(:func:`display_writer`). ``csv`` and ``json`` are *data* formats, written chunk by chunk so a result of
any size streams through; ``parquet`` writes Arrow record batches to a file.

Values: NULL shows as ``NULL`` in display formats, and a string that reads NULL is quoted (``'NULL'``) so
the two never look alike; it is empty in CSV and ``null`` in JSON. Numbers keep their precision (a float
shows its shortest exact form, a FLOAT its single-precision one), are right-aligned, and decimal points line
up within a column. Timestamps are ISO 8601.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import IO, Any

import numpy as np
from wcwidth import wcswidth

DISPLAY_FORMATS = ("table", "markdown", "line")
DATA_FORMATS = ("csv", "json")
#: Formats meant for programs: a script's output in one of these is one document (its last result).
MACHINE_FORMATS = ("csv", "json", "parquet")
FORMATS = ("table", "csv", "json", "markdown", "line")

_NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL", "NUMERIC", "VARINT", "BIGNUM"}
_SINGLE_PRECISION = {"FLOAT", "REAL", "FLOAT4"}
_NULL = "NULL"
_LOOKS_NULL = re.compile(r"^'*null'*$", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_ELLIPSIS = "…"
#: Rows a complete (untrimmed) table measures before writing: later rows widen columns if they must.
TABLE_BLOCK_ROWS = 100_000


def is_numeric(type_name: str) -> bool:
    """True for DuckDB numeric types (right-aligned in tables); BOOLEAN is not."""
    return _base_type(type_name) in _NUMERIC_TYPES


def _base_type(type_name: str) -> str:
    return str(type_name).split("(")[0].strip().upper()


def text_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide characters count two)."""
    if text.isascii():
        return len(text)
    width = wcswidth(text)
    return width if width >= 0 else len(text)


def display_value(value: Any, type_name: str | None = None) -> str:
    """One value as shown in display formats (NULL for None; a string reading NULL quoted); line breaks
    are kept (a table shows them as a taller row, such as an EXPLAIN plan), tabs and carriage returns
    escaped."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value, single=type_name is not None and _base_type(type_name) in _SINGLE_PRECISION)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if isinstance(value, str):
        if _LOOKS_NULL.match(value):
            return "'" + value.replace("'", "''") + "'"
        text = value
    else:
        text = str(value)
    return text.replace("\r\n", "\n").replace("\r", "\\r").replace("\t", "\\t")


def _float_text(value: float, single: bool = False) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(np.float32(value)) if single else repr(value)


def _bytes_text(value: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in value)


def _column_texts(values: Sequence[Any], type_name: str) -> list[str]:
    """The display texts of one column; in a numeric column, plain decimals padded so the points line up."""
    texts = [display_value(v, type_name) for v in values]
    if not is_numeric(type_name):
        return texts
    fractions = [len(t) - t.index(".") - 1 if "." in t else 0 for t in texts if _PLAIN_NUMBER.match(t)]
    widest = max(fractions, default=0)
    if not widest:
        return texts
    aligned = []
    for text in texts:
        if _PLAIN_NUMBER.match(text):
            digits = len(text) - text.index(".") - 1 if "." in text else -1  # -1: the point is missing too
            text += " " * (widest - digits)
        aligned.append(text)
    return aligned


# -- display formats -------------------------------------------------------------------------------------
def render(fmt: str, names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
           tail: Sequence[Sequence[Any]] | None = None, max_width: int | None = None, unicode: bool = True,
           show_types: bool = True) -> str:
    """``rows`` (and, after a gap marking rows left out, ``tail``) in a display format; no trailing
    newline."""
    return render_shown(fmt, names, types, rows, tail=tail, max_width=max_width, unicode=unicode,
                        show_types=show_types)[0]


def render_shown(fmt: str, names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 tail: Sequence[Sequence[Any]] | None = None, max_width: int | None = None,
                 unicode: bool = True, show_types: bool = True) -> tuple[str, int]:
    """:func:`render`, and how many columns it shows (fewer than ``names`` when a table was too wide)."""
    if fmt == "table":
        lines, shown = _table_lines(names, types, rows, tail, max_width=max_width, unicode=unicode,
                                    show_types=show_types)
        return "\n".join(lines), shown
    if fmt == "markdown":
        return render_markdown(names, types, rows, tail=tail), len(names)
    if fmt == "line":
        return render_line(names, rows, tail=tail, types=types), len(names)
    raise ValueError(f"not a display format: {fmt}")


_BOX_UNICODE = {"h": "─", "v": "│", "tl": "┌", "tm": "┬", "tr": "┐", "ml": "├", "mm": "┼", "mr": "┤",
                "bl": "└", "bm": "┴", "br": "┘", "gap": "·"}
_BOX_ASCII = {"h": "-", "v": "|", "tl": "+", "tm": "+", "tr": "+", "ml": "+", "mm": "+", "mr": "+",
              "bl": "+", "bm": "+", "br": "+", "gap": "."}
#: The column standing for the columns left out of a table too wide for the terminal.
_MARKER = object()


def render_table(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 tail: Sequence[Sequence[Any]] | None = None, max_width: int | None = None,
                 unicode: bool = True, show_types: bool = True) -> str:
    """An aligned table with a header of column names (and types); numbers right-aligned.

    With ``max_width`` (the terminal's width), a table too wide shows its first and last columns whole and a
    ``…`` column for those in between; only a single column wider than the terminal has its values cut.
    """
    return "\n".join(_table_lines(names, types, rows, tail, max_width=max_width, unicode=unicode,
                                  show_types=show_types)[0])


class _Grid:
    """The cells of a table (each a list of lines), its column widths and alignment."""

    def __init__(self, names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
                 show_types: bool) -> None:
        self.names = [str(n) for n in names]
        self.kinds = [str(t).lower() for t in types] if show_types else None
        self.right = [is_numeric(t) for t in types]
        columns = [_column_texts([row[i] for row in rows], types[i]) for i in range(len(names))]
        self.cells = [[columns[i][r].rstrip("\n").split("\n") for i in range(len(names))]
                      for r in range(len(rows))]
        self.widths = [max([text_width(self.names[i]), text_width(self.kinds[i]) if self.kinds else 0]
                           + [text_width(part) for row in self.cells for part in row[i]])
                       for i in range(len(names))]

    def widen(self, other: _Grid) -> None:
        self.widths = [max(a, b) for a, b in zip(self.widths, other.widths)]


def _table_lines(names, types, rows, tail, *, max_width, unicode, show_types) -> tuple[list[str], int]:
    box = _BOX_UNICODE if unicode else _BOX_ASCII
    every = list(rows) + list(tail or ())
    grid = _Grid(names, types, every, show_types)
    columns, widths = _fit(grid.widths, max_width)
    head_rows = grid.cells[:len(rows)]
    tail_rows = grid.cells[len(rows):] if tail is not None else None
    lines = _header(grid, columns, widths, box)
    for row in head_rows:
        lines.extend(_row_lines(grid, row, columns, widths, box))
    if tail_rows is not None:
        for _ in range(3):
            lines.append(_gap_line(columns, widths, box))
        for row in tail_rows:
            lines.extend(_row_lines(grid, row, columns, widths, box))
    lines.append(_rule(widths, box, "bl", "bm", "br"))
    return lines, sum(1 for c in columns if c is not _MARKER)


def _fit(widths: list[int], max_width: int | None) -> tuple[list, list[int]]:
    """The columns to show (indexes, with :data:`_MARKER` standing for those left out) and their widths,
    so the table is at most ``max_width`` characters wide."""
    count = len(widths)
    every = list(range(count))
    if not max_width or 1 + sum(w + 3 for w in widths) <= max_width:
        return every, list(widths)
    budget = max_width - 1 - 4  # the left border, and the marker column " … │"
    order = [i for pair in zip(every, reversed(every)) for i in pair][:count]
    chosen: list[int] = []
    for index in order:
        if index in chosen:
            continue
        if widths[index] + 3 > budget:
            break
        chosen.append(index)
        budget -= widths[index] + 3
    if not chosen:  # one column alone is wider than the terminal: the last resort is to cut its values
        room = max(1, max_width - 1 - 3 - (4 if count > 1 else 0))
        return ([0, _MARKER] if count > 1 else [0]), ([room, 1] if count > 1 else [room])
    left = sorted(i for i in chosen if i < (count + 1) // 2)  # taken from the left, the rest from the right
    right = sorted(i for i in chosen if i >= (count + 1) // 2)
    shown = left + [_MARKER] + right
    return shown, [1 if c is _MARKER else widths[c] for c in shown]


def _header(grid: _Grid, columns: list, widths: list[int], box: dict) -> list[str]:
    lines = [_rule(widths, box, "tl", "tm", "tr")]
    lines.append(_cells_line([_ELLIPSIS if c is _MARKER else grid.names[c] for c in columns], widths,
                             [False] * len(columns), box))
    if grid.kinds is not None:
        lines.append(_cells_line(["" if c is _MARKER else grid.kinds[c] for c in columns], widths,
                                 [False] * len(columns), box))
    lines.append(_rule(widths, box, "ml", "mm", "mr"))
    return lines


def _row_lines(grid: _Grid, row: list[list[str]], columns: list, widths: list[int], box: dict) -> list[str]:
    height = max((len(row[c]) for c in columns if c is not _MARKER), default=1)
    align = [False if c is _MARKER else grid.right[c] for c in columns]
    out = []
    for i in range(height):
        values = []
        for c in columns:
            if c is _MARKER:
                values.append(_ELLIPSIS if i == 0 else "")
            else:
                values.append(row[c][i] if i < len(row[c]) else "")
        out.append(_cells_line(values, widths, align, box))
    return out


def _gap_line(columns: list, widths: list[int], box: dict) -> str:
    return _cells_line([box["gap"].center(w) for w in widths], widths, [False] * len(widths), box)


def _rule(widths: list[int], box: dict, left: str, middle: str, right: str) -> str:
    return box[left] + box[middle].join(box["h"] * (w + 2) for w in widths) + box[right]


def _cells_line(values: Sequence[str], widths: Sequence[int], right: Sequence[bool], box: dict) -> str:
    parts = []
    for value, width, to_right in zip(values, widths, right):
        value = _cut(value, width)
        pad = " " * max(0, width - text_width(value))
        parts.append(" " + (pad + value if to_right else value + pad) + " ")
    return box["v"] + box["v"].join(parts) + box["v"]


def _cut(text: str, width: int) -> str:
    if text_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        size = text_width(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + _ELLIPSIS


def render_markdown(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
                    tail: Sequence[Sequence[Any]] | None = None) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned); a row of ``…`` marks rows left out."""
    lines = [_markdown_header(names, types), *_markdown_rows(types, rows)]
    if tail is not None:
        lines.append("| " + " | ".join(_ELLIPSIS for _ in names) + " |")
        lines.extend(_markdown_rows(types, tail))
    return "\n".join(lines)


def _markdown_header(names: Sequence[str], types: Sequence[str]) -> str:
    header = "| " + " | ".join(_markdown_cell(str(n)) for n in names) + " |"
    rule = "|" + "|".join("---:" if is_numeric(t) else "---" for t in types) + "|"
    return header + "\n" + rule


def _markdown_rows(types: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(_markdown_cell(display_value(v, t)) for v, t in zip(row, types)) + " |"
            for row in rows]


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_line(names: Sequence[str], rows: Sequence[Sequence[Any]], *,
                tail: Sequence[Sequence[Any]] | None = None, types: Sequence[str] | None = None) -> str:
    """One ``column = value`` line per column, records separated by a blank line (sqlite's line mode); a
    ``…`` line marks records left out."""
    records = _line_records(names, rows, types)
    if tail is not None:
        records.append(_ELLIPSIS)
        records.extend(_line_records(names, tail, types))
    return "\n\n".join(records)


def _line_records(names: Sequence[str], rows: Iterable[Sequence[Any]], types: Sequence[str] | None) -> list[str]:
    width = max((text_width(str(n)) for n in names), default=0)
    indent = "\n" + " " * (width + 3)
    kinds = types or [None] * len(names)

    def field(name: str, value: Any, kind) -> str:
        return f"{name.rjust(width)} = {display_value(value, kind).replace(chr(10), indent)}"

    return ["\n".join(field(str(n), v, k) for n, v, k in zip(names, row, kinds)) for row in rows]


def footer(total: int, shown: int | None = None, *, columns: int | None = None, shown_columns: int | None = None,
           elapsed: float | None = None) -> str:
    """'1 row', '3 rows', '10,000 rows (40 shown)', with '20 columns (6 shown)' when columns were left out,
    and the elapsed time when timed."""
    text = f"{total:,} row" if total == 1 else f"{total:,} rows"
    if shown is not None and shown < total:
        text += f" ({shown:,} shown)"
    if columns is not None and shown_columns is not None and shown_columns < columns:
        text += f"  {columns:,} columns ({shown_columns:,} shown)"
    return text if elapsed is None else f"{text} ({elapsed:.3f} s)"


def in_columns(names: Sequence[str], width: int) -> str:
    """Names laid out in columns across ``width`` characters, down then across (as ``ls`` does)."""
    widest = max(text_width(name) for name in names) + 2
    per_line = max(1, width // widest)
    rows = -(-len(names) // per_line)
    lines = []
    for r in range(rows):
        cells = [names[c * rows + r] for c in range(per_line) if c * rows + r < len(names)]
        lines.append("".join(cell + " " * (widest - text_width(cell)) for cell in cells).rstrip())
    return "\n".join(lines)


# -- complete display formats, written as rows arrive ------------------------------------------------------
class TableWriter:
    """A complete table (every row, every column, whole values), written as rows arrive.

    Column widths are measured on the first :data:`TABLE_BLOCK_ROWS` rows; a later row with a wider value
    widens its column from there on (values are never cut), so a result of any size streams through.
    """

    def __init__(self, stream: IO[str], names: Sequence[str], types: Sequence[str], *, unicode: bool = True,
                 show_types: bool = True) -> None:
        self._stream = stream
        self._names, self._types = list(names), list(types)
        self._box = _BOX_UNICODE if unicode else _BOX_ASCII
        self._show_types = show_types
        self._pending: list[Sequence[Any]] = []
        self._grid: _Grid | None = None

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        if self._grid is None:
            self._pending.extend(rows)
            if len(self._pending) >= TABLE_BLOCK_ROWS:
                self._start()
            return
        self._emit(list(rows))

    def _start(self) -> None:
        rows, self._pending = self._pending, []
        self._grid = _Grid(self._names, self._types, rows, self._show_types)
        columns = list(range(len(self._names)))
        lines = _header(self._grid, columns, self._grid.widths, self._box)
        for row in self._grid.cells:
            lines.extend(_row_lines(self._grid, row, columns, self._grid.widths, self._box))
        self._stream.write("\n".join(lines) + "\n")

    def _emit(self, rows: list[Sequence[Any]]) -> None:
        if not rows:
            return
        grid = _Grid(self._names, self._types, rows, False)
        self._grid.widen(grid)
        grid.widths, grid.right = self._grid.widths, self._grid.right
        columns = list(range(len(self._names)))
        lines = [line for row in grid.cells for line in _row_lines(grid, row, columns, grid.widths, self._box)]
        self._stream.write("\n".join(lines) + "\n")

    def close(self) -> None:
        if self._grid is None:
            self._start()
        self._stream.write(_rule(self._grid.widths, self._box, "bl", "bm", "br") + "\n")


class MarkdownWriter:
    """A complete Markdown table, written as rows arrive."""

    def __init__(self, stream: IO[str], names: Sequence[str], types: Sequence[str]) -> None:
        self._stream, self._types = stream, list(types)
        stream.write(_markdown_header(names, types) + "\n")

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        lines = _markdown_rows(self._types, rows)
        if lines:
            self._stream.write("\n".join(lines) + "\n")

    def close(self) -> None:
        """Nothing to finish."""


class LineWriter:
    """Complete line-mode records, written as rows arrive."""

    def __init__(self, stream: IO[str], names: Sequence[str], types: Sequence[str]) -> None:
        self._stream, self._names, self._types = stream, list(names), list(types)
        self._first = True

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        records = _line_records(self._names, rows, self._types)
        if records:
            self._stream.write(("" if self._first else "\n") + "\n\n".join(records) + "\n")
            self._first = False

    def close(self) -> None:
        """Nothing to finish."""


def display_writer(fmt: str, stream: IO[str], names: Sequence[str], types: Sequence[str], *,
                   unicode: bool = True, show_types: bool = True):
    """The writer of a complete display format (for output that is not a terminal)."""
    if fmt == "table":
        return TableWriter(stream, names, types, unicode=unicode, show_types=show_types)
    if fmt == "markdown":
        return MarkdownWriter(stream, names, types)
    if fmt == "line":
        return LineWriter(stream, names, types)
    raise ValueError(f"not a display format: {fmt}")


# -- data formats --------------------------------------------------------------------------------------------
class CsvWriter:
    """CSV with a header line; NULL is an empty field, timestamps ISO 8601, floats in full."""

    def __init__(self, stream: IO[str], names: Sequence[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(names)

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        self._writer.writerows([_csv_value(v) for v in row] for row in rows)

    def close(self) -> None:
        """Nothing to finish: CSV has no trailer."""


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=_json_default)
    return value


class JsonWriter:
    """A JSON array of objects, one per row, written incrementally (one object per line)."""

    def __init__(self, stream: IO[str], names: Sequence[str]) -> None:
        self._stream = stream
        self._names = list(names)
        self._first = True
        stream.write("[")

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            record = {name: _json_value(value) for name, value in zip(self._names, row)}
            self._stream.write(("\n" if self._first else ",\n") + json.dumps(record, default=_json_default))
            self._first = False

    def close(self) -> None:
        self._stream.write("]\n" if self._first else "\n]\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _json_default(value: Any) -> Any:
    """JSON for values json does not know: ISO dates and times; decimals as numbers when exact."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if hasattr(value, "isoformat"):  # pandas Timestamp and friends
        return value.isoformat()
    return str(value)


def data_writer(fmt: str, stream: IO[str], names: Sequence[str]) -> CsvWriter | JsonWriter:
    """The streaming writer for a data format."""
    if fmt == "csv":
        return CsvWriter(stream, names)
    if fmt == "json":
        return JsonWriter(stream, names)
    raise ValueError(f"not a data format: {fmt}")


def write_parquet(reader, path: str) -> int:
    """Write an Arrow RecordBatchReader to a Parquet file; the number of rows written."""
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
