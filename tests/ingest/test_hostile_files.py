"""Issue 16, ingest half: a reader crash is "file X is corrupt" (items 2, 3), short rows are a
row problem (7), the store swap leaves no window and stale folders are recovered (6),
partition values differing only in case are refused, and manifest paths stay in the store."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import CohortcalcWarning, IngestError
from cohortcalc.ingest import store as store_module
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export

from .conftest import PARTICIPANTS_CSV, write_tiny_study


def _ingest(mapping: Path, out: Path, **options: object) -> cc.IngestReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        return cc.ingest(mapping=mapping, out=out, **options)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export300")
    write_study_export(simulate_cohort(n=300, seed=1), folder)
    return folder


def test_a_segfaulting_spss_file_is_reported_corrupt(export: Path, tmp_path: Path) -> None:
    """Issue 16 item 2: byte 477 of followup_status.sav set to 0x63 crashes ReadStat."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in export.iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
    data = bytearray((raw / "followup_status.sav").read_bytes())
    data[477] = 0x63
    (raw / "followup_status.sav").write_bytes(bytes(data))
    out = tmp_path / "cohort"
    with (
        warnings.catch_warnings(),
        pytest.raises(IngestError, match=r"followup_status\.sav: file is corrupt .*crashed \(SIG"),
    ):
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        cc.ingest(raw, mapping="synthetic_study", out=out)
    assert not out.exists() and list(tmp_path.glob(".cohort*")) == []


def test_a_corrupt_parquet_file_is_reported_not_panicked(export: Path, tmp_path: Path) -> None:
    """Issue 16 item 3: bytes 376-428 of the lesion file zeroed (Polars panics inside)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in export.iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
    data = bytearray((raw / "ct_lesions.parquet").read_bytes())
    data[376:429] = bytes(53)
    (raw / "ct_lesions.parquet").write_bytes(bytes(data))
    with (
        warnings.catch_warnings(),
        pytest.raises(IngestError, match=r"ct_lesions\.parquet: (file is corrupt|cannot be)"),
    ):
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        cc.ingest(raw, mapping="synthetic_study", out=tmp_path / "cohort")
    assert list(tmp_path.glob(".cohort*")) == []


def test_a_panicking_reader_is_reported_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 item 3: a Rust panic is a BaseException; it must not escape as one."""
    from cohortcalc.ingest import pipeline

    panic = type("PanicException", (BaseException,), {})
    mapping = write_tiny_study(tmp_path / "raw")
    real = pipeline.materialize

    def exploding(frame: pl.LazyFrame, target: Path, in_memory: bool, **kw: object):
        if "events" in target.name:
            raise panic("index out of bounds")
        return real(frame, target, in_memory, **kw)

    monkeypatch.setattr(pipeline, "materialize", exploding)
    with pytest.raises(IngestError, match=r"events\.parquet: file is corrupt"):
        _ingest(mapping, tmp_path / "cohort")


@pytest.mark.parametrize("policy", ["quarantine", "error"])
def test_short_rows_are_a_row_problem(tmp_path: Path, policy: str) -> None:
    """Issue 16 item 7: missing trailing fields (a file cut off) are not silent nulls."""
    lines = PARTICIPANTS_CSV.splitlines()
    cut = "\n".join([*lines[:3], lines[3][:12], *lines[4:], '"P006",A,15/03/2001,60']) + "\n"
    mapping = write_tiny_study(tmp_path / "raw", policy, cut)
    if policy == "error":
        with pytest.raises(IngestError, match=r"participants\.csv: data row 3 has fewer fields"):
            _ingest(mapping, tmp_path / "cohort")
        return
    _ingest(mapping, tmp_path / "cohort")
    quarantine = cc.read_store(tmp_path / "cohort", quarantine=True)["participants"].collect()
    short = quarantine.filter(pl.col("_reasons").list.contains("short_row"))
    assert short["_source_row"].to_list() == [3, 6]


def test_a_quoted_delimiter_is_not_a_short_row(tmp_path: Path) -> None:
    text = PARTICIPANTS_CSV.replace("P001,A,", '"P001","A",').replace("P002,A", '"P,002",A')
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", text)
    report = _ingest(mapping, tmp_path / "cohort")
    assert "short_row" not in report.tables["participants"].reasons


def test_a_crash_between_the_two_renames_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 item 6, the fallback path (no atomic exchange): a crash after the old store
    was set aside; the next ingest puts it back and says so, then replaces it."""
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    first = _ingest(mapping, out)
    monkeypatch.setattr(store_module, "_exchange", lambda *_: False)
    real_replace = os.replace
    calls = []

    def crash_on_second(src: object, dst: object) -> None:
        calls.append(src)
        if len(calls) >= 2:  # SIGKILL between the renames: nothing after the first one runs
            raise SystemExit("killed")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module.os, "replace", crash_on_second)
    with pytest.raises(SystemExit):
        store_module.commit_store(store_module.new_staging_dir(out), out)
    monkeypatch.setattr(store_module.os, "replace", real_replace)
    assert not out.exists() and list(tmp_path.glob(".cohort.old-*"))
    staged = list(tmp_path.glob(".cohort.tmp-*"))
    assert len(staged) == 1
    staged[0].rename(tmp_path / ".cohort.tmp-999999999-killed00")  # its process is gone
    messages = store_module.recover_store(out)
    assert messages[0].startswith(f"restored the previous store {out} from .cohort.old-")
    assert messages[1:] == [
        "removed .cohort.tmp-999999999-killed00, left by an ingest that was stopped"
    ]
    assert json.loads((out / "_manifest.json").read_text())["study"] == first.study
    assert cc.read_store(out)["participants"].collect().height == 5
    assert list(tmp_path.glob(".cohort*")) == []


def test_the_next_ingest_cleans_up_and_says_so(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    _ingest(mapping, out)
    (tmp_path / ".cohort.tmp-999999999-killed00" / "_quarantine").mkdir(parents=True)
    (tmp_path / ".cohort.old-abcdef").mkdir()
    with pytest.warns(CohortcalcWarning) as caught:
        _ingest(mapping, out)
    said = " ".join(str(w.message) for w in caught)
    assert "removed .cohort.old-abcdef" in said and "removed .cohort.tmp-999999999" in said
    assert list(tmp_path.glob(".cohort*")) == []


def test_a_live_ingest_folder_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    live = store_module.new_staging_dir(out)  # this process: alive
    dead = tmp_path / f".cohort.tmp-{2**22 + 12345}-deadbeef0000"
    dead.mkdir()
    assert store_module.recover_store(out) == [
        f"removed {dead.name}, left by an ingest that was stopped"
    ]
    assert live.is_dir()


def test_the_swap_is_one_atomic_exchange(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "x").write_text("a")
    (second / "x").write_text("b")
    if not store_module._exchange(first, second):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here; the two-rename fallback is tested")
    assert (first / "x").read_text() == "b" and (second / "x").read_text() == "a"


def test_partition_values_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    text = PARTICIPANTS_CSV.replace("P003,B,", "P003,a,")
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", text)
    mapping.write_text(mapping.read_text().replace("site: CENTER", "site: CENTER\n"))
    with pytest.raises(IngestError, match=r"differ only in case.*one folder"):
        _ingest(mapping, tmp_path / "cohort", partition_by="site")


@pytest.mark.parametrize("bad", ["../outside.parquet", "/etc/passwd", "_quarantine/../../x"])
def test_manifest_paths_must_stay_inside_the_store(tmp_path: Path, bad: str) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    _ingest(mapping, out)
    manifest = json.loads((out / "_manifest.json").read_text())
    manifest["tables"]["events"]["file"] = bad
    manifest["tables"]["events"]["quarantine"] = bad
    (out / "_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IngestError, match="leaves the store"):
        cc.read_store(out)
    with pytest.raises(IngestError, match="leaves the store"):
        cc.read_store(out, quarantine=True)


def test_the_spawned_reader_where_fork_is_missing(export: Path, tmp_path: Path) -> None:
    """Platforms without fork read in ``_statistical_worker.py``: same frame, same refusal."""
    from cohortcalc.ingest import readers

    good = export / "followup_status.sav"
    status, _ = readers._read_spawned(good, "sav", tmp_path / "good.pickle")
    assert status == 0
    forked = readers.read_statistical(good, "sav", tmp_path).collect()
    spawned = pl.from_pandas(pd.read_pickle(tmp_path / "good.pickle"), nan_to_null=True)
    assert forked.drop("_source_row").equals(spawned)
    bad = tmp_path / "bad.sav"
    data = bytearray(good.read_bytes())
    data[477] = 0x63
    bad.write_bytes(bytes(data))
    status, _ = readers._read_spawned(bad, "sav", tmp_path / "bad.pickle")
    assert status < 0 and not (tmp_path / "bad.pickle").exists()
