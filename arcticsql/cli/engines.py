"""``--engine``: which engine ``run`` and ``query`` execute on (DuckDB in this process, or Apache Spark).

    arcticsql run --engine spark report.sql                              # local[*]
    arcticsql run --engine spark --spark-master spark://host:7077 --conf spark.executor.memory=8g report.sql

The Spark engine lives in the optional extra ``arcticsql[spark]`` (PySpark, Java 17): it is imported only
when chosen.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import click

from arcticsql.errors import InterfaceError

ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class SparkChoice:
    """``--engine spark`` with its master and settings."""

    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)

    def connect(self, uri: str | None, config: str | None):
        """A connection running statements on a Spark session (stopped with it, unless already running)."""
        try:
            from arcticsql.spark.dbapi import connect  # PySpark: the optional spark extra
        except ImportError:
            raise InterfaceError("the Spark engine needs PySpark and Java 17: pip install 'arcticsql[spark]'") from None
        return connect(uri, config, master=self.master, conf=self.conf, quiet=True)


def _settings(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"expected key=value, got {value!r}")
        settings[key.strip()] = text
    return settings


def engine_options(command):
    """Add --engine, --spark-master and --conf to a command; the choice is left on the context's object
    (``engine``), whose ``connect()`` then opens that engine's connection."""
    @functools.wraps(command)
    def chosen(*args, engine: str, spark_master: str, spark_conf: dict[str, str], **kwargs):
        if engine == "spark":
            click.get_current_context().obj.engine = SparkChoice(spark_master, spark_conf)
        elif spark_conf or spark_master != "local[*]":
            raise click.UsageError("--spark-master and --conf go with --engine spark")
        return command(*args, **kwargs)

    options = [
        click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True,
                     help="Run on DuckDB in this process, or on Apache Spark (arcticsql[spark])."),
        click.option("--spark-master", default="local[*]", show_default=True, metavar="URL",
                     help="Spark master: local[N], spark://host:7077, yarn, k8s://..."),
        click.option("--conf", "spark_conf", multiple=True, metavar="KEY=VALUE", callback=_settings,
                     help="A Spark setting, e.g. spark.executor.memory=8g (repeatable)."),
    ]
    for option in reversed(options):
        chosen = option(chosen)
    return chosen
