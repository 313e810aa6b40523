"""Resumable results: rows stream back to the driver, and each input, once whole, goes into a Parquet part.

``out`` is a Parquet dataset folder of ``part-RUN-NNNNN.parquet`` files. A part is written under a
hidden name and renamed, so readers (which skip hidden files) never see half a file, and holds only
whole inputs, so a later run with the same ``out`` skips exactly the inputs that have rows.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fer.batch.join import join_tracks
from fer.batch.schema import SCHEMA
from fer.batch.summary import Summary


def done_inputs(out: Path) -> set[str]:
    """Paths that already have rows in the Parquet dataset ``out`` (empty when it does not exist)."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder; --out names a Parquet dataset folder")
    if not any(out.glob("*.parquet")):
        return set()
    return set(pq.read_table(out, columns=["path"]).column("path").to_pylist())


class PartWriter:
    """Buffers finished inputs and writes a part every ``max_inputs`` inputs or ``max_seconds``."""

    def __init__(self, out: Path, max_inputs: int = 1000, max_seconds: float = 30.0):
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.max_inputs, self.max_seconds = out, max_inputs, max_seconds
        self.run = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.parts, self.rows, self.inputs, self.since = 0, [], 0, time.monotonic()

    def add(self, rows: list[dict]) -> None:
        self.rows += rows
        self.inputs += 1
        if self.inputs >= self.max_inputs or time.monotonic() - self.since >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            name = f"part-{self.run}-{self.parts:05d}.parquet"
            pq.write_table(pa.Table.from_pylist(self.rows, schema=SCHEMA), self.out / f".{name}.tmp")
            os.replace(self.out / f".{name}.tmp", self.out / name)
            self.parts += 1
        self.rows, self.inputs, self.since = [], 0, time.monotonic()


def stream_to_parts(ds, writer: PartWriter, summary: Summary, every: int, bar) -> None:
    """Rows come back in any order; an input is joined and handed to the writer once all its
    chunks are in (each row says how many rows its chunk gave and how many chunks its input has)."""
    pending: dict[str, list[dict]] = defaultdict(list)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    chunks_done: dict[str, int] = defaultdict(int)
    start = time.monotonic()
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in batch.to_pylist():
            path, chunk = row["path"], row["_chunk"]
            pending[path].append(row)
            counts[path, chunk] += 1
            if counts[path, chunk] < row["_rows"]:
                continue
            del counts[path, chunk]
            summary.frames += len({r["frame"] for r in pending[path] if r["_chunk"] == chunk and not r["error"]})
            chunks_done[path] += 1
            if chunks_done[path] == row["_chunks"]:
                del chunks_done[path]
                rows = join_tracks(pending.pop(path), every)
                writer.add(rows)
                summary.count_input(rows)
                bar.update(1)
            bar.set_postfix_str(f"{summary.frames / max(time.monotonic() - start, 1e-9):.1f} frames/s", refresh=False)
