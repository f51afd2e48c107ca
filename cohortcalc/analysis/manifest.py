"""The run manifest: what went in (spec and input hashes, seed), with what (package versions),
and how long each step took. Written as ``DIR/manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cohortcalc.analysis.spec import Spec

PACKAGES = (
    "cohortcalc",
    "numpy",
    "scipy",
    "polars",
    "pandas",
    "pyarrow",
    "narwhals",
    "pydantic",
    "pyyaml",
    "matplotlib",
    "numba",
)


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def sha256_files(paths: Iterable[Path], root: Path | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` for files (folders are walked), sorted by path."""
    out: dict[str, str] = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            name = str(file.relative_to(root)) if root is not None else str(file)
            out[name] = sha256_file(file)
    return dict(sorted(out.items()))


def spec_hash(spec: Spec) -> str:
    """SHA-256 of the validated spec's canonical JSON (key order and comments do not matter)."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that can change a number in the results."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def build_manifest(
    spec: Spec,
    inputs: Mapping[str, Any],
    timings: Mapping[str, float],
    outputs: Mapping[str, str],
    started: str,
    engine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest as a JSON-ready dict (timings in seconds, rounded to ms).

    ``engine`` records what fitted the models: ``{"name": "local"}`` or, for Spark, its
    version, master and parallelism."""
    spec_file = Path(spec.source)
    return {
        "analysis": spec.name,
        "title": spec.title,
        "started": started,
        "spec": {
            "path": spec.source,
            "file_sha256": sha256_file(spec_file) if spec_file.is_file() else None,
            "canonical_sha256": spec_hash(spec),
            "content": spec.model_dump(mode="json"),
        },
        "inputs": dict(inputs),
        "engine": dict(engine or {"name": spec.engine}),
        "seed": spec.data.synthetic.seed if spec.data.synthetic is not None else None,
        "packages": package_versions(),
        "platform": {"system": platform.platform(), "executable": sys.executable},
        "timings_seconds": {step: round(seconds, 3) for step, seconds in timings.items()},
        "outputs": dict(sorted(outputs.items())),
    }


def write_manifest(manifest: Mapping[str, Any], path: Path) -> None:
    """Write the manifest as indented, key-sorted JSON."""
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
