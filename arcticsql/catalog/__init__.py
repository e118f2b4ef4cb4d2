"""Resolution: ArcticDB names to libraries, symbols and pinned versions, and each version's SQL schema."""

from arcticsql.catalog.arctic import open_arctic
from arcticsql.catalog.catalog import Catalog, VersionInfo

__all__ = ["Catalog", "VersionInfo", "open_arctic"]
