"""The ArcticDB store a session reads and writes: its URI checked and shown without secrets, ArcticDB's
process-wide settings, and the store opened on first use.

Any ArcticDB URI works (``lmdb://``, ``mem://``, ``s3://``, ``s3s://``, ``gcpxml://``, ``azure://``). A local
store whose folder does not exist is created only by a write: reading it is an error saying how to make
one. On object storage every request has a timeout and a bounded number of tries
(``arcticdb.request_timeout_s``, ``arcticdb.attempts``), and ArcticDB keeps ``arcticdb.io_threads`` requests
in flight (its default, sized for a CPU, leaves a batch read waiting on the network).

    >>> redact("s3://127.0.0.1:bucket?port=9000&access=AKIA123&secret=s3cr3t")
    's3://127.0.0.1:bucket?port=9000&access=***&secret=***'
"""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import unquote

import arcticdb
from arcticdb.config import set_config_int, set_log_level

from arcticsql.config import Settings
from arcticsql.errors import InterfaceError, OperationalError, ProgrammingError

#: URI options whose values are credentials, shown as ``***``.
_SECRETS = ("secret", "access", "accountkey", "sharedaccesssignature", "sig", "password", "token",
            "sessiontoken", "aws_session_token", "key")
_SECRET_VALUE = re.compile(r"(?i)(^|[?&;])(" + "|".join(_SECRETS) + r")=([^&;]*)")
_USER_PASSWORD = re.compile(r"(?i)^([a-z0-9+.-]+://)([^:@/]*):([^@/]*)@")
_OBJECT_SCHEMES = ("s3", "s3s", "gcpxml", "gcpxmls", "azure")
_BUCKET = re.compile(r"[-_a-zA-Z0-9.]+")

_ARCTICS: dict[str, arcticdb.Arctic] = {}
_ARCTICS_LOCK = threading.Lock()
_CONFIGURED: set[str] = set()
#: Whether the AWS SDK's retry variables are arcticsql's (a later store may change them) or the user's.
_USER_SET_AWS_RETRIES = "AWS_MAX_ATTEMPTS" in os.environ or "AWS_RETRY_MODE" in os.environ


def redact(text: str) -> str:
    """``text`` (a URI, or a message quoting one) with every credential replaced by ``***``."""
    text = _SECRET_VALUE.sub(lambda match: f"{match.group(1)}{match.group(2)}=***", text)
    return _USER_PASSWORD.sub(lambda match: f"{match.group(1)}{match.group(2)}:***@", text)


def scheme_of(uri: str) -> str:
    return uri.partition("://")[0].lower()


def check_uri(uri: str) -> None:
    """InterfaceError, in one line without secrets, for a URI ArcticDB would misread: the forms it crashes
    on or silently reads as something else (an S3 or GCS URI without ``endpoint:bucket``, a port written
    into the endpoint, a path after the bucket, an option without a value)."""
    if "://" not in uri:
        raise InterfaceError(f"{redact(uri)!r} is not an ArcticDB URI: expected lmdb://<folder>, mem://, "
                             "s3://<endpoint>:<bucket>?..., gcpxml://..., azure://...")
    scheme, _, rest = uri.partition("://")
    if scheme.lower() not in ("s3", "s3s", "gcpxml", "gcpxmls"):
        return
    base, _, query = rest.partition("?")
    endpoint, colon, bucket = base.partition(":")
    shown = redact(uri)
    if not colon or not endpoint:
        raise InterfaceError(f"invalid ArcticDB URI {shown!r}: write {scheme}://<endpoint>:<bucket>[?options], "
                             f"e.g. s3s://s3.us-east-1.amazonaws.com:{bucket or base or 'my-bucket'}?aws_auth=true")
    if ":" in bucket:
        raise InterfaceError(f"invalid ArcticDB URI {shown!r}: give the port as ?port=N, not in the endpoint")
    if not _BUCKET.fullmatch(bucket):
        raise InterfaceError(f"invalid ArcticDB URI {shown!r}: {bucket!r} is not a bucket name (a folder in "
                             "the bucket is ?path_prefix=...)")
    for option in filter(None, re.split("[;&]", query)):
        if "=" not in option or not option.partition("=")[2]:
            raise InterfaceError(f"invalid ArcticDB URI {shown!r}: option {unquote(option.partition('=')[0])!r} "
                                 "needs a value (name=value)")


def _configure(uri: str, settings: Settings) -> None:
    """ArcticDB's process-wide settings, before an ``Arctic`` for ``uri`` is made.

    - Logging: critical messages only (a failure is raised as an error, in one line), unless
      ``$ARCTICSQL_ARCTICDB_LOG_LEVEL`` says otherwise.
    - Local stores: the storage lock's settle wait drops from 1 s to 10 ms (the first ``list_symbols`` of a
      library compacts its symbol list under that lock and would otherwise always wait a full second).
    - ``io_threads`` requests in flight (ArcticDB sizes its pool when the first store of the process opens).
    - Object stores: each request bounded by ``request_timeout_s`` and tried ``attempts`` times; the AWS
      SDK's own retry variables win when the user has set them.
    """
    kind = "object" if scheme_of(uri) in _OBJECT_SCHEMES else "local"
    if not _CONFIGURED:
        set_log_level(os.environ.get("ARCTICSQL_ARCTICDB_LOG_LEVEL", "CRITICAL").upper())  # failures are raised
        # ArcticDB sizes its I/O pool when the first store of the process opens, whatever its kind
        set_config_int("VersionStore.NumIOThreads", settings.io_threads)
    if kind == "local" and "local" not in _CONFIGURED:
        set_config_int("StorageLock.WaitMs", 10)
    if kind == "object":
        timeout_ms = max(1000, int(settings.request_timeout_s * 1000))
        set_config_int("S3Storage.RequestTimeoutMs", timeout_ms)
        set_config_int("S3Storage.HttpRequestTimeoutMs", timeout_ms)
        set_config_int("S3Storage.ConnectTimeoutMs", timeout_ms)
        if not _USER_SET_AWS_RETRIES:  # read by the AWS SDK when ArcticDB makes its client
            os.environ["AWS_RETRY_MODE"] = "standard"
            os.environ["AWS_MAX_ATTEMPTS"] = str(settings.attempts)
    _CONFIGURED.add(kind)


def open_arctic(uri: str, settings: Settings | None = None) -> arcticdb.Arctic:
    """An ``arcticdb.Arctic`` for ``uri``; one per LMDB path per process, since LMDB environments must not
    be opened twice by one process."""
    check_uri(uri)
    _configure(uri, settings or Settings(arctic_uri=uri))
    try:
        if not uri.startswith("lmdb://"):
            return arcticdb.Arctic(uri)
        with _ARCTICS_LOCK:
            if uri not in _ARCTICS:
                _ARCTICS[uri] = arcticdb.Arctic(uri)
            return _ARCTICS[uri]
    except Exception as error:  # noqa: BLE001 - arcticdb raises plain exceptions for bad URIs
        raise InterfaceError(f"cannot open ArcticDB store {redact(uri)!r}: {redact(str(error))}") from None


class Store:
    """The ArcticDB store at a URI, opened on first use."""

    def __init__(self, uri: str, settings: Settings) -> None:
        check_uri(uri)
        self.uri = uri
        self.settings = settings
        #: The URI as messages show it: without credentials.
        self.shown = redact(uri)
        self._arctic: arcticdb.Arctic | None = None
        self._lock = threading.Lock()

    @property
    def is_object_store(self) -> bool:
        return scheme_of(self.uri) in _OBJECT_SCHEMES

    def local_folder(self) -> str | None:
        """The folder of an ``lmdb://`` store (None for any other kind)."""
        if not self.uri.startswith("lmdb://"):
            return None
        return self.uri[len("lmdb://"):].partition("?")[0]

    def exists(self) -> bool:
        """Whether there is a store to read: a local store's folder holding ArcticDB's configuration (a
        folder without it is not a store: opening it would make one); any other kind is taken to exist."""
        folder = self.local_folder()
        return self._arctic is not None or folder is None or os.path.isdir(os.path.join(folder, "_arctic_cfg"))

    def arctic(self, *, create: bool = False) -> arcticdb.Arctic:
        """The opened store; a local store whose folder does not exist is made only with ``create``."""
        if self._arctic is None:
            with self._lock:
                if self._arctic is None:
                    folder = self.local_folder()
                    if not create and not self.exists():
                        raise ProgrammingError(
                            f"there is no ArcticDB store at {folder}: make one with `arcticsql demo`, write to "
                            "it (COPY ... TO 'arctic://library/symbol'), or point --uri, $ARCTICSQL_URI or "
                            "arctic_storage_path at an existing store")
                    self._arctic = open_arctic(self.uri, self.settings)
        return self._arctic

    def failure(self, error: BaseException) -> OperationalError | None:
        """One line about a failure of this store to answer (unreachable, timed out, denied, no bucket),
        naming the store without its secrets; None for any other error."""
        text = " ".join(str(error).split())
        if "E_PERMISSION" in text or "HttpResponseCode:403" in text:
            reason = next((word for word in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
                           if word in text), "access denied")
            return OperationalError(f"the ArcticDB store {self.shown} refused access ({reason}): check the "
                                    "credentials (access=/secret= in the URI, or aws_auth=true and the "
                                    "environment)")
        if "NoSuchBucket" in text:
            return OperationalError(f"the bucket of the ArcticDB store {self.shown} does not exist")
        if "curlCode: 28" in text or "Timeout was reached" in text:
            return OperationalError(f"the ArcticDB store {self.shown} did not answer within "
                                    f"{self.settings.request_timeout_s:g} s (arcticdb.request_timeout_s); "
                                    "nothing was written")
        if "E_S3_RETRYABLE" in text or "curlCode" in text or "Could not connect" in text:
            cause = "connection refused" if "curlCode: 7" in text else "network error"
            return OperationalError(f"cannot reach the ArcticDB store {self.shown} ({cause}); nothing was "
                                    "written")
        return None
