"""The cohort store: layout, manifest, determinism, atomic replacement, reading it back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.ingest import pipeline, store

from .conftest import write_tiny_study


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


def test_layout_and_manifest(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    report = cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    files = set(_files(tmp_path / "cohort"))
    tables = ("participants", "events", "followup", "cac_lesions")
    stored = {f"{folder}{t}.parquet" for t in tables for folder in ("", "_quarantine/", "_issues/")}
    assert files == stored | {"_manifest.json", "_ingest_report.md", "_ingest_report.json"}
    manifest = json.loads((tmp_path / "cohort" / "_manifest.json").read_text())
    assert manifest["package_version"] == cc.__version__
    assert manifest["mapping_version"] == "test-1"
    assert manifest["dictionary_version"] == cc.load_dictionary().version
    created = dt.datetime.fromisoformat(manifest["created_at"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600
    for source in manifest["sources"]:
        path = Path(source["path"])
        assert source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert source["rows_read"] == source["rows_accepted"] + source["rows_quarantined"]
    assert manifest["tables"]["participants"]["rows_written"] == 5
    assert report.tables["participants"].rows_written == 5
    assert "| participants | 5 | 5 | 0 |" in (tmp_path / "cohort" / "_ingest_report.md").read_text()


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    first = _files(cc.ingest(mapping=mapping, out=tmp_path / "one").out)
    second = _files(cc.ingest(mapping=mapping, out=tmp_path / "two").out)
    first.pop("_manifest.json")
    second.pop("_manifest.json")
    assert first == second


def test_failure_midway_leaves_the_existing_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    cc.ingest(mapping=mapping, out=out)
    before = _files(out)
    real_build = pipeline.build_table

    def crash_on_events(name: str, *args: object, **kwargs: object) -> object:
        if name == "events":
            raise RuntimeError("disk full (injected)")
        return real_build(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "build_table", crash_on_events)
    with pytest.raises(RuntimeError, match="injected"):
        cc.ingest(mapping=mapping, out=out)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort", "raw"]


def test_a_failed_swap_puts_the_old_store_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the atomic exchange (not Linux): if moving the new store into place fails, the
    retired store is restored."""
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    cc.ingest(mapping=mapping, out=out)
    before = _files(out)
    real_replace = os.replace

    def refuse_the_staging_folder(src: object, dst: object) -> None:
        if ".tmp-" in Path(str(src)).name:
            raise OSError("rename failed (injected)")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_exchange", lambda *_: False)
    monkeypatch.setattr(store.os, "replace", refuse_the_staging_folder)
    with pytest.raises(OSError, match="injected"):
        cc.ingest(mapping=mapping, out=out)
    monkeypatch.undo()
    assert _files(out) == before


def test_read_store_gives_canonical_types(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    tables = cc.read_store(tmp_path / "cohort")
    assert all(isinstance(frame, pl.LazyFrame) for frame in tables.values())
    schema = tables["participants"].collect_schema()
    assert schema["baseline_date"] == pl.Date
    assert schema["diabetes"] == pl.Boolean
    assert schema["age"] == pl.Float64
    assert schema["pth"] == pl.Float64, "unmapped variables are present as typed nulls"
    assert tables["cac_lesions"].collect_schema()["lesion_id"] == pl.Int64
    with pytest.raises(cc.IngestError, match="not a cohort store"):
        cc.read_store(tmp_path / "raw")
