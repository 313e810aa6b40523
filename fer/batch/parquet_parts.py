"""Resumable results: rows stream back to the driver, and each input, once whole, goes into a Parquet part.

``out`` is a Parquet dataset folder of ``part-RUN-NNNNN.parquet`` files. A part is written under a
hidden name and renamed, so readers (which skip hidden files) never see half a file, and holds only
whole inputs, so a later run with the same ``out`` skips exactly the inputs that have rows.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

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
        if part.name.startswith((".", "_")):  # as Parquet readers, which skip those
            continue
        try:
            column = pq.read_table(part, columns=["path"], read_dictionary=["path"]).column("path")
        except (pa.ArrowException, OSError) as err:  # emptied by a power cut, or not ours: its inputs are redone
            aside = part.with_name(f".{part.name}.unreadable")
            os.replace(part, aside)
            log.warning("%s cannot be read (%s): moved aside to %s, and its inputs are analysed again",
                        part.name, str(err).splitlines()[0] if str(err) else type(err).__name__, aside.name)
            continue
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
        if self.inputs >= self.max_inputs:
            self.flush()
        else:
            self.flush_if_due()

    def flush_if_due(self) -> None:
        """Flush if ``max_seconds`` have passed: called between batches too, so that finished photos
        are not held in memory while a long video's chunks come in."""
        if self.rows and time.monotonic() - self.since >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            name = f"part-{self.run}-{self.parts:05d}.parquet"
            temporary = self.out / f".{name}.tmp"
            pq.write_table(pa.Table.from_pylist(self.rows, schema=SCHEMA), temporary)
            _sync(temporary)  # on disk before the name says it is whole: a power cut leaves no empty part
            os.replace(temporary, self.out / name)
            _sync(self.out)  # and the rename itself
            self.parts += 1
        self.rows, self.inputs, self.since = [], 0, time.monotonic()


def _sync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a folder cannot be opened on every system (Windows): the file's own sync stands
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
        writer.flush_if_due()
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
