"""Issue 16's ingest kill drill: SIGKILL an ingest at random points; the previous store is
always whole (its manifest matches every file, byte for byte), and a rerun completes and
cleans up what the killed one left.

Two exports of different sizes are ingested in turn into the same ``out``, so a store after
a kill is recognisably the old one or the new one, never a mix. ``COHORTCALC_KILL_DRILLS``
sets the number of kills (default 5; the long drill: 100).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import cohortcalc as cc
from cohortcalc.ingest.store import sha256_of
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("COHORTCALC_KILL_DRILLS", "5"))
SCRIPT = """
import sys, warnings
import cohortcalc as cc
warnings.simplefilter("ignore")
cc.ingest(sys.argv[1], mapping="synthetic_centre", out=sys.argv[2])
print("done", flush=True)
"""


def _check_whole(out: Path, expected: dict[int, str]) -> str:
    """The store at ``out`` is complete and is one of the two ingests; return which."""
    manifest = json.loads((out / "_manifest.json").read_text())
    for name, entry in manifest["tables"].items():
        for stored in entry["files"]:
            assert sha256_of(out / stored["path"]) == stored["sha256"], (name, stored["path"])
    tables = cc.read_store(out)
    rows = tables["participants"].collect().height
    assert rows in expected, rows
    for name, entry in manifest["tables"].items():
        assert tables[name].collect().height == entry["rows_written"], name
    return expected[rows]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("drill")
    return {
        size: write_study_export(simulate_cohort(n=n, seed=3), folder / size, style="centre")
        for size, n in (("small", 1500), ("large", 4000))
    }


def test_sigkill_at_random_points_never_breaks_the_store(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cohort"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc.ingest(exports["small"], mapping="synthetic_centre", out=out)
    expected = {1500: "small", 4000: "large"}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(16)
    outcomes = {"killed before writing": 0, "killed while writing": 0, "finished": 0}
    current = "small"
    # Kill points are drawn over the length of one whole child run (imports included), measured
    # here, so they land at random points of the ingest however fast this machine is.
    started = time.monotonic()
    whole = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(exports["small"]), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert whole.returncode == 0 and "done" in whole.stdout, whole.stderr
    duration = time.monotonic() - started
    for drill in range(KILLS):
        target = "large" if current == "small" else "small"
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(exports[target]), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
            writing = any(tmp_path.glob(f".cohort.tmp-{child.pid}-*"))
            outcomes["killed while writing" if writing else "killed before writing"] += 1
        else:
            _, stderr = child.communicate()
            assert child.returncode == 0, stderr.decode(errors="replace")  # a run, not a crash
            outcomes["finished"] += 1
        current = _check_whole(out, expected)
        assert current in (target, "small" if target == "large" else "large"), drill
        assert time.monotonic() - started < 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc.ingest(exports["large"], mapping="synthetic_centre", out=out)
    assert _check_whole(out, expected) == "large"
    assert list(tmp_path.glob(".cohort*")) == [], "the rerun removes what killed ingests left"
    assert outcomes["finished"] < KILLS, outcomes
    report = os.environ.get("COHORTCALC_DRILL_REPORT")
    if report:  # the long drill's counts, for the closing note
        Path(report).write_text(json.dumps(outcomes) + "\n")
