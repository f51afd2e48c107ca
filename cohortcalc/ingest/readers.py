"""Readers per file type: each returns a LazyFrame of the raw columns plus ``_source_row``.

CSV/TSV and Parquet are scanned lazily (streaming); SAS, Stata and SPSS go through
pyreadstat in a subprocess per file (C code that a corrupt file can crash: the crash costs
that process, and the user is told the file is corrupt), and Excel through fastexcel
(calamine), which read whole files. ``_source_row`` is the 1-based data row (the header is not
counted), so error messages can point at it. A Rust panic in a reader (``PanicException``, a
``BaseException``) is turned into the same "corrupt file" ``IngestError``.
"""

from __future__ import annotations

import codecs
import csv
import faulthandler
import os
import pickle
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cohortcalc.errors import IngestError
from cohortcalc.ingest.mapping import FileFormat, SourceSpec

SOURCE_ROW = "_source_row"
_CHUNK = 1 << 24
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class ReadInfo:
    """How a source was read (recorded in the manifest)."""

    format: FileFormat
    encoding: str | None = None
    delimiter: str | None = None
    short_rows: tuple[int, ...] = ()  # CSV/TSV data rows with fewer fields than the header


TextTypes = tuple[dict[str, pl.DataType], dict[str, str]]


def scan_source(
    path: Path, source: SourceSpec, scratch: Path, text_types: TextTypes | None = None
) -> tuple[pl.LazyFrame, ReadInfo]:
    """A LazyFrame of ``path``'s raw columns and ``_source_row``, and how it was read.

    ``scratch`` is a private folder for transcoded copies (non-UTF-8 text files).
    ``text_types``: for CSV/TSV, (dtype per column, null text per column) to parse columns
    directly instead of as text: fast, but a value that does not parse fails the whole scan,
    so callers retry without it to find and name the row.
    """
    if not path.is_file():
        raise IngestError(f"{path}: no such file. Fix `file:` in the mapping or the sources path.")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty (0 bytes). Export it again.")
    fmt = source.file_format
    if fmt in ("csv", "tsv"):
        try:
            return _scan_text(path, source, fmt, scratch, text_types or ({}, {}))
        except OSError as err:
            raise IngestError(
                f"{path}: cannot be read ({err.strerror or err}). Check the file's permissions "
                "and that the disk is reachable."
            ) from err
    if fmt == "parquet":
        try:
            pl.read_parquet_schema(path)
        except BaseException as err:
            if not is_reader_failure(err):
                raise
            raise _corrupt(path, "Parquet", err) from err
        return pl.scan_parquet(path).with_row_index(SOURCE_ROW, offset=1), ReadInfo(fmt)
    if fmt == "xlsx":
        return _read_excel(path, source.sheet), ReadInfo(fmt)
    return read_statistical(path, fmt, scratch), ReadInfo(fmt)


def is_reader_failure(err: BaseException) -> bool:
    """An ordinary exception, or a Rust panic surfacing as ``PanicException`` (a
    BaseException that ``except Exception`` misses); not KeyboardInterrupt/SystemExit."""
    return isinstance(err, Exception) or type(err).__name__ == "PanicException"


def _corrupt(path: Path, kind: str, err: BaseException) -> IngestError:
    return IngestError(
        f"{path}: cannot be read as {kind} ({type(err).__name__}: {err}). The file is corrupt "
        "or not of this type: export it again, or set `format:` in the mapping."
    )


def _scan_text(
    path: Path, source: SourceSpec, fmt: FileFormat, scratch: Path, text_types: TextTypes
) -> tuple[pl.LazyFrame, ReadInfo]:
    encoding = source.encoding or detect_encoding(path)
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        check_utf8(path)
        text_path = path
    else:
        text_path = transcode_to_utf8(path, encoding, scratch)
    delimiter = source.delimiter or ("\t" if fmt == "tsv" else detect_delimiter(text_path))
    lazy = pl.scan_csv(
        text_path,
        separator=delimiter,
        infer_schema=False,
        schema_overrides=text_types[0] or None,
        null_values=text_types[1] or None,
        row_index_name=SOURCE_ROW,
        row_index_offset=1,
        encoding="utf8",
    )
    return lazy, ReadInfo(fmt, encoding, delimiter, short_rows(text_path, delimiter))


def short_rows(path: Path, delimiter: str) -> tuple[int, ...]:
    """Data rows (1-based) with fewer fields than the header: a file cut off mid-download or
    a row that lost fields (the CSV reader would pad them with nulls silently).

    One fast pass counts delimiters per line; lines with quotes are parsed with Python's csv
    module (a quoted field may hold the delimiter), and a line with an odd number of quotes
    (a field spanning lines) sends the whole file through it.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        expected = len(next(csv.reader(handle, delimiter=delimiter), []))
    line = pl.col("line")
    quotes = line.str.count_matches('"', literal=True)
    suspects = (
        pl.scan_lines(path)
        .with_row_index("_line")
        .select(
            "_line",
            "line",
            (line.str.count_matches(delimiter, literal=True) + 1).alias("_fields"),
            quotes.alias("_quotes"),
        )
        .filter(((pl.col("_fields") < expected) | (pl.col("_quotes") > 0)) & (pl.col("_line") > 0))
        .collect()
    )
    if (suspects["_quotes"] % 2 == 1).any():
        return _short_rows_parsed(path, delimiter, expected)
    short = []
    for number, text, fields, quoted in suspects.iter_rows():
        if quoted:
            fields = len(next(csv.reader([text], delimiter=delimiter), []))
        if fields < expected:
            short.append(int(number))
    return tuple(short)


def _short_rows_parsed(path: Path, delimiter: str, expected: int) -> tuple[int, ...]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = csv.reader(handle, delimiter=delimiter)
        next(records, None)
        return tuple(i for i, row in enumerate(records, start=1) if len(row) < expected)


def detect_encoding(path: Path) -> str:
    """``utf-8`` when every byte decodes as UTF-8 (BOM allowed), else ``cp1252``/``latin-1``."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _first_bad_utf8_byte(path) is None:
        return "utf-8"
    try:
        with path.open(encoding="cp1252") as handle:
            while handle.read(_CHUNK):
                pass
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _first_bad_utf8_byte(path: Path) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                return offset + err.start
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def check_utf8(path: Path) -> None:
    """Raise ``IngestError`` naming the line of the first byte that is not UTF-8."""
    bad = _first_bad_utf8_byte(path)
    if bad is None:
        return
    with path.open("rb") as handle:
        before = handle.read(bad)
        context = handle.read(12)
    line = before.count(b"\n") + 1
    raise IngestError(
        f"{path}: not valid UTF-8 at line {line} (data row {line - 1}), byte {bad}: "
        f"{context!r}. The file is probably cp1252 or latin-1: set `encoding: cp1252` for this "
        "source in the mapping (or omit `encoding:` to detect it)."
    )


def transcode_to_utf8(path: Path, encoding: str, scratch: Path) -> Path:
    """A UTF-8 copy of ``path`` in ``scratch`` (streamed in chunks; bounded memory)."""
    target = scratch / f"{path.stem}.utf8{path.suffix}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with (
            path.open(encoding=encoding, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            shutil.copyfileobj(src, dst, _CHUNK)
    except (UnicodeDecodeError, LookupError) as err:
        raise IngestError(
            f"{path}: cannot be decoded as {encoding} ({err}). Set the right `encoding:` for "
            "this source in the mapping, or omit it to detect it."
        ) from err
    return target


def detect_delimiter(path: Path) -> str:
    """The delimiter that splits the header and the next lines into the same number of fields."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        lines = [line for _, line in zip(range(20), handle, strict=False) if line.strip()]
    if not lines:
        raise IngestError(f"{path}: the file has no header line. Export it again.")
    best, best_fields = ",", 0
    for delimiter in _DELIMITERS:
        counts = {line.count(delimiter) for line in lines}
        fields = lines[0].count(delimiter)
        if len(counts) == 1 and fields > best_fields:
            best, best_fields = delimiter, fields
    return best


def read_statistical(path: Path, fmt: FileFormat, scratch: Path) -> pl.LazyFrame:
    """A SAS/Stata/SPSS file read by pyreadstat in a process of its own.

    ReadStat is C code that a corrupt file can crash (issue 16: a segfault). On POSIX the
    reader runs in a forked child (no start-up cost; the child touches only pyreadstat and
    pickle, then leaves by ``os._exit``); elsewhere in ``_statistical_worker.py``. A crash
    (a signal) or a read error becomes ``IngestError`` naming the file; nothing else is
    touched.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"{path.stem}-{uuid.uuid4().hex[:8]}.pickle"
    status, message = (_read_forked if hasattr(os, "fork") else _read_spawned)(path, fmt, target)
    if status != 0:
        target.unlink(missing_ok=True)
        detail = f"the reader crashed ({signal.Signals(-status).name})" if status < 0 else message
        raise IngestError(
            f"{path}: file is corrupt or not {fmt}: cannot be read as {fmt} ({detail}). Export "
            "it again, or set `format:` in the mapping."
        )
    with target.open("rb") as handle:
        frame = pickle.load(handle)  # written just now by our own reader, in our scratch
    target.unlink()
    table = pl.from_pandas(frame, nan_to_null=True)
    return table.lazy().with_row_index(SOURCE_ROW, offset=1)


def _read_forked(path: Path, fmt: FileFormat, target: Path) -> tuple[int, str]:
    """(exit status, negative for a signal; error text) of reading ``path`` in a fork."""
    import pyreadstat  # loaded before the fork, so the child does not import

    readers = {
        "sas7bdat": pyreadstat.read_sas7bdat,
        "xpt": pyreadstat.read_xport,
        "dta": pyreadstat.read_dta,
        "sav": pyreadstat.read_sav,
    }
    errors = target.with_suffix(".error")
    pid = os.fork()
    if pid == 0:  # the child: read, hand the frame over, leave without cleanup
        code = 3
        faulthandler.disable()  # a crash here is reported by the parent, not dumped to stderr
        try:
            frame, _meta = readers[fmt](str(path))
            with target.open("wb") as handle:
                pickle.dump(frame, handle, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException as err:
            errors.write_text(f"{type(err).__name__}: {err}")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    message = errors.read_text() if errors.is_file() else "no message"
    errors.unlink(missing_ok=True)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), message
    return os.WEXITSTATUS(status), message


def _read_spawned(path: Path, fmt: FileFormat, target: Path) -> tuple[int, str]:
    worker = Path(__file__).with_name("_statistical_worker.py")
    done = subprocess.run(
        [sys.executable, "-I", str(worker), fmt, str(path), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, (done.stderr.strip().splitlines() or ["no message"])[-1]


def _read_excel(path: Path, sheet: str | int | None) -> pl.LazyFrame:
    options: dict[str, object] = {"sheet_name": sheet} if isinstance(sheet, str) else {}
    if isinstance(sheet, int):
        options = {"sheet_id": sheet}
    try:
        frame = pl.read_excel(path, engine="calamine", infer_schema_length=0, **options)
    except BaseException as err:
        if not is_reader_failure(err):
            raise
        kind = "Excel .xlsx" if sheet is None else f"Excel .xlsx sheet {sheet!r} (check `sheet:`)"
        raise _corrupt(path, kind, err) from err
    return frame.lazy().with_row_index(SOURCE_ROW, offset=1)
