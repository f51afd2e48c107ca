"""Readers fuzz (issue 16): every reader, fed mutated files, ends in a store that reconciles or
a clean ``IngestError`` naming the file: no other exception, no crash of the process, no
hang, no partial store.

Mutations: flipped bytes, a zeroed span, truncation, garbage inserted, a span repeated, a
single byte set (the SPSS segfault of item 2 was byte 477 = 0x63). Formats: csv, tsv (latin-1,
';' and decimal commas), parquet, xpt, dta, sav, xlsx (sas7bdat has no writer to make a base
file; it goes through the same guarded reader as xpt/dta/sav). Bounded for CI by
``COHORTCALC_FUZZ_CASES`` (default 40, derandomized); the long run, with its counts per format
and outcome written to ``COHORTCALC_FUZZ_REPORT``::

    COHORTCALC_FUZZ_CASES=3000 COHORTCALC_FUZZ_REPORT=fuzz.json \\
        python -m pytest -p no:xdist tests/ingest/test_readers_fuzz.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections import Counter
from pathlib import Path

import polars as pl
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc.errors import IngestError

CASES = int(os.environ.get("COHORTCALC_FUZZ_CASES", "40"))
FORMATS = ("csv", "tsv", "parquet", "xpt", "dta", "sav", "xlsx")
OUTCOMES: Counter[tuple[str, str]] = Counter()


def _frame(n: int = 60) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ID": [f"P{i:04d}" for i in range(n)],
            "CENTER": ["A", "B", "C"] * (n // 3),
            "VISIT": [dt.date(2001, 1, 1) + dt.timedelta(days=i) for i in range(n)],
            "AGE": [40.0 + i % 40 for i in range(n)],
            "SEX": [1.0, 2.0] * (n // 2),
            "CREAT": [70.0 + i for i in range(n)],
        }
    )


def _write_base(fmt: str, path: Path) -> None:
    frame = _frame()
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "tsv":
        text = frame.with_columns(
            pl.col("CREAT").cast(pl.String).str.replace(".", ",", literal=True)
        )
        path.write_bytes(text.write_csv(separator="\t").replace("A\t", "Å\t").encode("latin-1"))
    elif fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "xlsx":
        frame.write_excel(path, worksheet="data")
    else:
        pdf = frame.to_pandas()
        pdf["VISIT"] = frame["VISIT"].to_list()
        writer = {"xpt": pyreadstat.write_xport, "dta": pyreadstat.write_dta}
        writer.get(fmt, pyreadstat.write_sav)(pdf, str(path))


def _mapping(fmt: str) -> str:
    extra = {"tsv": '    encoding: latin-1\n    decimal: ","\n', "xlsx": "    sheet: data\n"}
    return (
        'mapping_version: "fuzz"\nstudy: fuzz\non_row_error: quarantine\nmax_loss: 1\n'
        f"sources:\n  - file: base.{fmt}\n    table: participants\n{extra.get(fmt, '')}"
        "    columns:\n      participant_id: ID\n      site: CENTER\n      baseline_date: VISIT\n"
        "      age: AGE\n      sex: {column: SEX, codes: {1: male, 2: female}}\n"
        "      serum_creatinine: {column: CREAT, unit: umol/L}\n"
    )


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz_bases")
    found = {}
    for fmt in FORMATS:
        _write_base(fmt, folder / f"base.{fmt}")
        found[fmt] = (folder / f"base.{fmt}").read_bytes()
    yield found
    report = os.environ.get("COHORTCALC_FUZZ_REPORT")
    if report:
        counts: dict[str, dict[str, int]] = {}
        for (fmt, outcome), n in sorted(OUTCOMES.items()):
            counts.setdefault(fmt, {})[outcome] = n
        Path(report).write_text(json.dumps(counts, indent=1) + "\n")


def _mutate(data: bytes, kind: str, where: float, size: int, byte: int) -> bytes:
    at = int(where * max(len(data) - 1, 0))
    if kind == "flip":
        out = bytearray(data)
        for i in range(at, min(at + size, len(out))):
            out[i] ^= 0xFF
        return bytes(out)
    if kind == "zero":
        return data[:at] + bytes(min(size, len(data) - at)) + data[at + size :]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + bytes([byte]) * size + data[at:]
    if kind == "repeat":
        return data[:at] + data[at : at + size] * 2 + data[at + size :]
    out = bytearray(data)
    out[at] = byte
    return bytes(out)


@settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(FORMATS),
    kind=st.sampled_from(("flip", "zero", "truncate", "insert", "repeat", "set")),
    where=st.floats(0, 1),
    size=st.integers(1, 64),
    byte=st.integers(0, 255),
)
def test_a_mutated_file_is_ingested_or_refused_cleanly(
    bases: dict[str, bytes],
    tmp_path_factory: pytest.TempPathFactory,
    fmt: str,
    kind: str,
    where: float,
    size: int,
    byte: int,
) -> None:
    folder = tmp_path_factory.mktemp("case")
    (folder / f"base.{fmt}").write_bytes(_mutate(bases[fmt], kind, where, size, byte))
    (folder / "mapping.yaml").write_text(_mapping(fmt))
    out = folder / "cohort"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cc.DataQualityWarning)
            report = cc.ingest(mapping=folder / "mapping.yaml", out=out)
    except IngestError as err:
        assert f"base.{fmt}" in str(err) or "mapping" in str(err), err
        assert not out.exists(), "a failed ingest left a store"
        crashed = "crashed (SIG" in str(err)  # the reader process died; this one did not
        OUTCOMES[(fmt, "refused: reader crashed" if crashed else "refused")] += 1
    else:
        assert all(s.reconciles for s in report.sources)
        assert all(t.reconciles for t in report.tables.values())
        lost = report.rows_quarantined + report.values_nulled
        OUTCOMES[(fmt, "ingested with losses" if lost else "ingested")] += 1
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
