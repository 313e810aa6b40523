"""Work units: one per image, one per chunk of each video, so one long video keeps every worker busy.

Only a video's header is read here (frame rate and count); the frames are read by the worker that
analyses the chunk (:mod:`fer.batch.analyse`).
"""

from __future__ import annotations

import math

from fer.batch.inputs import is_video


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
