"""The streaming path (large inputs) gives the same store as the in-memory path, byte for byte.

A generated two-table study of 120,000 participants with injected defects of every kind the
row checks, the duplicate check and the event checks look for; the size thresholds are lowered
so the same files go through the streaming path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.dictionary import load_dictionary
from cohortcalc.ingest import pipeline, tables
from cohortcalc.ingest import validate as checks

N = 120_000
MAPPING = """\
mapping_version: "stream-1"
study: streaming
missing_codes: [-9, "."]
on_row_error: quarantine
sources:
  - file: participants.csv
    table: participants
    columns:
      participant_id: ID
      site: CENTER
      baseline_date: {column: VISIT, date_format: "%d/%m/%Y"}
      age: AGE
      sex: {column: SEX, codes: {1: male, 2: female}}
      serum_calcium: {column: CA, unit_by: {column: CENTER, units: {A: mg/dL, B: mmol/L}}}
      albumin: {column: ALB, unit_column: ALB_UNIT}
      diabetes: DM
  - file: events.parquet
    table: events
    columns:
      participant_id: ID
      event: {column: TYPE, codes: {1: mi, 2: death}}
      event_date: DATE
      death_cause: {column: CAUSE, codes: {CV: cardiovascular, NCV: non_cardiovascular}}
"""


def _inject(rng: np.random.Generator, values: np.ndarray, bad: object, share: float) -> list:
    """``values`` as text, a ``share`` of them replaced by ``bad``."""
    out = values.astype(object)
    out[rng.random(len(values)) < share] = bad
    return [str(v) for v in out]


def write_study(folder: Path, n: int = N, seed: int = 7) -> None:
    """Participants (duplicate ids, bad codes, units, dates, numbers; CSV) and their events
    (Parquet)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:06d}" for i in range(1, n + 1)], dtype=object)
    repeat = rng.random(n) < 0.01
    ids[repeat] = ids[rng.integers(0, n, repeat.sum())]  # exact and conflicting repeats
    site = rng.choice(["A", "B", "Z"], n, p=[0.6, 0.399, 0.001])
    baseline = np.datetime64("2001-01-01") + rng.integers(0, 1000, n)
    visit = pl.Series(baseline).dt.strftime("%d/%m/%Y").to_numpy()
    calcium = np.where(site == "B", rng.normal(2.35, 0.1, n), rng.normal(9.4, 0.4, n)).round(2)
    participants = pl.DataFrame(
        {
            "ID": ids.tolist(),
            "CENTER": site.tolist(),
            "VISIT": _inject(rng, visit, "31/02/2001", 0.001),
            "AGE": _inject(rng, rng.normal(62, 9, n).round(1), "abc", 0.001),
            "SEX": _inject(rng, rng.integers(1, 3, n), 3, 0.002),
            "CA": _inject(rng, calcium, -9, 0.01),
            "ALB": rng.normal(4.1, 0.3, n).round(1).tolist(),
            "ALB_UNIT": _inject(rng, np.full(n, "g/dL"), "oz", 0.001),
            "DM": _inject(rng, rng.integers(0, 2, n), "maybe", 0.001),
        }
    )
    participants.write_csv(folder / "participants.csv")
    who = rng.integers(0, n, n // 2)
    kind = rng.integers(1, 3, who.size)
    offset = rng.integers(-30, 3000, who.size)  # a few before baseline
    events = pl.DataFrame(
        {
            "ID": _inject(rng, ids[who], "X999999", 0.002),
            "TYPE": kind.tolist(),
            "DATE": (baseline[who] + offset).astype(str).tolist(),
            "CAUSE": np.where(kind == 2, rng.choice(["CV", "NCV"], who.size), None).tolist(),
        }
    )
    events.write_parquet(folder / "events.parquet")
    (folder / "mapping.yaml").write_text(MAPPING)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("streaming")
    write_study(folder)
    paths: dict[str, bool] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        memory = cc.ingest(mapping=folder / "mapping.yaml", out=folder / "memory")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pipeline, "IN_MEMORY_MAX_BYTES", 0)
            patch.setattr(tables, "IN_MEMORY_MAX_ROWS", 0)
            original = tables.materialize

            def recording(frame: pl.LazyFrame, target: Path, in_memory: bool, **kw: Any):
                paths[target.name] = in_memory
                return original(frame, target, in_memory, **kw)

            patch.setattr(tables, "materialize", recording)
            patch.setattr(pipeline, "materialize", recording)
            streamed = cc.ingest(mapping=folder / "mapping.yaml", out=folder / "streamed")
    return {"folder": folder, "memory": memory, "streamed": streamed, "paths": paths}


def test_the_streaming_path_was_taken(stores: dict[str, Any]) -> None:
    assert stores["paths"], "materialize was not called"
    assert not any(stores["paths"].values()), stores["paths"]


def test_streamed_store_is_byte_identical(stores: dict[str, Any]) -> None:
    memory, streamed = stores["folder"] / "memory", stores["folder"] / "streamed"
    files = sorted(memory.rglob("*.parquet"))
    assert len(files) == 6  # two tables, their quarantines and issues
    for path in files:
        twin = streamed / path.relative_to(memory)
        assert path.read_bytes() == twin.read_bytes(), path.name


def test_streamed_counts_equal_and_reconcile(stores: dict[str, Any]) -> None:
    memory, streamed = stores["memory"], stores["streamed"]
    assert streamed.tables == memory.tables
    assert list(map(_source_counts, streamed.sources)) == list(map(_source_counts, memory.sources))
    for counts in streamed.tables.values():
        assert counts.reconciles
    reasons = {
        reason
        for name in ("participants", "events")
        for found in (streamed.tables[name].reasons, streamed.tables[name].values_nulled)
        for reason in found
    }
    expected = {
        "duplicate_id",
        "unparseable_date:baseline_date",
        "unparseable:age",
        "invalid_code:sex",
        "invalid_code:diabetes",
        "unknown_unit:serum_calcium",
        "unknown_unit:albumin",
        "unknown_participant",
        "participant_quarantined",
        "event_before_baseline",
    }
    assert expected <= reasons, expected - reasons


def _source_counts(record: Any) -> tuple:
    return (record.table, record.rows_read, record.rows_accepted, record.reasons)


def test_duplicates_keep_the_first_row(stores: dict[str, Any]) -> None:
    raw = pl.read_csv(stores["folder"] / "participants.csv", infer_schema=False)
    raw = raw.with_row_index("_source_row", offset=1)
    repeats = raw.filter(~pl.col("ID").is_first_distinct())["_source_row"].sort()
    quarantine = cc.read_store(stores["folder"] / "streamed", quarantine=True)["participants"]
    flagged = quarantine.filter(pl.col("_reasons").list.contains("duplicate_id")).collect()
    assert flagged["_source_row"].sort().to_list() == repeats.to_list()
    assert repeats.len() > 500


def test_repeated_rows_ignore_null_keys_and_keep_order() -> None:
    keys = pl.LazyFrame(
        {"id": ["a", None, "b", "a", None, "b", "a"], "k": [1, 1, 1, 1, 1, 2, 1]}
    ).with_row_index("_row_order")
    assert checks.repeated_rows(keys, ["id"]).to_list() == [3, 5, 6]
    assert checks.repeated_rows(keys, ["id", "k"]).to_list() == [3, 6]


@pytest.mark.parametrize("table", ["participants", "events"])
def test_streaming_plan_buffers_no_table(stores: dict[str, Any], table: str) -> None:
    """No multiplexer (a plan read twice) and no whole-column function in the check plans."""
    dictionary = load_dictionary()
    spec = dictionary.table(table)
    written = pl.scan_parquet(stores["folder"] / "streamed" / f"{table}.parquet")
    plan = checks.check_duplicates(spec, checks.check_rows(spec, written))
    graph = plan.show_graph(engine="streaming", plan_stage="physical", raw_output=True)
    assert "multiplexer" not in graph
    assert "columnar" not in graph


def test_parquet_source_streams_by_row_count(
    stores: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Parquet is compressed: a small file of many rows streams too (rows from metadata)."""
    monkeypatch.setattr(tables, "IN_MEMORY_MAX_ROWS", 10_000)  # events: ~60,000 rows
    calls: dict[str, bool] = {}
    original = tables.materialize

    def recording(frame: pl.LazyFrame, target: Path, in_memory: bool, **kw: Any):
        calls[target.name] = in_memory
        return original(frame, target, in_memory, **kw)

    monkeypatch.setattr(pipeline, "materialize", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        cc.ingest(mapping=stores["folder"] / "mapping.yaml", out=tmp_path / "cohort")
    assert calls == {"000-participants.parquet": True, "001-events.parquet": False}
