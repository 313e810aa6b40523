"""One work unit -> its rows. Runs in the Ray actors (:class:`Analyzer`), and without Ray too.

Face ids in a video chunk are the chunk's own track ids; :mod:`fer.batch.join` makes them run across
the chunks of the video.
"""

from __future__ import annotations

import pyarrow as pa

from fer.batch.provenance import ModelChoice, loaded_model
from fer.batch.schema import BOX, RAW_SCHEMA
from fer.batch.units import open_whole_video
from fer.config import EMOTIONS


class Analyzer:
    """The ``map_batches`` callable: each actor builds one recognizer in ``__init__`` and reuses it.

    It loads the model the driver chose, and refuses to start with another (a bundled copy standing
    in for an unreachable Hub, a Hub branch that moved since): a run's rows are one model's.
    """

    def __init__(self, model: ModelChoice, every: int = 1):
        from fer.predictor import EmotionRecognizer

        self.recognizer = EmotionRecognizer(model.source, model.revision)
        loaded = loaded_model(self.recognizer)
        if loaded != model.identity():
            raise ValueError(f"this worker loaded the model {loaded}, not the one the run chose, {model.identity()}")
        if tuple(self.recognizer.labels) != EMOTIONS:
            raise ValueError(f"the batch table has columns for {EMOTIONS}; this model has {self.recognizer.labels}")
        self.every = every

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [row for unit in batch.to_pylist() for row in analyse_unit(self.recognizer, unit, self.every)]
        return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


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
    from fer.video import frame_time, iter_frames

    capture, fps, _ = open_whole_video(unit["path"])
    tracker = FaceTracker()
    rows: list[dict] = []
    try:
        stop = None if unit["stop"] < 0 else unit["stop"]
        for index, rgb in iter_frames(capture, every, unit["start"], stop):
            result = recognizer.predict(rgb, tiles=1)  # as fer.video: the tiled pass is for photos
            tracked = tracker.update(result)  # same order as result.faces; its scores are smoothed
            faces = [(t.id, raw) for t, raw in zip(tracked, result.faces)]
            rows += _face_rows(unit["path"], index, frame_time(capture, index, fps), faces)
    finally:
        capture.release()
    if not rows:  # marked: past the video's last frame, this is no error (see fer.batch.join)
        end = "the end" if stop is None else f"frame {stop - 1}"
        return [{**_error_row(unit, f"no frame decoded from frame {unit['start']} to {end}"), "_empty": True}]
    return rows


def _face_rows(path: str, frame: int, time_s: float, faces: list[tuple[int, object]]) -> list[dict]:
    """Rows for one analysed frame: one per ``(face id, FaceResult)``, or one face-empty row."""
    if not faces:
        return [{"path": path, "frame": frame, "time_s": time_s}]
    return [{"path": path, "frame": frame, "time_s": time_s, "face": face_id, **dict(zip(BOX, face.box)),
             "score": face.score, "label": face.label, **face.scores, "uncertain": face.uncertain} for face_id, face in faces]


def _error_row(unit: dict, message: str) -> dict:
    frame = unit["start"] if unit["kind"] == "video" else None
    return {"path": unit["path"], "frame": frame, "error": message}
