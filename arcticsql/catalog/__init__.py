"""Resolution: ArcticDB names to libraries, symbols and pinned versions, and each version's SQL schema."""

from arcticsql.catalog.arctic import Store, open_arctic, redact
from arcticsql.catalog.catalog import Catalog, VersionInfo

__all__ = ["Catalog", "Store", "VersionInfo", "open_arctic", "redact"]
