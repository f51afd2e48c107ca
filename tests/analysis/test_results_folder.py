"""Issue 16, items 5 and 15: a run's results appear whole or not at all, a bad ``--out`` fails
before any fitting, and participant-level data never land in the results folder."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis import results_folder
from cohortcalc.errors import OutputError, SpecError

TINY = {
    "name": "tiny",
    "title": "Tiny",
    "data": {"synthetic": {"n": 400, "seed": 3}},
    "exposures": [{"column": "log_cac", "kind": "continuous"}],
    "outcomes": [{"name": "mi", "time": "mi_years", "status": "mi_status", "methods": ["cox"]}],
    "models": {"adjustment": [{"name": "M1", "covariates": ["age"]}]},
    "outputs": {"tables": ["flow", "hazard_ratios"], "figures": [], "table_formats": ["csv"]},
}


def _tiny(seed: int = 3, **data) -> dict:
    return {**TINY, "data": data or {"synthetic": {"n": 400, "seed": seed}}}


def _state(out: Path) -> dict[str, str]:
    """Every file under ``out`` with its SHA-256."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _consistent(out: Path, *own: str) -> dict:
    """The manifest lists exactly the outputs present (but the user's ``own``), hashed."""
    manifest = json.loads((out / "manifest.json").read_text())
    state = _state(out)
    for name in ("manifest.json", *own):
        state.pop(name)
    assert state == manifest["outputs"]
    return manifest


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_out_that_is_a_file_fails_before_any_step(tmp_path):
    target = tmp_path / "results"
    target.write_text("not a folder")
    events: list = []
    with pytest.raises(OutputError, match=r"results: is a file, not a folder"):
        cc.run(TINY, out=target, progress=events.append)
    assert events == [] and target.read_text() == "not a folder"


def test_a_folder_that_is_not_results_is_never_replaced(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputError, match=r"holds no manifest.json of a cohortcalc run"):
        cc.run(TINY, out=tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_no_write_permission_fails_before_any_step(tmp_path, monkeypatch):
    parent = tmp_path / "locked"
    parent.mkdir()
    if os.geteuid() == 0:  # root ignores modes: refuse the staging folder as the OS would
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            if self.name.startswith(".out.run-"):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    else:
        parent.chmod(0o555)
    events: list = []
    try:
        with pytest.raises(OutputError, match=r"Permission denied.*Nothing was fitted|cannot"):
            cc.run(TINY, out=parent / "out", progress=events.append)
    finally:
        parent.chmod(0o755)
    assert events == [] and not (parent / "out").exists()


def test_too_little_free_space_fails_before_any_step(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)._replace(free=3 << 20)
    monkeypatch.setattr(results_folder.shutil, "disk_usage", lambda path: usage)
    events: list = []
    with pytest.raises(OutputError, match=r"only 3.0 MB free .* Nothing was fitted"):
        cc.run(TINY, out=tmp_path / "out", progress=events.append)
    assert events == [] and _siblings(tmp_path / "out") == [".out.lock"]


@contextlib.contextmanager
def _tmpfs(where: Path, options: str):
    """A small tmpfs mounted at ``where`` (root with mount rights only), else skip."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the monkeypatched tests cover it")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root")
def test_a_real_full_disk_and_a_real_read_only_disk(tmp_path):
    with _tmpfs(tmp_path / "full", "size=2m") as full:
        with contextlib.suppress(OSError):
            (full / "filler").write_bytes(b"\0" * (4 << 20))
        with pytest.raises(
            OutputError, match=r"\(No space left on device\); free some space .* Nothing was fitted"
        ):
            cc.run(TINY, out=full / "out")
    with (
        _tmpfs(tmp_path / "ro", "ro,size=2m") as read_only,
        pytest.raises(OutputError, match=r"Read-only file system"),
    ):
        cc.run(TINY, out=read_only / "out")


def test_a_failed_write_after_fitting_leaves_the_previous_results(tmp_path, monkeypatch):
    out = tmp_path / "out"
    cc.run(_tiny(seed=3), out=out)
    before = _state(out)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cc.analysis.report, "write_report", full)
    with pytest.raises(OutputError, match=r"writing the results failed \(No space left"):
        cc.run(_tiny(seed=4), out=out)
    assert _state(out) == before and _siblings(out) == [".out.lock"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_rerun_replaces_the_results_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(results_folder, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    first = _consistent(cc.run(_tiny(seed=3), out=out).out)
    (out / "tables" / "my_notes.txt").write_text("mine")
    result = cc.run(_tiny(seed=4), out=out)
    second = _consistent(out, "tables/my_notes.txt")
    assert result.out == out and result.report == out / "report.html"
    assert first["outputs"] != second["outputs"]  # another cohort, other numbers
    assert (out / "tables" / "my_notes.txt").read_text() == "mine"  # carried over
    assert _siblings(out) == [".out.lock"]


def test_the_next_run_puts_back_results_a_kill_left_aside(tmp_path):
    """A kill between the two renames of the fallback swap leaves no results at ``out``."""
    out = tmp_path / "out"
    cc.run(_tiny(seed=3), out=out)
    before = _state(out)
    os.rename(out, tmp_path / ".out.old-0123456789ab")
    (tmp_path / ".out.run-dead00000000" / "tables").mkdir(parents=True)  # a killed run's
    broken = {**_tiny(seed=3), "exposures": [{"column": "no_such", "kind": "continuous"}]}
    with pytest.raises(SpecError):
        cc.run(broken, out=out)
    assert _state(out) == before and _siblings(out) == [".out.lock"]
    result = cc.run(_tiny(seed=3), out=out)
    assert result.notes == ()


def test_the_notes_say_what_was_recovered(tmp_path):
    out = tmp_path / "out"
    cc.run(_tiny(seed=3), out=out)
    os.rename(out, tmp_path / ".out.old-0123456789ab")
    result = cc.run(_tiny(seed=3), out=out)
    assert any("put back the previous results" in note for note in result.notes)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    with (tmp_path / ".out.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another cohortcalc run is writing"):
            cc.run(TINY, out=out)
    assert not out.exists()


RAW = {"sources": "{out}/study_files", "mapping": "builtin:synthetic_study"}


def test_raw_runs_keep_participant_level_data_beside_the_results(tmp_path):
    """Item 15: the store, its quarantine and the study files were inside the results."""
    out = tmp_path / "results"
    spec = _tiny(raw={**RAW, "simulate_if_missing": {"n": 300, "seed": 2}})
    result = cc.run(spec, out=out)
    people = tmp_path / "results_participant_data"
    assert sorted(p.name for p in people.iterdir()) == ["cohort_store", "study_files"]
    assert (people / "cohort_store" / "_quarantine").is_dir()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "report.html", "tables"]
    record = result.manifest["inputs"]["participant_level"]
    assert record["folder"] == str(people)
    assert record["holds"] == ["cohort_store/", "study_files/"]
    report = (out / "report.html").read_text()
    assert "Participant-level data" in report and str(people) in report
    ids = set(cc.read_store(people / "cohort_store")["participants"].collect()["participant_id"])
    quarantined = cc.read_store(people / "cohort_store", quarantine=True)["participants"]
    ids |= set(quarantined.collect()["participant_id"].drop_nulls().cast(pl.String))
    assert len(ids) > 250
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [i for i in ids if i in text], path  # no participant id in the results


def test_results_holding_an_earlier_runs_store_are_not_silently_replaced(tmp_path):
    out = tmp_path / "results"
    (out / "cohort_store").mkdir(parents=True)
    (out / "manifest.json").write_text(
        json.dumps({"inputs": {"kind": "raw", "store": str(out / "cohort_store")}, "outputs": {}})
    )
    with pytest.raises(OutputError, match=r"participant-level data from an earlier run"):
        cc.run(TINY, out=out)
    assert (out / "cohort_store").is_dir()


def test_an_in_memory_raw_run_deletes_its_participant_level_data(tmp_path, monkeypatch):
    made: list[Path] = []
    real = results_folder.participant_record

    def spy(folder, kept):
        made.append(folder)
        return real(folder, kept)

    monkeypatch.setattr(cc.analysis.runner, "participant_record", spy)
    spec = _tiny(raw={**RAW, "simulate_if_missing": {"n": 300, "seed": 2}})
    result = cc.run(spec)
    assert result.manifest["inputs"]["participant_level"]["folder"] is None
    assert made and not made[0].exists()


@pytest.mark.parametrize(
    "mapping", ["builtin:../../analyses/cac_mi_ckd", "builtin:/etc/passwd", "builtin:"]
)
def test_builtin_mappings_are_names_not_paths(tmp_path, mapping):
    """Item 15: ``builtin:../../x`` loaded any YAML file."""
    spec = _tiny(raw={"sources": str(tmp_path), "mapping": mapping})
    with pytest.raises(SpecError, match=r"no built-in mapping .*built-in mappings: \["):
        cc.run(spec)


def test_a_symlinked_results_folder_is_written_where_it_points(tmp_path):
    real = tmp_path / "real"
    cc.run(TINY, out=real)
    (tmp_path / "link").symlink_to(real)
    result = cc.run(_tiny(seed=4), out=tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and result.out == real
    assert _consistent(real)["spec"]["content"]["data"]["synthetic"]["seed"] == 4


def test_the_cli_says_why_an_out_cannot_be_used(tmp_path):
    from typer.testing import CliRunner

    from cohortcalc.cli import app

    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(TINY))  # JSON is YAML
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(target)])
    assert result.exit_code == 1
    assert "run failed" in result.output and "is a file, not a folder" in result.output
    assert "Load data" not in result.output  # failed before the first step
