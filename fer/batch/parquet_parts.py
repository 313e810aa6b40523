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
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fer.batch.join import join_tracks
from fer.batch.schema import SCHEMA
from fer.batch.summary import Summary

# the error row of an input whose rows never all came: Ray Data gave up on its block (see ray_pipeline)
LOST = "a worker died while analysing this file or another in its block (a crash, or out of memory), on every retry"


def done_inputs(out: Path) -> set[str]:
    """Paths that already have rows in the Parquet dataset ``out`` (empty when it does not exist).

    Part by part, the path column dictionary-encoded, so that only each part's distinct paths become
    Python strings, not one per row (a video has a row per frame and face).
    """
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder; --out names a Parquet dataset folder")
    done: set[str] = set()
    for part in sorted(out.glob("*.parquet")):
        if not part.name.startswith((".", "_")):  # as Parquet readers, which skip those
            column = pq.read_table(part, columns=["path"], read_dictionary=["path"]).column("path")
            for chunk in column.chunks:
                done.update(chunk.unique().to_pylist())
    return done


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


def stream_to_parts(ds, paths: Iterable[str], writer: PartWriter, summary: Summary, every: int, bar) -> None:
    """Rows come back in any order; an input is joined and handed to the writer once all its chunks
    are in. When the stream ends, each of ``paths`` that never became whole (Ray Data dropped the
    block of a worker that died on it, retries spent) gets an error row, so every input has rows."""
    inputs = InputsInFlight(paths)
    start = time.monotonic()

    def finish(rows: list[dict]) -> None:
        writer.add(rows)
        summary.count_input(rows)
        bar.update(1)

    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in batch.to_pylist():
            chunk = inputs.add(row)
            if chunk is None:
                continue
            summary.frames += len({r["frame"] for r in chunk if not r["error"]})
            rows = inputs.pop_whole(row["path"], row["_chunks"])
            if rows is not None:
                finish(join_tracks(rows, every))
        bar.set_postfix_str(f"{summary.frames / max(time.monotonic() - start, 1e-9):.1f} frames/s", refresh=False)
    for rows in inputs.close_out(every):
        summary.lost += 1
        finish(rows)


class InputsInFlight:
    """The rows of inputs not yet whole, gathered chunk by chunk, and the planned inputs still to come.

    Each row says how many rows its chunk gave and how many chunks its input has. A chunk that comes
    again (Ray replays a block whose worker died after sending part of its output) is ignored, and
    so are rows of an input already finished, so that no input is written twice.
    """

    def __init__(self, paths: Iterable[str]):
        self.waiting = dict.fromkeys(paths)  # planned inputs not yet whole, in order
        self.partial: dict[tuple[str, int], list[dict]] = defaultdict(list)  # chunks not yet whole
        self.whole: dict[str, dict[int, list[dict]]] = defaultdict(dict)  # path -> chunk -> rows

    def add(self, row: dict) -> list[dict] | None:
        """The rows of ``row``'s chunk once ``row`` completes it, else None."""
        path, chunk = row["path"], row["_chunk"]
        if path not in self.waiting or chunk in self.whole.get(path, ()):
            return None
        rows = self.partial[path, chunk]
        rows.append(row)
        if len(rows) < row["_rows"]:
            return None
        self.whole[path][chunk] = self.partial.pop((path, chunk))
        return rows

    def pop_whole(self, path: str, chunks: int) -> list[dict] | None:
        """All rows of ``path`` once each of its ``chunks`` is whole, else None."""
        if len(self.whole[path]) < chunks:
            return None
        return self._take(path)

    def close_out(self, every: int) -> Iterator[list[dict]]:
        """Final rows of each input still waiting: the chunks that came whole, and an error row."""
        for path in list(self.waiting):
            yield join_tracks(self._take(path) + [{"path": path, "error": LOST}], every)

    def _take(self, path: str) -> list[dict]:
        """The rows of ``path``'s whole chunks, now that it is done with."""
        del self.waiting[path]
        return [row for rows in self.whole.pop(path, {}).values() for row in rows]
