"""Raw Parquet tables of the synthetic cohort for the scaling benchmark, written chunk by chunk.

``cohort_folder(n)`` returns ``benchmarks/out/scaling_data/n<N>_seed<S>/`` with one folder per
table (participants, cac_lesions, events, followup), each holding one Parquet file per chunk
of at most ``CHUNK`` participants, so a cohort of 10 million is never held in memory at once.
Up to ``CHUNK`` participants it is exactly ``simulate_cohort(n, seed)``; larger cohorts join
chunks simulated with seeds spawned from ``seed`` (``numpy.random.SeedSequence``), their
participant ids shifted so that they run P…1 … P…N without gaps. The folder is reused by later
runs once its ``_complete.json`` exists (written last, so an interrupted run starts over).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl

from cohortcalc.synth import simulate_cohort

TABLES = ("participants", "cac_lesions", "events", "followup")
CHUNK = 1_000_000
DATA = Path(__file__).resolve().parent / "out" / "scaling_data"


def chunk_seeds(n: int, seed: int) -> list[tuple[int, int]]:
    """(participants, seed) of every chunk: one chunk with ``seed`` itself up to ``CHUNK``."""
    sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    if len(sizes) == 1:
        return [(n, seed)]
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    seeds = [int(child.generate_state(1)[0]) for child in children]
    return list(zip(sizes, seeds, strict=True))


def _renumber(table: pl.DataFrame, offset: int, width: int) -> pl.DataFrame:
    """Participant ids "P<k>" of a chunk as "P<k + offset>", zero-filled to ``width`` digits."""
    number = pl.col("participant_id").str.slice(1).cast(pl.Int64) + offset
    return table.with_columns(participant_id=pl.lit("P") + number.cast(pl.String).str.zfill(width))


def _write(folder: Path, n: int, seed: int) -> tuple[dict[str, int], int]:
    """Simulate and write every chunk; each table's row count, and their bytes in memory."""
    width = max(6, len(str(n)))  # as simulate_cohort(n) numbers its participants
    rows = dict.fromkeys(TABLES, 0)
    offset = memory = 0
    for index, (size, chunk_seed) in enumerate(chunk_seeds(n, seed)):
        tables = simulate_cohort(n=size, seed=chunk_seed).tables
        for name in TABLES:
            table = _renumber(tables[name], offset, width) if offset or size != n else tables[name]
            (folder / name).mkdir(parents=True, exist_ok=True)
            table.write_parquet(folder / name / f"part-{index:05d}.parquet")
            rows[name] += table.height
            memory += table.estimated_size()
        offset += size
        del tables
    return rows, memory


def _check(folder: Path, n: int, rows: dict[str, int]) -> None:
    """The written participants run P…1 … P…N, once each, and the row counts are as written."""
    ids = pl.scan_parquet(folder / "participants" / "*.parquet").select(
        number=pl.col("participant_id").str.slice(1).cast(pl.Int64)
    )
    stats = ids.select(
        rows=pl.len(), distinct=pl.col("number").n_unique(), low=pl.min("number"),
        high=pl.max("number"),
    ).collect(engine="streaming")  # fmt: skip
    assert stats.row(0) == (n, n, 1, n), f"{folder}: participant ids {stats.row(0)} != 1..{n}"
    for name in TABLES:
        counted = pl.scan_parquet(folder / name / "*.parquet").select(pl.len()).collect().item()
        assert counted == rows[name], f"{folder}/{name}: {counted} rows, {rows[name]} written"


def cohort_folder(n: int, seed: int = 1) -> Path:
    """The folder of the cohort's raw Parquet tables, simulated and written on first use."""
    folder = DATA / f"n{n}_seed{seed}"
    if (folder / "_complete.json").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # a partial folder from an interrupted run
    folder.mkdir(parents=True)
    rows, memory = _write(folder, n, seed)
    _check(folder, n, rows)
    summary = {
        "n": n, "seed": seed, "chunk": CHUNK, "rows": rows, "disk_bytes": disk_bytes(folder),
        "memory_bytes": memory,
    }  # fmt: skip
    (folder / "_complete.json").write_text(json.dumps(summary, indent=1))
    return folder


def summary(folder: Path) -> dict:
    """What ``cohort_folder`` recorded: n, seed, chunk, rows per table, disk and memory bytes."""
    return json.loads((folder / "_complete.json").read_text())


def disk_bytes(folder: Path) -> int:
    """Bytes of the Parquet files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*.parquet"))
