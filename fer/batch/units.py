"""Work units: one per image, one per chunk of each video, so one long video keeps every worker busy.

Only a video's header is read here (frame rate and count); the frames are read by the worker that
analyses the chunk (:mod:`fer.batch.analyse`).
"""

from __future__ import annotations

import math

from fer.batch.inputs import is_video

# Chunks a video is cut into at most (83 hours at 30 s a chunk): the header's frame count is all a
# crafted file needs to claim billions of frames. The last chunk reads to the end of the stream, so
# a longer video loses no frame, only parallelism.
MAX_CHUNKS = 10_000


def plan_units(paths: list[str], every: int = 1, chunk_seconds: float = 30.0,
               errors: dict[str, str] | None = None) -> list[dict]:
    """One work unit per image, one per ``chunk_seconds`` of each video, one per unreadable video
    and per path that ``errors`` (from :func:`fer.batch.inputs.list_inputs`) says cannot be analysed.

    Chunk lengths are multiples of ``every`` so that the frames analysed are those a single pass
    would analyse (index divisible by ``every``). The last chunk reads to the end of the stream,
    since a container's frame count is sometimes an estimate.
    """
    from fer.video import VideoError

    errors = errors or {}
    units = []
    for path in paths:
        unit = {"path": path, "kind": "image", "start": 0, "stop": -1, "chunk": 0, "chunks": 1, "fps": 0.0, "error": ""}
        if errors.get(path):
            units.append({**unit, "kind": "error", "error": errors[path]})
            continue
        if not is_video(path):
            units.append(unit)
            continue
        try:
            capture, fps, frames = open_whole_video(path)
            capture.release()
        except VideoError as err:
            units.append({**unit, "kind": "error", "error": str(err)})
            continue
        length = max(1, math.ceil(chunk_seconds * fps / every)) * every
        count = min(MAX_CHUNKS, max(1, math.ceil(frames / length)))
        for i in range(count):
            stop = (i + 1) * length if i < count - 1 else -1
            units.append({**unit, "kind": "video", "start": i * length, "stop": stop, "chunk": i, "chunks": count, "fps": fps})
    return units


def open_whole_video(path: str):
    """:func:`fer.video.open_video` without the app's limits on length and frame size, which keep one
    request short: here a long video is cut into chunks, and each frame is downscaled for analysis."""
    from fer.video import open_video

    return open_video(path, max_seconds=math.inf, max_frames=math.inf, max_pixels=math.inf)
