"""The file naming convention of seed 003: ``{data_type}/{market_type}/{model_type}/{timestamp}_{params}.pkl``.

For example ``index/nifty/gbm/20230901_123045_bullish_high_vol.pkl``. ``parse_path`` reads the three
directories above the file (a prefix such as ``v1/`` is tolerated); what a path lacks is None.
"""

from __future__ import annotations

import re
from datetime import datetime

NAMING_FIELDS = ("data_type", "market_type", "model_type", "timestamp", "params")

TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
EXTENSION = ".pkl"

_STEM = re.compile(r"(?P<stamp>\d{8}_\d{6})(?:_(?P<params>.*))?")


def _stamp_to_datetime(stamp: str) -> datetime:
    """``YYYYMMDD_HHMMSS`` (matched digits) as a datetime, at a twentieth of ``strptime``'s cost."""
    return datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]),
                    int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15]))


def _clean_segment(value: str, what: str) -> str:
    text = str(value).strip()
    if not text or "/" in text or text in (".", ".."):
        raise ValueError(f"{what} must be a non-empty name without '/', not {value!r}")
    return text


def make_path(data_type: str, market_type: str, model_type: str, params: str | list[str] | tuple[str, ...] = "",
              timestamp: datetime | str | None = None) -> str:
    """The relative path for a dataset, e.g. ``index/nifty/gbm/20230901_123045_bullish_high_vol.pkl``;
    ``params``: a string or strings (joined by ``_``); ``timestamp``: a datetime, ``YYYYMMDD_HHMMSS``, or None
    for now."""
    if timestamp is None:
        timestamp = datetime.now()
    if isinstance(timestamp, datetime):
        stamp = timestamp.strftime(TIMESTAMP_FORMAT)
    else:
        stamp = str(timestamp)
        datetime.strptime(stamp, TIMESTAMP_FORMAT)  # ValueError if it is not one
    if not isinstance(params, str):
        params = "_".join(str(part) for part in params)
    if "/" in params:
        raise ValueError(f"params must not contain '/', not {params!r}")
    stem = f"{stamp}_{params}" if params else stamp
    directories = [_clean_segment(value, what) for value, what in (
        (data_type, "data_type"), (market_type, "market_type"), (model_type, "model_type"))]
    return "/".join([*directories, stem + EXTENSION])


def parse_path(path: str) -> dict[str, object]:
    """The naming fields of ``path``: data_type, market_type, model_type, timestamp (datetime), params (''
    for a conventional name without params); None for what the path does not carry."""
    fields: dict[str, object] = dict.fromkeys(NAMING_FIELDS)
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return fields
    name = segments[-1]
    stem = name.removesuffix(EXTENSION)
    match = _STEM.fullmatch(stem)
    if match is None:
        return fields
    try:
        fields["timestamp"] = _stamp_to_datetime(match["stamp"])
    except ValueError:  # e.g. month 13: not a timestamp after all
        return fields
    fields["params"] = match["params"] or ""
    directories = segments[:-1]
    if len(directories) >= 3:
        fields["data_type"], fields["market_type"], fields["model_type"] = directories[-3:]
    return fields
