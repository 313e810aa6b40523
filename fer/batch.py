"""``python -m fer.batch INPUT [INPUT ...] --out RESULTS.parquet [--every N] [--workers N] [--address ADDR]``.

Whole collections of photos and videos through Ray Data, on this machine or a Ray cluster with the
same code. INPUT is any mix of image files, video files, folders (searched recursively) and globs.

How it runs:

1. The driver lists the inputs and cuts each video into frame ranges of ``chunk_seconds`` (only its
   header is read), so one long video keeps every worker busy and a worker holds one frame and one
   chunk's rows at a time, whatever the video's length.
2. Those work units go through ``map_batches`` into a pool of actors (``ray.data.ActorPoolStrategy``),
   one per CPU by default, each loading its own :class:`fer.EmotionRecognizer` once (models are
   never pickled). Images are read by :func:`fer.load_image`, videos by :func:`fer.video.iter_frames`,
   faces in a chunk are followed by :class:`fer.tracking.FaceTracker`.
3. The tracks of consecutive chunks are joined by box overlap at the boundary (:func:`join_tracks`).

Rows (``SCHEMA``): one per face per image or analysed video frame; one with ``face`` empty per image
or analysed frame without a face; one with ``error`` set per input that could not be read.

With ``out``, rows stream back to the driver and are written as a Parquet dataset: a folder of part
files, each holding only complete inputs, written under a hidden name then renamed. A run that is
stopped leaves every finished part readable, and a run with the same ``out`` skips every input that
already has rows (errors included). Without ``out``, :func:`analyze_collection` returns the Ray
Dataset, for use inside a larger Ray pipeline.

Ray is imported only when a collection is analysed, never by ``import fer``.
"""

from __future__ import annotations

import argparse
import glob
import logging
import math
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fer.config import EMOTIONS

BOX = ("x0", "y0", "x1", "y1")
SCHEMA = pa.schema(
    [("path", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("face", pa.int64())]
    + [(k, pa.int32()) for k in BOX]
    + [("score", pa.float32()), ("label", pa.string())]
    + [(k, pa.float32()) for k in EMOTIONS]
    + [("error", pa.string())]
)
# Internal columns between the actors and the join: which chunk of its input a row comes from, how
# many chunks that input has, and how many rows its chunk gave (so the driver knows when it is whole).
RAW_SCHEMA = SCHEMA.append(pa.field("_chunk", pa.int32())).append(pa.field("_chunks", pa.int32())).append(
    pa.field("_rows", pa.int32()))
INTERNAL = ("_chunk", "_chunks", "_rows")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Inputs and work units


def image_suffixes() -> set[str]:
    """Every extension Pillow can open, so a folder walk takes what :func:`fer.load_image` reads."""
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def list_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """Files (absolute paths, first occurrence order) from files, folders and globs.

    Folders and globs keep only image and video files; a file named directly is always kept, so
    a broken or mistyped one gets its error row. A name that matches nothing is kept too, for the
    same reason.
    """
    from fer.video import VIDEO_SUFFIXES

    wanted = image_suffixes() | VIDEO_SUFFIXES
    found: dict[str, None] = {}  # ordered set
    for item in map(str, inputs):
        path = Path(item)
        if path.is_dir():
            names = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file() or not glob.has_magic(item):
            names = [path]
        else:
            names = []
            for match in sorted(glob.glob(item, recursive=True)):
                names.extend(list_inputs([match]) if Path(match).is_dir() else
                             [Path(match)] if Path(match).suffix.lower() in wanted else [])
        for name in names:
            found.setdefault(str(Path(name).resolve()), None)
    return list(found)


def is_video(path: str) -> bool:
    from fer.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def plan_units(paths: list[str], every: int = 1, chunk_seconds: float = 30.0) -> list[dict]:
    """One work unit per image, one per ``chunk_seconds`` of each video, one per unreadable video.

    Chunk lengths are multiples of ``every`` so that the frames analysed are those a single pass
    would analyse (index divisible by ``every``). The last chunk reads to the end of the stream,
    since a container's frame count is sometimes an estimate.
    """
    from fer.video import VideoError, open_video

    units = []
    for path in paths:
        unit = {"path": path, "kind": "image", "start": 0, "stop": -1, "chunk": 0, "chunks": 1, "fps": 0.0, "error": ""}
        if not is_video(path):
            units.append(unit)
            continue
        try:
            capture, fps, frames = open_video(path, max_seconds=math.inf)
            capture.release()
        except VideoError as err:
            units.append({**unit, "kind": "error", "error": str(err)})
            continue
        length = max(1, math.ceil(chunk_seconds * fps / every)) * every
        count = max(1, math.ceil(frames / length))
        for i in range(count):
            stop = (i + 1) * length if i < count - 1 else -1
            units.append({**unit, "kind": "video", "start": i * length, "stop": stop, "chunk": i, "chunks": count, "fps": fps})
    return units


# ---------------------------------------------------------------------------------------------
# One unit -> rows (runs in the actors; also usable without Ray)


def _face_rows(path: str, frame: int, time_s: float, faces: list[tuple[int, object]]) -> list[dict]:
    """Rows for one analysed frame: one per ``(face id, FaceResult)``, or one face-empty row."""
    if not faces:
        return [{"path": path, "frame": frame, "time_s": time_s}]
    return [{"path": path, "frame": frame, "time_s": time_s, "face": face_id, **dict(zip(BOX, face.box)),
             "score": face.score, "label": face.label, **face.scores} for face_id, face in faces]


def _error_row(unit: dict, message: str) -> dict:
    frame = unit["start"] if unit["kind"] == "video" else None
    return {"path": unit["path"], "frame": frame, "error": message}


def analyse_unit(recognizer, unit: dict, every: int = 1) -> list[dict]:
    """Rows for one work unit, with the internal columns; a bad input gives an error row, never an
    exception, so one broken file cannot stop a collection."""
    try:
        if unit["kind"] == "error":
            rows = [_error_row(unit, unit["error"])]
        elif unit["kind"] == "image":
            rows = _analyse_image(recognizer, unit["path"])
        else:
            rows = _analyse_chunk(recognizer, unit, every)
    except Exception as err:  # noqa: BLE001 - any failure on one input is that input's error row
        from fer.image import ImageError
        from fer.video import VideoError

        known = isinstance(err, (ImageError, VideoError, OSError))
        rows = [_error_row(unit, str(err) if known else f"{type(err).__name__}: {err}")]
    internal = {"_chunk": unit["chunk"], "_chunks": unit["chunks"], "_rows": len(rows)}
    return [{**row, **internal} for row in rows]


def _analyse_image(recognizer, path: str) -> list[dict]:
    from fer.image import load_image

    result = recognizer.predict(load_image(path))
    return _face_rows(path, 0, 0.0, list(enumerate(result.faces, start=1)))


def _analyse_chunk(recognizer, unit: dict, every: int) -> list[dict]:
    """Frames ``[start, stop)`` of a video; face ids are this chunk's track ids until joined."""
    from fer.tracking import FaceTracker
    from fer.video import iter_frames, open_video

    capture, fps, _ = open_video(unit["path"], max_seconds=math.inf)
    tracker = FaceTracker()
    rows: list[dict] = []
    try:
        stop = None if unit["stop"] < 0 else unit["stop"]
        for index, rgb in iter_frames(capture, every, unit["start"], stop):
            result = recognizer.predict(rgb, tiles=1)  # as fer.video: the tiled pass is for photos
            tracked = tracker.update(result)  # same order as result.faces; its scores are smoothed
            rows += _face_rows(unit["path"], index, index / fps, [(t.id, raw) for t, raw in zip(tracked, result.faces)])
    finally:
        capture.release()
    if not rows:
        end = "the end" if stop is None else f"frame {stop - 1}"
        return [_error_row(unit, f"no frame decoded from frame {unit['start']} to {end}")]
    return rows


class Analyzer:
    """The ``map_batches`` callable: each actor builds one recognizer in ``__init__`` and reuses it."""

    def __init__(self, model: str | None = None, revision: str | None = None, every: int = 1):
        from fer.predictor import EmotionRecognizer

        self.recognizer = EmotionRecognizer(model, revision)
        if tuple(self.recognizer.labels) != EMOTIONS:
            raise ValueError(f"the batch table has columns for {EMOTIONS}; this model has {self.recognizer.labels}")
        self.every = every

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [row for unit in batch.to_pylist() for row in analyse_unit(self.recognizer, unit, self.every)]
        return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Joining chunks


def join_tracks(rows: list[dict], every: int = 1, min_iou: float = 0.3, max_gap: int = 10) -> list[dict]:
    """All rows of one input -> final rows: track ids that run across chunk boundaries (1, 2, ... in
    order of first appearance), internal columns dropped, sorted by frame and face.

    A track ending near the end of chunk ``c`` (last seen at most ``max_gap`` analysed frames before
    its last frame, as :class:`FaceTracker` keeps a lost track) and one starting near the start of
    chunk ``c + 1`` are the same face when their boxes overlap by ``min_iou``; pairs are taken best
    overlap first, as the tracker does. An error row for an empty final chunk (the frame count was
    an overestimate) is dropped when other chunks gave frames.
    """
    from fer.detect import iou

    chunks = max((r.get("_chunks") or 1 for r in rows), default=1)
    errors = [r for r in rows if r.get("error")]
    good = [r for r in rows if not r.get("error")]
    if good:
        errors = [r for r in errors if r.get("_chunk") != chunks - 1]
    elif errors:
        errors = errors[:1]  # nothing readable: one error row for the input
    parent: dict[tuple, tuple] = {}

    def root(key):
        while parent.get(key, key) != key:
            key = parent[key]
        return key

    spans = _track_spans(good)
    frames = _chunk_frames(good)
    gap = max_gap * every
    for c in range(chunks - 1):
        if c not in frames or c + 1 not in frames:
            continue
        tails = [(k, s) for k, s in spans.items() if k[0] == c and s["last"] >= frames[c][1] - gap]
        heads = [(k, s) for k, s in spans.items() if k[0] == c + 1 and s["first"] <= frames[c + 1][0] + gap]
        pairs = sorted(((iou(a["last_box"], b["first_box"]), ka, kb) for ka, a in tails for kb, b in heads), reverse=True)
        used: set[tuple] = set()
        for overlap, ka, kb in pairs:
            if overlap < min_iou:
                break
            if ka not in used and kb not in used:
                parent[root(kb)] = root(ka)
                used |= {ka, kb}
    ids: dict[tuple, int] = {}
    out = []
    for row in sorted(good + errors, key=lambda r: (r.get("frame") or 0, r.get("_chunk") or 0, r.get("face") or 0)):
        if row.get("face") is not None and chunks > 1:
            track = root((row["_chunk"], row["face"]))
            row = {**row, "face": ids.setdefault(track, len(ids) + 1)}
        out.append({k: v for k, v in row.items() if k not in INTERNAL})
    return sorted(out, key=lambda r: (r.get("frame") or 0, r.get("face") or 0))


def _track_spans(rows: list[dict]) -> dict[tuple, dict]:
    """``(chunk, face id)`` -> first and last frame seen and the box at each."""
    spans: dict[tuple, dict] = {}
    for row in sorted((r for r in rows if r.get("face") is not None), key=lambda r: r["frame"]):
        box = tuple(row[k] for k in BOX)
        span = spans.setdefault((row["_chunk"], row["face"]), {"first": row["frame"], "first_box": box})
        span["last"], span["last_box"] = row["frame"], box
    return spans


def _chunk_frames(rows: list[dict]) -> dict[int, tuple[int, int]]:
    """chunk -> (first, last) analysed frame, faces or not."""
    frames: dict[int, tuple[int, int]] = {}
    for row in rows:
        first, last = frames.get(row["_chunk"], (row["frame"], row["frame"]))
        frames[row["_chunk"]] = (min(first, row["frame"]), max(last, row["frame"]))
    return frames


def _join_group(table: pa.Table, every: int = 1) -> pa.Table:
    """``map_groups`` adapter: one input's raw rows -> its final rows."""
    return pa.Table.from_pylist(join_tracks(table.to_pylist(), every), schema=SCHEMA)


# ---------------------------------------------------------------------------------------------
# Ray


def start_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> bool:
    """Attach to ``address`` (or ``RAY_ADDRESS``) or start a local Ray; True when this call started
    it (so the caller shuts it down), False when Ray was already running in this process."""
    import ray

    if ray.is_initialized():
        return False
    options = {"log_to_driver": not quiet, "logging_level": logging.WARNING}
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, **options)  # a cluster's size is the cluster's, not ours to set
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **options)
    return True


def _quiet_ray_data() -> None:
    """Our own progress bar and summary replace Ray Data's per-operator bars and statistics."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"


def raw_dataset(units: list[dict], workers: int, every: int = 1, model: str | None = None,
                revision: str | None = None):
    """Units -> a Ray Dataset of raw rows (chunk-local track ids, internal columns).

    Work is dispatched to the actors block by block: each video chunk gets a block of its own (it
    is seconds of work), images are grouped a few to a block so that a million photos do not make
    a million blocks, yet there are several blocks per worker to balance the load.
    """
    import ray.data

    videos = [u for u in units if u["kind"] == "video"]
    others = [u for u in units if u["kind"] != "video"]
    parts = []
    if videos:
        parts.append(ray.data.from_items(videos, override_num_blocks=len(videos)))
    if others:
        per_block = min(32, max(1, math.ceil(len(others) / (4 * workers))))
        parts.append(ray.data.from_items(others, override_num_blocks=math.ceil(len(others) / per_block)))
    units_ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return units_ds.map_batches(
        Analyzer,
        fn_constructor_kwargs={"model": model, "revision": revision, "every": every},
        batch_size=1,  # one unit a call: rows stream back as each file or chunk is done
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )


# ---------------------------------------------------------------------------------------------
# Writing and resuming


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
    """Buffers finished inputs and writes them as ``part-RUN-NNNNN.parquet`` files.

    A part is written under a hidden name and renamed, so readers (which skip hidden files) never
    see half a file, and a part holds only whole inputs, so resuming by path is exact.
    """

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


@dataclass
class Summary:
    inputs: int = 0  # found
    skipped: int = 0  # already had results in out
    processed: int = 0  # done by this run
    readable: int = 0  # of those, gave at least one analysed frame
    errors: int = 0  # of those, have an error row
    faces: int = 0  # face rows written
    frames: int = 0  # frames analysed (an image is one)
    seconds: float = 0.0
    out: str = ""
    error_paths: list[str] = field(default_factory=list)

    @property
    def files_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"{self.processed} files analysed ({self.skipped} already done, {self.errors} with errors), "
                f"{self.frames} frames, {self.faces} faces in {self.seconds:.1f} s "
                f"({self.files_per_s:.2f} files/s, {self.frames_per_s:.1f} frames/s) -> {self.out}")


def _stream_to_parts(ds, writer: PartWriter, summary: Summary, every: int, bar) -> None:
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
                _finish_input(join_tracks(pending.pop(path), every), writer, summary)
                bar.update(1)
            bar.set_postfix_str(f"{summary.frames / max(time.monotonic() - start, 1e-9):.1f} frames/s", refresh=False)


def _finish_input(rows: list[dict], writer: PartWriter, summary: Summary) -> None:
    writer.add(rows)
    summary.processed += 1
    summary.faces += sum(r.get("face") is not None for r in rows)
    if any(r.get("error") for r in rows):
        summary.errors += 1
        summary.error_paths.append(rows[0]["path"])
    if any(not r.get("error") for r in rows):
        summary.readable += 1


# ---------------------------------------------------------------------------------------------
# Entry points


def analyze_collection(
    inputs: Iterable[str | Path],
    out: str | Path | None = None,
    *,
    every: int = 1,
    workers: int | None = None,
    address: str | None = None,
    model: str | None = None,
    revision: str | None = None,
    chunk_seconds: float = 30.0,
    progress: bool = False,
    quiet: bool = True,
    flush_inputs: int = 1000,
    flush_seconds: float = 30.0,
):
    """Analyse files, folders and globs with Ray Data.

    With ``out``: write the Parquet dataset folder ``out`` (skipping inputs already in it) and
    return a :class:`Summary`; a Ray started here is shut down at the end. Without ``out``: return
    the lazy Ray Dataset of final rows (``SCHEMA``), whose last step groups rows by path to join
    video tracks; Ray is left running for the caller's pipeline. ``workers`` defaults to one actor
    per CPU of the cluster; ``model`` and ``revision`` are those of :class:`fer.EmotionRecognizer`.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    paths = list_inputs(inputs)
    summary = Summary(inputs=len(paths), out=str(out) if out is not None else "")
    done = done_inputs(Path(out)) if out is not None else set()
    todo = [p for p in paths if p not in done]
    summary.skipped = len(paths) - len(todo)
    if out is not None and not todo:
        return summary  # nothing to do: do not start Ray
    units = plan_units(todo, every, chunk_seconds)
    started = start_ray(address, workers, quiet)
    try:
        import ray

        workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        if out is None:
            if not units:
                return ray.data.from_arrow(SCHEMA.empty_table())
            raw = raw_dataset(units, workers, every, model, revision)
            return raw.groupby("path").map_groups(_join_group, fn_kwargs={"every": every}, batch_format="pyarrow")
        _quiet_ray_data()
        from tqdm import tqdm

        writer = PartWriter(Path(out), flush_inputs, flush_seconds)
        start = time.monotonic()
        with tqdm(total=len(todo), unit="file", disable=not progress, dynamic_ncols=True) as bar:
            try:
                _stream_to_parts(raw_dataset(units, workers, every, model, revision), writer, summary, every, bar)
            finally:
                writer.flush()  # what finished before an interruption is kept for the next run
        summary.seconds = time.monotonic() - start
        return summary
    finally:
        if started and out is not None:
            ray.shutdown()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fer.batch", description=__doc__.split("\n\n")[1],
                                     epilog="Results: a folder of Parquet part files; pandas.read_parquet(OUT) reads it.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, folders (recursive), globs")
    parser.add_argument("--out", required=True, type=Path, help="results folder, e.g. results.parquet; "
                        "running again with the same --out does only the inputs it lacks")
    parser.add_argument("--every", type=int, default=1, help="videos: analyse every Nth frame (default 1)")
    parser.add_argument("--workers", type=int, help="actors, one CPU each (default: one per CPU of the cluster)")
    parser.add_argument("--address", help="Ray cluster to attach to (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="videos: length of the frame ranges "
                        "analysed in parallel (default 30)")
    parser.add_argument("--model", help="model folder or Hub repo id (default: FER_MODEL or the app's model)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--verbose", action="store_true", help="show the Ray workers' own logs")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = analyze_collection(
        args.inputs, args.out, every=args.every, workers=args.workers, address=args.address, model=args.model,
        revision=args.revision, chunk_seconds=args.chunk_seconds, progress=True, quiet=not args.verbose,
    )
    if summary.inputs == 0:
        print("no image or video found in the inputs", file=sys.stderr)
    elif summary.processed == 0:
        print(f"nothing to do: all {summary.inputs} inputs already have results in {summary.out}")
    else:
        print(summary.line())
        for path in summary.error_paths[:10]:
            print(f"  error: {path}", file=sys.stderr)
    # non-zero only when nothing could be read; a collection with some broken files did its job
    return 0 if summary.readable or summary.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
