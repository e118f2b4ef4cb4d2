"""A SparkSession ready for arcticsql: the data sources registered, filter pushdown on, times in UTC, and
Python workers that run this interpreter and import this arcticsql.

    spark = arcticsql.spark.session("local[*]")                     # or a cluster: "spark://host:7077", "yarn"
    spark = arcticsql.spark.session(conf={"spark.executor.memory": "8g"})
    arcticsql.spark.prepare(existing_spark)                          # a session made elsewhere

On a cluster the executors need arcticsql installed (``pip install 'arcticsql[spark]'`` in their Python
environment); locally they inherit this interpreter and its import path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import SparkSession

from arcticsql.errors import InterfaceError
from arcticsql.spark.pickles import PickleDataSource
from arcticsql.spark.source import ArcticDataSource

#: Settings arcticsql needs; a user's --conf may change anything else.
REQUIRED = {
    "spark.sql.python.filterPushdown.enabled": "true",  # else every read of a source with pushFilters fails
    "spark.sql.session.timeZone": "UTC",                 # AT TIMESTAMP, zoned indexes and casts: UTC, as on DuckDB
}
DEFAULTS = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",  # small results (aggregates) need few shuffle tasks
}

_prepared: weakref.WeakSet = weakref.WeakSet()


def package_root() -> str:
    """The folder arcticsql is imported from (put on the workers' import path in local mode)."""
    return str(Path(__file__).resolve().parents[2])


#: Spark's logging for a session that must print nothing but results (the command line): errors reach the
#: user as arcticsql's one-line messages instead.
QUIET_LOG4J2 = """rootLogger.level = off
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %m%n
"""


def _quiet_java_options() -> str:
    path = os.path.join(tempfile.gettempdir(), "arcticsql-spark-quiet-log4j2.properties")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as file:
            file.write(QUIET_LOG4J2)
    return f"-Dlog4j2.configurationFile=file:{path}"


def session(master: str = "local[*]", conf: dict[str, str] | None = None, *, app_name: str = "arcticsql",
            log_level: str = "ERROR", quiet: bool = False) -> SparkSession:
    """The active SparkSession, or a new one on ``master`` with ``conf``, prepared for arcticsql; ``quiet``:
    Spark logs nothing (from its start, when this makes the session)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    root = package_root()
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])  # inherited by a local JVM and its workers
    running = SparkSession.getActiveSession() is not None
    builder = SparkSession.builder.master(master).appName(app_name)
    if quiet:
        conf = {"spark.driver.extraJavaOptions": _quiet_java_options(), **(conf or {})}
        log_level = "OFF"
    settings = {**DEFAULTS, "spark.executorEnv.PYTHONPATH": os.environ["PYTHONPATH"],
                "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"], **(conf or {}), **REQUIRED}
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        if quiet and not running:
            with _stderr_to(os.path.join(tempfile.gettempdir(), f"arcticsql-spark-{os.getpid()}.log")) as log:
                spark = builder.getOrCreate()
        else:
            log, spark = None, builder.getOrCreate()
    except Exception as error:  # noqa: BLE001 - a session that did not start is one line, saying why
        raise _not_started(error, log) from None
    if log is not None:
        os.unlink(log)  # the JVM keeps writing its (silenced) output to the file it holds open
    spark.sparkContext.setLogLevel(log_level)
    if quiet:
        for name in QUERY_CONTEXT_LOGGERS:
            logging.getLogger(name).disabled = True
    return prepare(spark)


#: PySpark's loggers that print every analysis error with the JVM's stack trace (arcticsql reports it itself).
QUERY_CONTEXT_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


def activate(spark: SparkSession) -> None:
    """Make ``spark`` the active session of the calling thread, in the JVM too (as PySpark's own
    ``createDataFrame`` does): a data source write started from another thread than the one that made the
    session (the shell runs each statement on its own thread) otherwise fails with DATA_SOURCE_NOT_FOUND."""
    jvm, session = getattr(spark, "_jvm", None), getattr(spark, "_jsparkSession", None)
    if jvm is not None and session is not None:  # a classic session (Spark Connect has neither, and no need)
        jvm.org.apache.spark.sql.SparkSession.setActiveSession(session)


@contextlib.contextmanager
def errors_unlogged() -> Iterator[None]:
    """PySpark's query-context loggers off inside the block: arcticsql reports the error in the user's words
    (the log line would print it again, with the JVM's stack and internal view names)."""
    loggers = [logging.getLogger(name) for name in QUERY_CONTEXT_LOGGERS]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in zip(loggers, before, strict=True):
            logger.disabled = disabled


@contextlib.contextmanager
def _stderr_to(path: str) -> Iterator[str]:
    """Standard error (the file descriptor, which a JVM started meanwhile inherits) into ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield path
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _not_started(error: BaseException, log: str | None) -> InterfaceError:
    detail = ""
    if log and os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as file:
            lines = [line.strip() for line in file if line.strip()]
        detail = f": {lines[-1]}" if lines else ""
    if "JAVA_GATEWAY_EXITED" in str(error) or "Java gateway" in str(error):
        return InterfaceError(f"Spark did not start (it needs Java 17: is JAVA_HOME set?){detail}")
    return InterfaceError(f"Spark did not start: {' '.join(str(error).split())[:300]}{detail}")


def prepare(spark: SparkSession) -> SparkSession:
    """Register the ``arcticdb`` and ``arcticsql_pickle`` data sources on ``spark`` and set what arcticsql
    needs (runtime settings); once per session."""
    for key, value in REQUIRED.items():
        if spark.conf.get(key, None) != value:
            spark.conf.set(key, value)
    if spark not in _prepared:
        spark.dataSource.register(ArcticDataSource)
        spark.dataSource.register(PickleDataSource)
        _prepared.add(spark)
    return spark
