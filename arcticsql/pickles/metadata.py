"""The versioning attrs of seed 003 (``version``, ``created_at``, ``model_params``) and saving by convention."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from arcticsql.pickles.naming import make_path

if TYPE_CHECKING:
    from arcticsql.pickles.backends.base import BaseStorage

ATTR_FIELDS = ("version", "created_at", "model_params")
DEFAULT_VERSION = "1.0"


def stamp_attrs(data: Any, model_params: dict | str | None = None, version: str = DEFAULT_VERSION) -> Any:
    """Set ``attrs['version']``, ``['created_at']`` (isoformat) and ``['model_params']`` (JSON) on a frame, in
    place as the seed does, keeping any already set; objects without ``attrs`` are returned unchanged."""
    attrs = getattr(data, "attrs", None)
    if not isinstance(attrs, dict):
        return data
    attrs.setdefault("version", version)
    attrs.setdefault("created_at", datetime.now().isoformat())
    if "model_params" not in attrs:
        params = model_params if model_params is not None else {}
        attrs["model_params"] = params if isinstance(params, str) else json.dumps(params, sort_keys=True,
                                                                                  default=str)
    return data


def read_attrs(data: Any) -> dict[str, str | None]:
    """The three attrs of a loaded object as strings (None where absent or the object has no attrs)."""
    attrs = getattr(data, "attrs", None)
    if not isinstance(attrs, dict):
        return dict.fromkeys(ATTR_FIELDS)
    return {key: None if attrs.get(key) is None else str(attrs[key]) for key in ATTR_FIELDS}


def save_dataset(storage: BaseStorage, data: Any, data_type: str, market_type: str, model_type: str,
                 params: str | list[str] | tuple[str, ...] = "", *, model_params: dict | str | None = None,
                 timestamp: datetime | str | None = None, version: str = DEFAULT_VERSION) -> str:
    """Stamp the attrs, save under the naming convention, and return the relative path written."""
    path = make_path(data_type, market_type, model_type, params, timestamp)
    storage.save(stamp_attrs(data, model_params, version), path)
    return path
