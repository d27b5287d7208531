"""A month's archive on disk: one Parquet file per table (zstd-compressed columns), its SHA-256,
and a manifest naming every file with its rows, bytes and checksums. Files only: the database
side is telebill/db/archive_store.py, the orchestration telebill/service/archive.py.

Two checksums per file: `sha256`, of the file's bytes (it was not altered since), and
`rows_sha256`, of its rows as values in order (computed while writing, from the Arrow batches
made of the rows read, and again from the file read back: the file holds what was converted;
the conversion itself is checked by the round trip tests, a restored month equal to before).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from telebill.errors import TelebillError

MANIFEST = "manifest.json"
FORMAT = 1  # of the manifest; a reader refuses one it does not know

# PostgreSQL's types of the month tables → Arrow's (JSON is kept as its text).
ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "text": pa.string(),
    "jsonb": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
}


class ArchiveDamaged(TelebillError):
    """A file or the manifest does not match what was written."""


@dataclass(frozen=True)
class TableFile:
    table: str
    file: str
    rows: int
    bytes: int
    sha256: str
    rows_sha256: str
    columns: list[tuple[str, str]]  # (name, PostgreSQL type)


@dataclass
class Manifest:
    month: str  # YYYY-MM
    schema_revision: str
    created_at: str  # ISO
    tables: dict[str, TableFile] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ArchiveDamaged(f"manifest format {data.get('format')!r} is not {FORMAT}")
        tables = {
            t: TableFile(**{**f, "columns": [tuple(c) for c in f["columns"]]})
            for t, f in data.pop("tables").items()
        }
        return cls(**data, tables=tables)


def month_dir(root: Path, month: date) -> Path:
    return root / f"{month:%Y-%m}"


def schema_of(columns: Sequence[tuple[str, str]]) -> pa.Schema:
    try:
        return pa.schema([(name, ARROW_TYPES[pg]) for name, pg in columns])
    except KeyError as exc:
        raise ValueError(f"no Arrow type for PostgreSQL's {exc.args[0]!r}") from None


class RowDigest:
    """SHA-256 of rows as values, in order: the same rows give the same digest whether they come
    from PostgreSQL or from the file read back."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, batch: pa.RecordBatch) -> None:
        for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
            self._h.update(repr(row).encode())
            self._h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def sync(path: Path) -> None:
    """fsync a file or a folder: a power loss after the drop must not take the archive."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class TableWriter:
    """`<table>.parquet`, written a batch of row tuples at a time (one row group each, memory
    flat in the month's size); `close` gives its entry of the manifest."""

    def __init__(self, folder: Path, table: str, columns: Sequence[tuple[str, str]]) -> None:
        self.table, self.columns = table, [(n, t) for n, t in columns]
        self.schema = schema_of(columns)
        self.path = folder / f"{table}.parquet"
        self.digest = RowDigest()
        self.rows = 0
        self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")

    def add(self, batch: Sequence[Sequence[Any]]) -> None:
        types = [f.type for f in self.schema]
        record = pa.RecordBatch.from_arrays(
            [pa.array([r[i] for r in batch], type=t) for i, t in enumerate(types)],
            schema=self.schema,
        )
        self.digest.add(record)
        self._writer.write_batch(record)
        self.rows += record.num_rows

    def close(self) -> TableFile:
        self._writer.close()
        sync(self.path)  # on disk before the month's rows may be dropped
        return TableFile(
            table=self.table,
            file=self.path.name,
            rows=self.rows,
            bytes=self.path.stat().st_size,
            sha256=file_sha256(self.path),
            rows_sha256=self.digest.hexdigest(),
            columns=self.columns,
        )


def verify_table(folder: Path, entry: TableFile) -> None:
    """Read the file back: its bytes, its row count and its rows as the manifest has them."""
    path = folder / entry.file
    if not path.is_file():
        raise ArchiveDamaged(f"{path} is missing")
    if file_sha256(path) != entry.sha256:
        raise ArchiveDamaged(f"{path} was altered: its SHA-256 is not the manifest's")
    digest = RowDigest()
    rows = 0
    for batch in read_batches(folder, entry):
        digest.add(batch)
        rows += batch.num_rows
    if rows != entry.rows or digest.hexdigest() != entry.rows_sha256:
        raise ArchiveDamaged(f"{path} holds other rows than were archived")


def read_batches(folder: Path, entry: TableFile, size: int = 50_000) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(folder / entry.file)
    if parquet.schema_arrow != schema_of(entry.columns):
        raise ArchiveDamaged(f"{entry.file}'s columns are not the manifest's")
    yield from parquet.iter_batches(batch_size=size)


def write_manifest(folder: Path, manifest: Manifest) -> str:
    """Write it; returns its SHA-256 (kept in the database beside the month's record)."""
    path = folder / MANIFEST
    path.write_text(manifest.to_json(), encoding="utf-8")
    sync(path)
    sync(folder)
    return file_sha256(path)


def read_manifest(folder: Path) -> tuple[Manifest, str]:
    path = folder / MANIFEST
    if not path.is_file():
        raise ArchiveDamaged(f"no archive at {folder} ({MANIFEST} is missing)")
    return Manifest.from_json(path.read_text(encoding="utf-8")), file_sha256(path)
