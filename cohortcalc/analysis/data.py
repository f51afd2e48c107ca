"""Load a spec's data source into canonical tables, and derive the analysis frame.

A synthetic source is simulated in memory; a cohort store is read from its Parquet files; raw
files are ingested with their mapping into a store in the run's participant-level folder
(beside the results, never inside them) first. Each loader also returns what identifies its
input for the manifest (hashes, or generator and seed).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.analysis.derived import add_derived
from cohortcalc.analysis.manifest import sha256_file, sha256_files
from cohortcalc.analysis.spec import Spec, SyntheticSource
from cohortcalc.errors import IngestError, SpecError
from cohortcalc.features import derive
from cohortcalc.ingest import ingest, read_store
from cohortcalc.synth import HazardModel, SynthParams, simulate_cohort
from cohortcalc.synth.export import write_study_export

TABLES = ("participants", "cac_lesions", "events", "followup")
BUILTIN = "builtin:"


@dataclass(frozen=True)
class SourceData:
    """Canonical tables of one cohort and the identity of the input they came from."""

    tables: dict[str, Any]
    inputs: dict[str, Any]


def load_source(spec: Spec, out: Path | None, session: Any = None) -> SourceData:
    """Canonical tables for the spec's ``data`` section (ingesting raw files if need be, into
    ``out``, the run's participant-level folder); Spark DataFrames with a Spark ``session``."""
    data = spec.data
    if session is not None:
        return _spark_source(spec, out, session)
    if data.synthetic is not None:
        return _synthetic(data.synthetic)
    if data.store is not None:
        return read_cohort_store(spec.resolve(data.store), where=spec.where("data", "store"))
    assert data.raw is not None
    return _ingest_raw(spec, out)


def _synthetic(source: SyntheticSource) -> SourceData:
    cohort = simulate_cohort(n=source.n, seed=source.seed, params=synth_params(source.params))
    tables = {name: cohort.tables[name] for name in TABLES}
    inputs = {
        "kind": "synthetic",
        "generator": "cohortcalc.synth.simulate",
        "n": source.n,
        "seed": source.seed,
        "params": source.params,
        "sha256": {name: table_sha256(frame) for name, frame in tables.items()},
    }
    return SourceData(tables, inputs)


def table_sha256(frame: pl.DataFrame) -> str:
    """SHA-256 of a table's CSV text: changes whenever a value, column or row order does."""
    return hashlib.sha256(frame.write_csv().encode()).hexdigest()


def synth_params(params: dict[str, Any]) -> SynthParams | None:
    """``SynthParams`` from the spec's ``params`` (hazard models given as nested mappings)."""
    if not params:
        return None
    defaults = SynthParams()
    values = {}
    for name, value in params.items():
        if not hasattr(defaults, name):
            raise SpecError(f"synthetic params: unknown parameter {name!r}.")
        current = getattr(defaults, name)
        is_model = isinstance(current, HazardModel) and isinstance(value, dict)
        values[name] = HazardModel(**{**current.__dict__, **value}) if is_model else value
    return SynthParams(**values)


def read_cohort_store(store: Path, where: str = "") -> SourceData:
    """Read the canonical tables of a cohort store (written by ``cc.ingest``)."""
    lazy = _open_store(store, where)
    tables = {name: lazy[name].collect() for name in TABLES}
    return SourceData(tables, store_inputs(store))


def _open_store(store: Path, where: str) -> dict[str, pl.LazyFrame]:
    """The store's tables, lazily; a missing folder, manifest or table is a ``SpecError``."""
    if not store.is_dir():
        raise SpecError(
            f"{where}: cohort store {store} is not a folder; run `cohortcalc ingest` first "
            "or correct the path (relative paths are read from the spec's folder)."
        )
    try:
        lazy = read_store(store)
    except IngestError as exc:
        raise SpecError(f"{where}: {exc}") from exc
    missing = [name for name in TABLES if name not in lazy]
    if missing:
        raise SpecError(f"{where}: cohort store {store} has no table(s) {missing}.")
    return lazy


def store_inputs(store: Path) -> dict[str, Any]:
    """The manifest's record of a store: its path and the SHA-256 of its table files."""
    files = [store / f"{name}.parquet" for name in TABLES if (store / f"{name}.parquet").exists()]
    return {"kind": "store", "path": str(store), "sha256": sha256_files(files, root=store)}


def _spark_source(spec: Spec, out: Path | None, session: Any) -> SourceData:
    """The tables as Spark DataFrames: a store (local or a URL) read by Spark; a synthetic
    cohort handed to Spark; raw files ingested locally into a store that Spark reads."""
    from cohortcalc.analysis import spark_session as spark

    store = spec.data.store
    if store is not None and spark.is_url(store):
        tables = spark.read_spark_tables(session, store, TABLES)
        return SourceData(tables, {"kind": "store", "path": store, "sha256": None})
    if store is not None:
        path = spec.resolve(store)
        _open_store(path, spec.where("data", "store"))
        return SourceData(_spark_store(path, session), store_inputs(path))
    if spec.data.synthetic is not None:
        local = _synthetic(spec.data.synthetic)
        return SourceData(spark.spark_tables_from_polars(session, local.tables), local.inputs)
    ingested = _ingest_raw(spec, out)
    return SourceData(_spark_store(Path(ingested.inputs["store"]), session), ingested.inputs)


def _spark_store(store: Path, session: Any) -> dict[str, Any]:
    """A local store's tables in Spark, with ``read_store``'s columns and dictionary types."""
    tables = read_store(store, spark=session)
    return {name: tables[name] for name in TABLES}


def _ingest_raw(spec: Spec, out: Path | None) -> SourceData:
    raw = spec.data.raw
    assert raw is not None
    sources = _sources_path(spec, raw.sources, out)
    mapping = _mapping_path(spec, raw.mapping)
    if not sources.exists() and raw.simulate_if_missing is not None:
        synthetic = raw.simulate_if_missing
        cohort = simulate_cohort(synthetic.n, synthetic.seed, synth_params(synthetic.params))
        _write_export_atomically(cohort, sources)
    if not sources.exists():
        raise SpecError(
            f"{spec.where('data', 'raw', 'sources')}: raw source folder {sources} does not exist."
        )
    store = (out / "cohort_store") if out is not None else Path(tempfile.mkdtemp()) / "store"
    report = ingest(sources, mapping=mapping, out=store)
    loaded = read_cohort_store(store)
    rows = {
        name: {
            "read": counts.rows_read,
            "written": counts.rows_written,
            "quarantined": counts.rows_quarantined,
        }
        for name, counts in report.tables.items()
    }
    inputs = {
        "kind": "raw",
        "sources": str(sources),
        "mapping": str(mapping),
        "mapping_sha256": sha256_file(mapping),
        "sha256": sha256_files([sources], root=sources),
        "store": str(store),
        "rows": rows,
    }
    return SourceData(loaded.tables, inputs)


def _write_export_atomically(cohort: Any, sources: Path) -> None:
    """The simulated export, written beside ``sources`` and renamed into place when complete
    (a killed run never leaves half an export that the next run would ingest)."""
    sources.parent.mkdir(parents=True, exist_ok=True)
    for leftover in sources.parent.glob(f".{sources.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = sources.parent / f".{sources.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        write_study_export(cohort, staging)
        os.rename(staging, sources)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sources_path(spec: Spec, sources: str, out: Path | None) -> Path:
    """The raw files' folder; ``{out}`` stands for the run's participant-level folder."""
    if "{out}" not in sources:
        return spec.resolve(sources)
    if out is None:
        raise SpecError(
            f"{spec.where('data', 'raw', 'sources')}: sources {sources!r} uses {{out}}, so the "
            "run needs an output folder (cohortcalc run SPEC --out DIR)."
        )
    return Path(sources.replace("{out}", str(out)))


def _mapping_path(spec: Spec, mapping: str) -> Path:
    """The mapping file; ``builtin:NAME`` is a mapping shipped in cohortcalc/ingest/mappings."""
    if mapping.startswith(BUILTIN):
        name = mapping.removeprefix(BUILTIN)
        folder = Path(str(files("cohortcalc.ingest") / "mappings"))
        shipped = {p.stem: p for p in folder.glob("*.yaml")}
        path = shipped.get(name)  # a name, never a path: builtin:../../x.yaml is not shipped
        if path is None:
            raise SpecError(
                f"{spec.where('data', 'raw', 'mapping')}: no built-in mapping {name!r}; "
                f"built-in mappings: {sorted(shipped)}."
            )
        return path
    path = spec.resolve(mapping)
    if not path.is_file():
        raise SpecError(f"{spec.where('data', 'raw', 'mapping')}: mapping file {path} not found.")
    return path


def derive_frame(spec: Spec, tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The analysis frame: participants with every derivable feature and the outcomes, and
    the spec's ``derived:`` variables."""
    accepted = set(inspect.signature(derive).parameters) - {"frame", "lesions", "events"}
    unknown = sorted(set(spec.derive) - (accepted - {"followup"}))
    if unknown:
        raise SpecError(
            f"{spec.where('derive')}: unknown derive option(s) {unknown}; options of "
            f"cc.derive: {sorted(accepted - {'followup'})}."
        )
    frame = derive(
        tables["participants"],
        lesions=tables["cac_lesions"],
        events=tables["events"],
        followup=tables["followup"],
        **spec.derive,
    )
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if not spec.derived:
        return frame
    if not isinstance(frame, pl.DataFrame):
        raise SpecError(
            f"{spec.where('derived')}: derived variables are computed on the local engine only; "
            "run this spec with engine: local, or add the columns to the cohort store."
        )
    return add_derived(spec, frame)
