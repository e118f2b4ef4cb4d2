"""A SparkSession ready for arcticsql: the data sources registered, filter pushdown on, times in UTC, and
Python workers that run this interpreter and import this arcticsql.

    spark = arcticsql.spark.session("local[*]")                     # or a cluster: "spark://host:7077", "yarn"
    spark = arcticsql.spark.session(conf={"spark.executor.memory": "8g"})
    arcticsql.spark.prepare(existing_spark)                          # a session made elsewhere

On a cluster the executors need arcticsql installed (``pip install 'arcticsql[spark]'`` in their Python
environment); locally they inherit this interpreter and its import path.
"""

from __future__ import annotations

import os
import sys
import weakref
from pathlib import Path

from pyspark.sql import SparkSession

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


def session(master: str = "local[*]", conf: dict[str, str] | None = None, *, app_name: str = "arcticsql",
            log_level: str = "ERROR") -> SparkSession:
    """The active SparkSession, or a new one on ``master`` with ``conf``, prepared for arcticsql."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    root = package_root()
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])  # inherited by a local JVM and its workers
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {**DEFAULTS, "spark.executorEnv.PYTHONPATH": os.environ["PYTHONPATH"],
                "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"], **(conf or {}), **REQUIRED}
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    return prepare(spark)


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
