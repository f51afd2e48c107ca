"""Kill drills for ``cohortcalc run`` (issue 16, item 5): a run is SIGKILLed at a random point
(after a random progress event, plus a random delay); the results folder then holds either
the previous results or the new ones, each whole and matching its manifest, and the next run
completes and leaves no unfinished folders behind.

CI runs ``KILL_DRILLS`` (2) drills per variant; the long run of the closing note:

    COHORTCALC_KILL_DRILLS=50 COHORTCALC_KILL_REPORT=kill_counts.json \\
        python -m pytest -p no:xdist -q tests/fuzz/test_run_kill.py

writes, per variant, where the kills landed and what the folder held afterwards.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import cohortcalc as cc

KILL_DRILLS = int(os.environ.get("COHORTCALC_KILL_DRILLS", "2"))
ROOT = Path(__file__).resolve().parents[2]
COUNTS: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)

CHILD = """
import sys, cohortcalc as cc
from cohortcalc.analysis import results_folder
if sys.argv[3] == "two-renames":
    results_folder._exchange = lambda a, b: False
def say(event):
    print(event.step, event.status, flush=True)
cc.run(sys.argv[1], out=sys.argv[2], progress=say)
print("finished", flush=True)
"""


def _spec(seed: int, raw: bool) -> dict:
    data = (
        {"raw": {"sources": "{out}/study_files", "mapping": "builtin:synthetic_study",
                 "simulate_if_missing": {"n": 300, "seed": seed}}}
        if raw else {"synthetic": {"n": 500, "seed": seed}}
    )  # fmt: skip
    return {
        "name": "drill",
        "title": "Kill drill",
        "data": data,
        "exposures": [{"column": "cac_category", "kind": "categorical", "reference": "0"}],
        "outcomes": [{"name": "mi", "time": "mi_years", "status": "mi_status", "methods": ["cox"]}],
        "models": {"adjustment": [{"name": "M1", "covariates": ["age", "sex"]}]},
        "outputs": {
            "tables": ["flow", "hazard_ratios", "incidence_rates"],
            "figures": ["forest", "cumulative_incidence"],
            "table_formats": ["csv", "md"],
        },
    }


def _state(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _whole(out: Path) -> str:
    """The seed of the complete run ``out`` holds; fails if it is not whole."""
    manifest = json.loads((out / "manifest.json").read_text())
    state = _state(out)
    state.pop("manifest.json")
    assert state == manifest["outputs"], "results do not match their manifest"
    data = manifest["spec"]["content"]["data"]
    return str((data["synthetic"] or data["raw"]["simulate_if_missing"])["seed"])


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    target = os.environ.get("COHORTCALC_KILL_REPORT")
    if target:
        counts = {k: dict(sorted(v.items())) for k, v in sorted(COUNTS.items())}
        Path(target).write_text(json.dumps(counts, indent=2) + "\n")


def _drill(spec_path: Path, out: Path, swap: str, rng: random.Random) -> str:
    """Start a run, kill it after a random progress event and delay; where the kill landed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spec_path), str(out), swap],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    events = rng.randint(0, 14)  # 7 steps x start/done, and "finished"
    landed = "before the first step"
    for _ in range(events):
        line = child.stdout.readline().strip()
        if not line:
            break
        landed = line
    time.sleep(rng.uniform(0, 0.3))
    child.send_signal(signal.SIGKILL)
    child.wait()
    return landed if child.returncode == -signal.SIGKILL else "finished before the kill"


@pytest.mark.parametrize(
    ("swap", "raw"),
    [("renameat2", False), ("two-renames", False), ("renameat2", True)],
    ids=["renameat2", "two-renames", "raw-files"],
)
def test_killed_runs_leave_whole_results_and_the_rerun_completes(tmp_path, swap, raw):
    variant = f"{swap}{'-raw' if raw else ''}"
    rng = random.Random(f"{variant}-{KILL_DRILLS}")
    out = tmp_path / "results"
    specs = {}
    for seed in (11, 12):
        specs[str(seed)] = tmp_path / f"spec_{seed}.yaml"
        specs[str(seed)].write_text(yaml.safe_dump(_spec(seed, raw)))
    cc.run(specs["11"], out=out)
    reference = {"11": _state(out)} if not raw else {}
    for drill in range(KILL_DRILLS):
        before = _whole(out)
        seed = "12" if drill % 2 == 0 else "11"
        if raw and rng.random() < 0.5:  # the killed run simulates the export anew
            shutil.rmtree(tmp_path / "results_participant_data" / "study_files")
        landed = _drill(specs[seed], out, swap, rng)
        after = _whole(out)
        assert after in (before, seed)
        if after in reference:
            assert _state(out).keys() == reference[after].keys()
            assert _outputs(out) == _outputs_of(reference[after])
        elif not raw:
            reference[after] = _state(out)
        COUNTS[variant][f"killed after: {landed}"] += 1
        COUNTS[variant][f"folder held: {'new' if after != before else 'previous'} results"] += 1
    result = cc.run(specs["12"], out=out)
    assert _whole(out) == "12" and result.out == out
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".results.")) == [
        ".results.lock"
    ]
    if raw:
        people = tmp_path / "results_participant_data"
        assert sorted(p.name for p in people.iterdir()) == ["cohort_store", "study_files"]
        assert cc.read_store(people / "cohort_store")["participants"].collect().height > 0
    COUNTS[variant]["reruns completed"] += 1


def _outputs(out: Path) -> dict[str, str]:
    state = _state(out)
    state.pop("manifest.json")
    return state


def _outputs_of(state: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in state.items() if k != "manifest.json"}
