"""All rows of one input -> its final rows, with track ids that run across the chunks of a video.

Each chunk of a video is analysed by its own tracker, so a face has one id per chunk. Here the
tracks of consecutive chunks are joined by box overlap at the boundary, as
:class:`fer.tracking.FaceTracker` does from frame to frame.
"""

from __future__ import annotations

import pyarrow as pa

from fer.batch.schema import BOX, INTERNAL, SCHEMA


def join_tracks(rows: list[dict], every: int = 1, min_iou: float = 0.3, max_gap: int = 10) -> list[dict]:
    """All rows of one input -> final rows: track ids that run across chunk boundaries (1, 2, ... in
    order of first appearance), internal columns dropped, sorted by frame and face.

    A track ending near the end of chunk ``c`` (last seen at most ``max_gap`` analysed frames before
    its last frame, as :class:`FaceTracker` keeps a lost track) and one starting near the start of
    chunk ``c + 1`` are the same face when their boxes overlap by ``min_iou``; pairs are taken best
    overlap first, as the tracker does. Errors are kept, except those of chunks that decoded no frame
    after the last chunk that did (see :func:`kept_errors`).
    """
    from fer.detect import iou

    chunks = max((r.get("_chunks") or 1 for r in rows), default=1)
    good = [r for r in rows if not r.get("error")]
    errors = kept_errors(rows, good)
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


def kept_errors(rows: list[dict], good: list[dict]) -> list[dict]:
    """The error rows of an input worth keeping.

    A chunk that decoded no frame (``_empty``) past the last chunk that did is no error: the video's
    header announced more frames than it holds, which is common. One before it is (frames are
    missing in the middle), and so is every other error, wherever it is. With nothing readable at
    all, the input gets one error row, its first real error if any.
    """
    errors = [r for r in rows if r.get("error")]
    if not good:
        return sorted(errors, key=lambda r: bool(r.get("_empty")))[:1]
    last = max(r["_chunk"] for r in good)
    return [r for r in errors if not (r.get("_empty") and r["_chunk"] > last)]


def join_group(table: pa.Table, every: int = 1) -> pa.Table:
    """:func:`join_tracks` as a ``map_groups`` function: one input's raw rows -> its final rows."""
    return pa.Table.from_pylist(join_tracks(table.to_pylist(), every), schema=SCHEMA)


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
