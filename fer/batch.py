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
    for row in sorted(good + errors, key=lambda r: (r.get("frame") or 0, r.get("face") or 0)):
        if row.get("face") is not None and chunks > 1:
            track = root((row["_chunk"], row["face"]))
            row = {**row, "face": ids.setdefault(track, len(ids) + 1)}
        out.append({k: v for k, v in row.items() if k not in INTERNAL})
    return out


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
