"""Where a run writes, and how its results appear all at once.

A run writes everything (tables, figures, report, manifest last) into a staging folder beside
``out`` and swaps it in only when complete: a crash or a kill at any point leaves the previous
results exactly as they were. On Linux the swap is one atomic ``renameat2(RENAME_EXCHANGE)``;
elsewhere two renames, and a run killed between them has its previous results put back by
the next run, which says so. Before anything is computed the folder is checked (a file, a
folder that is not a previous run's results, no write permission, a full disk: each a clear
``OutputError``), so a run never fits for an hour and then fails to write.

Participant-level data a run makes from raw files (the cohort store, its quarantine, a
simulated export) go to ``<out>_participant_data`` beside the results, never inside them, so
sharing the results folder never shares the data.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohortcalc.errors import OutputError

PARTICIPANT_SUFFIX = "_participant_data"
MANIFEST = "manifest.json"
#: Free space a run needs before it starts (its tables, figures and report take a few MB).
MIN_FREE_BYTES = 64 << 20
PROBE_BYTES = 1 << 20
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100

try:  # POSIX: one run at a time per output folder; the lock dies with its process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Staging:
    """A run in progress: ``folder`` is written, then swapped into ``out``."""

    out: Path
    folder: Path
    notes: tuple[str, ...]


def participant_folder(out: Path) -> Path:
    """``<out>_participant_data``: beside the results folder, never inside it."""
    return out.parent / f"{out.name}{PARTICIPANT_SUFFIX}"


@contextlib.contextmanager
def staged_results(out: Path) -> Iterator[Staging]:
    """Check ``out``, tidy what killed runs left, and yield a staging folder for the run;
    the caller commits it with ``commit``. The staging folder is removed if the run fails."""
    out = Path(os.path.realpath(out) if os.path.islink(out) else os.path.abspath(out))
    _check_target(out)
    _make_parent(out)
    with _lock(out):
        notes = _recover(out)
        _check_previous(out)
        folder = out.parent / f".{out.name}.run-{uuid.uuid4().hex[:12]}"
        try:
            _probe(folder, out)
            yield Staging(out, folder, tuple(notes))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def commit(staging: Staging) -> None:
    """Carry the user's own files over from the previous results, then swap the finished
    staging folder in for ``out`` (atomically where the system allows)."""
    out, folder = staging.out, staging.folder
    try:
        if out.exists():
            _carry_over(out, folder)
        if not out.exists():
            os.rename(folder, out)
            return
        if _exchange(folder, out):  # folder now holds the previous results
            shutil.rmtree(folder, ignore_errors=True)
            return
        retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(out, retired)
        try:
            os.rename(folder, out)
        except BaseException:
            os.rename(retired, out)
            raise
        shutil.rmtree(retired, ignore_errors=True)
    except OSError as exc:
        raise OutputError(
            f"{out}: the finished results could not be moved into place ({exc.strerror or exc}); "
            "the previous results are unchanged."
        ) from exc


def participant_record(folder: Path | None, kept: bool) -> dict[str, Any]:
    """The manifest's ``participant_level`` entry of a raw-data run: where its
    participant-level data are (``kept``) or that they were deleted (an in-memory run)."""
    if folder is None:
        return {}
    holds = sorted(p.name + "/" for p in folder.iterdir() if not p.name.startswith("."))
    return {
        "participant_level": {
            "folder": str(folder) if kept else None,
            "holds": holds,
            "note": PARTICIPANT_NOTE if kept else "deleted when the run ended",
        }
    }


PARTICIPANT_NOTE = (
    "one record per participant, kept beside the results folder, not inside it; do not share "
    "it with the results"
)
STORE_FOLDER = "cohort_store"


def participant_level_paragraph(inputs: dict[str, Any] | Any) -> str | None:
    """The report's paragraph on participant-level data (markdown), or None if the run made
    none: the results folder itself holds only aggregate tables, figures and the report."""
    record = inputs.get("participant_level") if hasattr(inputs, "get") else None
    if not isinstance(record, dict) or record.get("folder") is None:
        return None
    parts = [
        f"`{name}` (the cohort store ingested from the raw files, with the rejected rows in its "
        "`_quarantine/`)"
        if name == f"{STORE_FOLDER}/"
        else f"`{name}` (study files)"
        for name in record.get("holds", [])
    ]
    return (
        "**Participant-level data.** This run ingested raw study files. Its participant-level "
        f"data are in `{record['folder']}`: {', '.join(parts) or 'nothing yet'}. They hold "
        f"{PARTICIPANT_NOTE}. This results folder holds aggregate tables, figures, this "
        "report and the manifest only."
    )


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a folder; give --out a folder (new or a run's).")
    people = participant_folder(out)
    if people.exists() and not people.is_dir():
        raise OutputError(f"{people}: is a file; the run keeps participant-level data there.")


def _make_parent(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{out.parent}: cannot create the folder for the results ({exc.strerror or exc}); "
            "choose an --out folder you can write to."
        ) from exc


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = out.parent / f".{out.name}.lock"
    try:
        handle = path.open("a")
    except OSError as exc:
        raise OutputError(
            f"{out.parent}: cannot write there ({exc.strerror or exc}); choose an --out folder "
            "you can write to."
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{out}: another cohortcalc run is writing these results; wait for it to end."
            ) from None
        yield


def _recover(out: Path) -> list[str]:
    """Put back results a run killed mid-swap left aside; remove staging folders of killed
    runs (we hold the folder's lock, so no live run owns them)."""
    notes = []
    retired = sorted(
        out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    if retired and not out.exists():
        os.rename(retired[0], out)
        notes.append(f"{out}: put back the previous results that an interrupted run left aside.")
        retired = retired[1:]
    leftovers = [*retired, *out.parent.glob(f".{out.name}.run-*")]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    if leftovers:
        notes.append(f"{out.parent}: removed {len(leftovers)} unfinished folder(s) of killed runs.")
    return notes


def _previous_outputs(out: Path) -> dict[str, Any] | None:
    """The previous run's manifest, or None if ``out`` holds none (or an unreadable one)."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _check_previous(out: Path) -> None:
    """``out`` is new, empty, or a previous run's results without participant-level data."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    manifest = _previous_outputs(out)
    if manifest is None:
        raise OutputError(
            f"{out}: exists, is not empty and holds no {MANIFEST} of a cohortcalc run; a run "
            "replaces its results folder, so it refuses this one. Choose a new --out folder."
        )
    inputs = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
    inside = []
    for key in ("store", "sources"):
        value = inputs.get(key) if isinstance(inputs, dict) else None
        if isinstance(value, str) and out.resolve() in Path(value).resolve().parents:
            inside.append(Path(value))
    if inside:
        names = ", ".join(str(p.relative_to(out.resolve())) for p in inside if p.exists())
        raise OutputError(
            f"{out}: holds participant-level data from an earlier run ({names or 'listed in'} "
            f"its {MANIFEST}); move it to {participant_folder(out)} or delete it, then run again "
            "(results and participant-level data are now kept apart)."
        )


def _probe(folder: Path, out: Path) -> None:
    """Make the staging folder, write a small file there and check the free space, before
    any work is done."""
    try:
        folder.mkdir()
        free = shutil.disk_usage(folder).free
        with (folder / ".write-probe").open("wb") as handle:
            handle.write(b"\0" * PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
        (folder / ".write-probe").unlink()
    except OSError as exc:
        hint = "free some space" if exc.errno == errno.ENOSPC else "check its permissions"
        raise OutputError(
            f"{out}: cannot write the results there ({exc.strerror or exc}); {hint} or choose "
            "another --out folder. Nothing was fitted."
        ) from exc
    if free < MIN_FREE_BYTES:
        raise OutputError(
            f"{out}: only {free / 2**20:.1f} MB free on its disk; a run needs "
            f"{MIN_FREE_BYTES >> 20} MB. Free some space or choose another --out folder. "
            "Nothing was fitted."
        )


def _carry_over(out: Path, folder: Path) -> None:
    """Hard-link (else copy) into ``folder`` the files of ``out`` that the previous run did
    not write (the user's own), so a rerun replaces only cohortcalc's outputs."""
    manifest = _previous_outputs(out) or {}
    listed = set(manifest.get("outputs", {})) | {MANIFEST}
    for path in sorted(out.rglob("*")):
        name = path.relative_to(out).as_posix()
        target = folder / name
        if (path.is_dir() and not path.is_symlink()) or name in listed or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            target.symlink_to(os.readlink(path))
            continue
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two folders (Linux ``renameat2``); False where not supported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):  # not Linux/glibc: no renameat2
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
