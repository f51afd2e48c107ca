"""Fuzzing the three YAML loaders (spec, mapping, dictionary) with the mutations of issue 16.

Each case mutates a shipped file (byte flips and insertions, control characters, non-UTF-8
bytes, YAML syntax tokens, anchors, aliases, merge keys, Python tags, duplicated lines, cut
files, alias bombs, deep nesting) and loads it: the loader must return its object or raise its
own ``CohortcalcError`` subclass within ``CASE_SECONDS`` of CPU time (a hang or a blow-up
fails the case whatever else runs on the machine); anything else fails the test.

CI runs ``FUZZ_EXAMPLES`` (60) cases per loader. The long run of the closing note:

    COHORTCALC_FUZZ_EXAMPLES=3000 COHORTCALC_FUZZ_REPORT=fuzz_counts.json \\
        python -m pytest -p no:xdist -q tests/fuzz/test_loader_fuzz.py

writes the count of cases per loader and outcome to ``fuzz_counts.json``.
"""

from __future__ import annotations

import collections
import json
import os
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cohortcalc.dictionary import load_dictionary
from cohortcalc.errors import CohortcalcError
from cohortcalc.ingest.mapping import load_mapping

from ._loaders import LOADERS, billion_laughs

FUZZ_EXAMPLES = int(os.environ.get("COHORTCALC_FUZZ_EXAMPLES", "60"))
CASE_SECONDS = 10
COUNTS: collections.Counter[tuple[str, str]] = collections.Counter()

TOKENS = [
    b"&a ", b"*a", b"<<: *a\n", b"<<: [*a, *a]\n", b"!!python/object/apply:os.system ['true'] ",
    b"!!python/name:os.system ", b"!!binary eA== ", b"!!set ", b"!custom ", b"[", b"]", b"{",
    b"}", b": ", b"- ", b"? ", b"\t", b"'", b'"', b"|\n", b">-\n", b"%YAML 1.1\n", b"---\n",
    b"...\n", b"\x00", b"\x07", b"\x1b", b"\xc2\x85", b"\xef\xbb\xbf", b"\xff", b"\xe9",
    b"\xed\xa0\x80", b"#", b"\n", b"  ", b"~", b"null", b"1e999", b"2020-02-30", b"0x1F",
    b".nan", b"-.inf", b"yes", b"*undefined", b"&x [*x]", b"\\u0000",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with one to four mutations of the issue's kinds."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "token", "delete", "line", "cut", "bomb"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif kind == "line":  # a duplicated or re-indented line
            lines = bytes(data).split(b"\n")
            index = draw(st.integers(0, len(lines) - 1))
            shift = draw(st.sampled_from([b"", b" ", b"  ", b"    "]))
            lines.insert(index, shift + lines[index])
            data = bytearray(b"\n".join(lines))
        elif kind == "cut":
            del data[at:]
        elif kind == "bomb":
            levels, width = draw(st.integers(2, 9)), draw(st.integers(2, 12))
            data[0:0] = billion_laughs(levels, width).encode()
    return bytes(data)


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang(f"a load took more than {CASE_SECONDS} s of CPU time")


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    target = os.environ.get("COHORTCALC_FUZZ_REPORT")
    if target:
        counts: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for (loader, outcome), n in sorted(COUNTS.items()):
            counts[loader][outcome] = n
        Path(target).write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def dictionary():
    return load_dictionary()


def _check(name: str, data: bytes, tmp_path: Path, dictionary) -> None:
    loader = LOADERS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    previous = signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, CASE_SECONDS)
    try:
        if name == "mapping":
            load_mapping(path, dictionary)
        else:
            loader.load(path)
        COUNTS[(name, "loaded")] += 1
    except loader.error as exc:
        assert str(path) in str(exc)  # every clean error names the file
        COUNTS[(name, f"clean {type(exc).__name__}")] += 1
    except CohortcalcError as exc:  # pragma: no cover - a failure, counted for the report
        COUNTS[(name, f"wrong error {type(exc).__name__}")] += 1
        raise
    except BaseException as exc:
        COUNTS[(name, f"unhandled {type(exc).__name__}")] += 1
        raise
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # hangs are caught by the alarm, not by timing noise on a loaded machine
    derandomize=FUZZ_EXAMPLES <= 60,  # CI: the same cases every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow tracing
)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_mutated_file_loads_or_fails_cleanly(name, tmp_path, dictionary):
    seed = LOADERS[name].seed.read_bytes()

    @FUZZ
    @given(data=mutated(seed))
    def case(data: bytes) -> None:
        _check(name, data, tmp_path, dictionary)

    case()
