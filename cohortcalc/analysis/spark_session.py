"""The Spark session of an ``engine: spark`` run, and the cohort tables read into it.

PySpark is imported only here and only for a Spark run. An active session (a notebook,
Databricks, ``spark-submit``, a test fixture) is used as it is and left running; otherwise one
is built from the spec's ``spark:`` settings and stopped when the run ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.analysis.spec import SparkSettings
from cohortcalc.errors import SpecError

#: Keep hive partition columns (``site=A/``) as text, the type they have in the local store.
RUNTIME_CONFIG = {"spark.sql.sources.partitionColumnTypeInference.enabled": "false"}

#: Quiet defaults for a session cohortcalc builds itself (spec settings override them).
#: PySpark's DataFrame debugging (the Python call site of every column expression, for error
#: messages) costs ~8 JVM round trips per expression: off, it halves derive()'s fixed cost on
#: Spark; a spec's ``spark: config:`` can turn it back on (PySpark reads it once per process,
#: at the first column expression).
BUILD_DEFAULTS = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.python.sql.dataFrameDebugging.enabled": "false",
}


@contextmanager
def spark_session(settings: SparkSettings | None, where: str = "") -> Iterator[Any]:
    """The active SparkSession, or a new one from ``settings`` that is stopped on exit.

    ``RUNTIME_CONFIG`` is set for the run and restored afterwards on a session we did not
    build. The engine's name, the master and the Spark version go into the manifest.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SpecError(
            f"{where}: engine 'spark' needs PySpark; install it with "
            "`pip install 'cohortcalc[spark]'` (and Java 17), or set engine: local."
        ) from None
    settings = settings or SparkSettings()
    session = SparkSession.getActiveSession()
    built = session is None
    if session is None:
        builder = SparkSession.builder.appName(settings.app_name)
        if settings.master is not None:
            builder = builder.master(settings.master)
        for key, value in {**BUILD_DEFAULTS, **_as_text(settings.config)}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")  # Spark's WARN lines would garble progress
    previous = {key: session.conf.get(key, None) for key in RUNTIME_CONFIG}
    for key, value in RUNTIME_CONFIG.items():
        session.conf.set(key, value)
    try:
        yield session
    finally:
        if built:
            session.stop()
        else:
            for key, value in previous.items():
                session.conf.unset(key) if value is None else session.conf.set(key, value)


def engine_record(session: Any) -> dict[str, Any]:
    """What the manifest records about the Spark engine of a run."""
    context = session.sparkContext
    return {
        "name": "spark",
        "spark_version": session.version,
        "master": context.master,
        "app_name": context.appName,
        "default_parallelism": context.defaultParallelism,
        "shuffle_partitions": session.conf.get("spark.sql.shuffle.partitions"),
    }


def _as_text(config: Mapping[str, Any]) -> dict[str, str]:
    """Spark properties as Spark writes them (``true``, not ``True``)."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in config.items()}


def is_url(store: str) -> bool:
    """True for a store on a cluster file system (``s3a://``, ``hdfs://``, ``abfss://``...)."""
    return "://" in store


def store_table_paths(store: str, tables: tuple[str, ...]) -> dict[str, str]:
    """Each table's Parquet file or folder in a cohort store: as a local store's manifest
    lists it, else ``<store>/<table>.parquet``."""
    manifest = {} if is_url(store) else json.loads((Path(store) / "_manifest.json").read_text())
    entries = manifest.get("tables", {})
    paths = {}
    for name in tables:
        entry = entries.get(name)
        relative = entry.get("file") if isinstance(entry, dict) else None
        paths[name] = f"{store.rstrip('/')}/{relative or f'{name}.parquet'}"
    return paths


def read_spark_tables(session: Any, store: str, tables: tuple[str, ...]) -> dict[str, Any]:
    """A store's tables as Spark DataFrames by path alone (``spark.read.parquet``; a
    partitioned ``<table>.parquet/`` folder is read whole, its ``key=value`` columns as text).
    For a store at a URL (``s3a://``, ``hdfs://``); a local store goes through
    ``read_store(store, spark=session)``, which also restores the dictionary types."""
    return {
        name: session.read.parquet(path) for name, path in store_table_paths(store, tables).items()
    }


def spark_tables_from_polars(session: Any, tables: Mapping[str, pl.DataFrame]) -> dict[str, Any]:
    """In-memory tables (a synthetic cohort) as Spark DataFrames, through Arrow so that
    dates stay dates (PySpark >= 4 takes an Arrow table; older versions get pandas)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    out = {}
    for name, frame in tables.items():
        arrow = frame.to_arrow()
        try:
            out[name] = session.createDataFrame(arrow)
        except TypeError:  # PySpark 3.5: pandas rows with the Arrow table's Spark schema
            out[name] = session.createDataFrame(frame.to_pandas(), from_arrow_schema(arrow.schema))
    return out
