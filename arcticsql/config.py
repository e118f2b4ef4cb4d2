"""Settings: the config file (YAML) merged over built-in defaults, then environment overrides.

Lookup order for the file: the ``config`` argument, ``$ARCTICSQL_CONFIG``, ``./config/config.yaml``;
a missing default file is fine (defaults apply), a missing explicitly named file is an error.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORE_LIBRARIES = (
    "ticks", "prices_1min", "prices_5min", "prices_daily",
    "indices", "market_internals",
    "news_raw", "news_enriched", "sentiment",
    "features", "signals",
    "metadata", "universe",
)

DEFAULTS: dict[str, Any] = {
    "arctic_storage_path": "lmdb://./data/arctic_storage",
    "core_libraries": list(CORE_LIBRARIES),
    "processing": {"max_workers": 4, "scan_chunk_mb": 256, "listing_ttl_s": 2,
                   "nan_is_null": True, "wildcard_first_rows": 10_000, "cache_mb": 1024, "disk_cache_dir": None,
                   "disk_cache_mb": 10240},
    "arcticdb": {"io_threads": 16, "request_timeout_s": 30, "attempts": 3, "write_lock_timeout_s": 60,
                 "unlocked_writes": False},
    "storage": {
        "type": "local",
        "allow_unsafe_pickle": False,
        "sandbox": True,
        "load_timeout_s": 60,
        "sandbox_memory_mb": 2048,
        "local": {"base_path": "./data/pickles"},
        "gcs": {"bucket_name": None, "cache_dir": "./data/gcs_cache", "timeout_s": 60},
    },
}

DEFAULT_CONFIG_PATH = Path("config") / "config.yaml"


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Settings:
    arctic_uri: str
    core_libraries: tuple[str, ...] = CORE_LIBRARIES
    max_workers: int = 4
    scan_chunk_bytes: int = 256 * 1024 * 1024
    storage: dict[str, Any] = field(default_factory=dict)
    #: Seconds a listing (the libraries, a wildcard's members) is reused before the store is asked again.
    listing_ttl_s: float = 2.0
    #: Float NaN reads as SQL NULL (see arcticsql.missing); False keeps raw NaN.
    nan_is_null: bool = True
    #: Rows of each wildcard member read while planning (a shorter member is served from that read; fewer
    #: when there are many members); 0: plan with schemas only.
    wildcard_first_rows: int = 10_000
    #: The session cache of decoded ArcticDB columns (see arcticsql.sources.cache): its bound (0: off), and an
    #: optional folder shared by processes for stores on object storage, with its own bound.
    cache_bytes: int = 1024 * 1024 * 1024
    disk_cache_dir: str | None = None
    disk_cache_bytes: int = 10 * 1024 * 1024 * 1024
    #: Object stores (see arcticsql.catalog.arctic): requests in flight, seconds one may take, tries of each.
    io_threads: int = 16
    request_timeout_s: float = 30.0
    attempts: int = 3
    #: Writes (see arcticsql.writes.lock): seconds to wait for another writer of a symbol; allow a store
    #: that has no cross-process lock (Azure).
    write_lock_timeout_s: float = 60.0
    unlocked_writes: bool = False
    source: str | None = None  # the file the settings came from, if any

    @property
    def storage_type(self) -> str:
        return str(self.storage.get("type", "local")).lower()

    @property
    def allow_unsafe_pickle(self) -> bool:
        return bool(self.storage.get("allow_unsafe_pickle", False))

    @property
    def pickle_sandbox(self) -> bool:
        """SQL reads of pickles load in loader processes (see arcticsql.pickles.sandbox)."""
        return bool(self.storage.get("sandbox", True))

    @property
    def pickle_load_timeout_s(self) -> float:
        """Seconds a loader process may take over one file."""
        return float(self.storage.get("load_timeout_s", 60))

    @property
    def pickle_memory_mb(self) -> int:
        """Address space a loader process may add to its own at start, in MB (0: no limit)."""
        return int(self.storage.get("sandbox_memory_mb", 2048))

    @property
    def gcs_timeout_s(self) -> float:
        """Seconds one GCS request (its retries included) may take."""
        return float((self.storage.get("gcs") or {}).get("timeout_s", 60))


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def normalise_uri(uri: str) -> str:
    """Make a relative ``lmdb://`` path absolute (against the working directory), so the store does not
    move when the process changes directory; other URIs pass through unchanged."""
    if uri.startswith("lmdb://"):
        rest = uri[len("lmdb://"):]
        path, sep, options = rest.partition("?")
        if not os.path.isabs(path):
            path = os.path.abspath(path)
        return f"lmdb://{path}{sep}{options}"
    return uri


def _folder(value: Any) -> str | None:
    """A folder setting made absolute (against the working directory), or None when unset."""
    if value and not isinstance(value, str):
        raise ConfigError(f"a folder setting takes a path, not {value!r}")
    return os.path.abspath(os.path.expanduser(value)) if value else None


def _checked_shape(data: Any) -> dict:
    """The parsed config with empty blocks as empty, or ConfigError naming a block that is not one.

        >>> _checked_shape({"processing": 5})
        Traceback (most recent call last):
        arcticsql.config.ConfigError: processing must be a block of settings (key: value lines), not 5
    """
    if not isinstance(data, dict):
        raise ConfigError("the config file must hold settings (key: value lines)")
    data = dict(data)
    for block in ("processing", "arcticdb", "storage"):
        data[block] = _block(data.get(block), block)
    data["storage"] = {**data["storage"], **{name: _block(data["storage"].get(name), f"storage.{name}")
                                              for name in ("local", "gcs")}}
    libraries = data.get("core_libraries")
    if libraries is not None and not (isinstance(libraries, list) and all(isinstance(n, str) for n in libraries)):
        raise ConfigError(f"core_libraries must be a list of library names, not {libraries!r}")
    kind = data["storage"].get("type")
    if kind is not None and kind not in ("local", "gcs"):
        raise ConfigError(f"storage.type must be local or gcs, not {kind!r}")
    return data


def _block(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a block of settings (key: value lines), not {value!r}")
    return value


def parse_boolean(value: Any, name: str, error: type[Exception] = ConfigError) -> bool:
    """``value`` (a bool, or true/false/yes/no/on/off/1/0 written as text) as a bool; ``error`` naming
    ``name`` otherwise. One reading of a boolean for the config file and for statement options.

        >>> parse_boolean("Yes", "PRUNE")
        True
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise error(f"{name} takes true or false, not {value!r}")


def load_settings(config: str | os.PathLike | dict | None = None, uri: str | None = None) -> Settings:
    """Build settings from a file path, a dict (already-parsed config), or the default lookup."""
    source: str | None = None
    if isinstance(config, dict):
        data = config
    else:
        explicit = config if config is not None else os.environ.get("ARCTICSQL_CONFIG")
        if explicit:
            path = Path(explicit)
            if not path.is_file():
                raise ConfigError(f"config file not found: {path}")
            data, source = _read_yaml(path), str(path)
        elif DEFAULT_CONFIG_PATH.is_file():
            data, source = _read_yaml(DEFAULT_CONFIG_PATH), str(DEFAULT_CONFIG_PATH)
        else:
            data = {}
    merged = _merge(DEFAULTS, _checked_shape(data))

    env = os.environ
    arctic_uri = uri or env.get("ARCTICSQL_URI") or merged["arctic_storage_path"]
    storage = merged["storage"]
    if env.get("LOCAL_STORAGE_PATH"):
        storage["local"]["base_path"] = env["LOCAL_STORAGE_PATH"]
    if env.get("GCS_BUCKET_NAME"):
        storage["gcs"]["bucket_name"] = env["GCS_BUCKET_NAME"]
    if env.get("ARCTICSQL_STORAGE_TYPE"):
        storage["type"] = env["ARCTICSQL_STORAGE_TYPE"]

    processing = merged["processing"]
    try:
        max_workers = max(1, int(processing.get("max_workers", 4)))
        chunk_mb = float(processing.get("scan_chunk_mb", 256))
        listing_ttl_s = max(0.0, float(processing.get("listing_ttl_s", 2)))
        wildcard_first_rows = max(0, int(processing.get("wildcard_first_rows", 10_000)))
        cache_mb = max(0.0, float(processing.get("cache_mb", 1024)))
        disk_cache_mb = max(0.0, float(processing.get("disk_cache_mb", 10240)))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"processing settings must be numbers: {error}") from None
    arctic_options = merged.get("arcticdb") or {}
    try:
        io_threads = max(1, int(arctic_options.get("io_threads", 16)))
        request_timeout_s = max(1.0, float(arctic_options.get("request_timeout_s", 30)))
        attempts = max(1, int(arctic_options.get("attempts", 3)))
        write_lock_timeout_s = max(0.0, float(arctic_options.get("write_lock_timeout_s", 60)))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"arcticdb settings must be numbers: {error}") from None
    nan_is_null = parse_boolean(processing.get("nan_is_null", True), "processing.nan_is_null")
    storage["sandbox"] = parse_boolean(storage.get("sandbox", True), "storage.sandbox")
    try:
        storage["load_timeout_s"] = max(0.01, float(storage.get("load_timeout_s", 60)))
        storage["sandbox_memory_mb"] = max(0, int(storage.get("sandbox_memory_mb", 2048)))
        storage["gcs"]["timeout_s"] = max(0.01, float(storage["gcs"].get("timeout_s", 60)))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"storage timeouts and sandbox_memory_mb must be numbers: {error}") from None
    return Settings(
        arctic_uri=normalise_uri(str(arctic_uri)),
        core_libraries=tuple(merged.get("core_libraries") or ()),
        max_workers=max_workers,
        scan_chunk_bytes=max(1, int(chunk_mb * 1024 * 1024)),
        storage=storage,
        listing_ttl_s=listing_ttl_s,
        nan_is_null=nan_is_null,
        wildcard_first_rows=wildcard_first_rows,
        cache_bytes=int(cache_mb * 1024 * 1024),
        disk_cache_dir=_folder(processing.get("disk_cache_dir")),
        disk_cache_bytes=int(disk_cache_mb * 1024 * 1024),
        io_threads=io_threads,
        request_timeout_s=request_timeout_s,
        attempts=attempts,
        write_lock_timeout_s=write_lock_timeout_s,
        unlocked_writes=parse_boolean(arctic_options.get("unlocked_writes", False), "arcticdb.unlocked_writes"),
        source=source,
    )
