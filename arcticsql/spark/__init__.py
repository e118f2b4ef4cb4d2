"""arcticsql on Apache Spark: the same SQL over the same ArcticDB store, read in parallel by a cluster.

Install the extra (``pip install 'arcticsql[spark]'``: PySpark 4.1+ and Java 17), then:

    import arcticsql.spark
    spark = arcticsql.spark.session("local[*]")                   # or prepare(an existing SparkSession)
    df = arcticsql.spark.sql(spark, 'SELECT symbol, avg(close) FROM "prices_1min/*" GROUP BY ALL',
                             uri="s3s://s3.eu-west-1.amazonaws.com:research?aws_auth=true")
    spark.read.format("arcticdb").option("uri", uri).load("prices_*/AAPL")   # the data source alone

``sql`` returns the last statement's rows as a Spark DataFrame (lazy: Spark runs it when asked);
:func:`connect` gives a DB-API-shaped connection whose ``execute`` runs statements to their end. From the
command line: ``arcticsql run --engine spark file.sql`` (``--spark-master``, ``--conf k=v``).

The rooms: :mod:`~arcticsql.spark.source` (the ``arcticdb`` data source), :mod:`~arcticsql.spark.plan`
(pushdown and partitions), :mod:`~arcticsql.spark.translate` (DuckDB's dialect to Spark SQL),
:mod:`~arcticsql.spark.run` (statements on a session), :mod:`~arcticsql.spark.writes` (parallel staged
writes), :mod:`~arcticsql.spark.pickles` (``read_pickle``).
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from arcticsql.config import load_settings
from arcticsql.spark.dbapi import SparkConnection, SparkCursor, connect
from arcticsql.spark.run import SparkEngine
from arcticsql.spark.source import ArcticDataSource
from arcticsql.spark.startup import prepare, session

_engines: dict[tuple, SparkEngine] = {}


def engine(spark: SparkSession, uri: str | None = None, config=None) -> SparkEngine:
    """The engine running arcticsql statements on ``spark`` over the store ``uri`` (or the configured one),
    made once per session and store."""
    key = (id(spark), uri, json.dumps(config, sort_keys=True, default=str))
    made = _engines.get(key)
    if made is None or made.spark is not spark:
        made = _engines[key] = SparkEngine(spark, load_settings(config, uri))
    return made


def sql(spark: SparkSession, query: str, params: Any = None, *, uri: str | None = None, config=None) -> DataFrame | None:
    """Run the statements of ``query`` on ``spark``; the last one's rows as a Spark DataFrame."""
    return engine(spark, uri, config).sql(query, params)


__all__ = ["ArcticDataSource", "SparkConnection", "SparkCursor", "SparkEngine", "connect", "engine", "prepare",
           "session", "sql"]
