"""Output formats shared by the REPL and the commands: how rows become text (or a Parquet file).

``table``, ``markdown`` and ``line`` are *display* formats: they are rendered from a bounded list of rows
(the caller stops fetching at the display limit). ``csv`` and ``json`` are *data* formats: they are written
chunk by chunk, so a result of any size streams through. ``parquet`` writes Arrow record batches to a file.

Values: NULL shows as ``NULL`` in display formats (empty in CSV, ``null`` in JSON); floats show up to 10
significant digits in display formats and in full in data formats; timestamps are ISO 8601.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import IO, Any

DISPLAY_FORMATS = ("table", "markdown", "line")
DATA_FORMATS = ("csv", "json")
FORMATS = ("table", "csv", "json", "markdown", "line")

_NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL", "NUMERIC", "VARINT", "BIGNUM"}
_NULL = "NULL"
_ELLIPSIS = "…"
_MIN_COLUMN_WIDTH = 6


def is_numeric(type_name: str) -> bool:
    """True for DuckDB numeric types (right-aligned in tables); BOOLEAN is not."""
    return str(type_name).split("(")[0].strip().upper() in _NUMERIC_TYPES


def display_value(value: Any) -> str:
    """One value as shown in display formats (NULL for None); line breaks are kept (a table shows them as
    a taller row, such as an EXPLAIN plan), tabs and carriage returns escaped."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    text = value if isinstance(value, str) else str(value)
    return text.replace("\r\n", "\n").replace("\r", "\\r").replace("\t", "\\t")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    return f"{value:.10g}"


def _bytes_text(value: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in value)


# -- display formats -------------------------------------------------------------------------------------
def render(fmt: str, names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
           max_width: int | None = None, unicode: bool = True, show_types: bool = True) -> str:
    """``rows`` in a display format (table, markdown or line); no trailing newline."""
    if fmt == "table":
        return render_table(names, types, rows, max_width=max_width, unicode=unicode, show_types=show_types)
    if fmt == "markdown":
        return render_markdown(names, types, rows)
    if fmt == "line":
        return render_line(names, rows)
    raise ValueError(f"not a display format: {fmt}")


_BOX_UNICODE = {"h": "─", "v": "│", "tl": "┌", "tm": "┬", "tr": "┐", "ml": "├", "mm": "┼", "mr": "┤",
                "bl": "└", "bm": "┴", "br": "┘"}
_BOX_ASCII = {"h": "-", "v": "|", "tl": "+", "tm": "+", "tr": "+", "ml": "+", "mm": "+", "mr": "+",
              "bl": "+", "bm": "+", "br": "+"}


def render_table(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 max_width: int | None = None, unicode: bool = True, show_types: bool = True) -> str:
    """An aligned table with a header of column names (and types); numbers right-aligned.

    With ``max_width`` (the terminal's width), the widest columns are shortened (cut with '…') until the
    table fits, down to a few characters each.
    """
    box = _BOX_UNICODE if unicode else _BOX_ASCII
    kinds = [str(t).lower() for t in types] if show_types else [""] * len(names)
    cells = [[display_value(v).rstrip("\n").split("\n") for v in row] for row in rows]
    widths = [max([len(name), len(kind)] + [len(part) for row in cells for part in row[i]])
              for i, (name, kind) in enumerate(zip(names, kinds))]
    if max_width:
        widths = _fit(widths, max_width)
    right = [is_numeric(t) for t in types]

    def line(left: str, middle: str, end: str) -> str:
        return left + middle.join(box["h"] * (w + 2) for w in widths) + end

    def row_text(values: Sequence[str], align: Sequence[bool]) -> str:
        parts = []
        for value, width, to_right in zip(values, widths, align):
            value = _cut(value, width)
            parts.append(" " + (value.rjust(width) if to_right else value.ljust(width)) + " ")
        return box["v"] + box["v"].join(parts) + box["v"]

    out = [line(box["tl"], box["tm"], box["tr"]), row_text(names, [False] * len(names))]
    if show_types:
        out.append(row_text(kinds, [False] * len(names)))
    out.append(line(box["ml"], box["mm"], box["mr"]))
    for row in cells:
        height = max((len(lines) for lines in row), default=1)
        for i in range(height):
            out.append(row_text([lines[i] if i < len(lines) else "" for lines in row], right))
    out.append(line(box["bl"], box["bm"], box["br"]))
    return "\n".join(out)


def _fit(widths: list[int], max_width: int) -> list[int]:
    """Column widths shrunk (widest first) so the table is at most ``max_width`` characters wide."""
    widths = list(widths)
    total = sum(widths) + 3 * len(widths) + 1
    while total > max_width:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= _MIN_COLUMN_WIDTH:
            break
        widths[widest] -= 1
        total -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + _ELLIPSIS


def render_markdown(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")

    header = "| " + " | ".join(cell(n) for n in names) + " |"
    rule = "|" + "|".join("---:" if is_numeric(t) else "---" for t in types) + "|"
    body = ["| " + " | ".join(cell(display_value(v)) for v in row) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def render_line(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """One ``column = value`` line per column, records separated by a blank line (sqlite's line mode)."""
    width = max((len(n) for n in names), default=0)
    indent = "\n" + " " * (width + 3)

    def field(name: str, value: Any) -> str:
        return f"{name.rjust(width)} = {display_value(value).replace(chr(10), indent)}"

    return "\n\n".join("\n".join(field(n, v) for n, v in zip(names, row)) for row in rows)


def footer(shown: int, total: int, elapsed: float | None = None) -> str:
    """'3 rows', '1 row', or '(showing first 1000 of 5000 rows)'; with the elapsed time when timed."""
    if shown < total:
        text = f"(showing first {shown} of {total} rows)"
    else:
        text = f"{total} row" if total == 1 else f"{total} rows"
    return text if elapsed is None else f"{text} ({elapsed:.3f} s)"


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
