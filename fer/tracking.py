"""Follow faces from frame to frame and smooth their probabilities, so live labels do not flicker.

Faces are matched to existing tracks by box overlap (greedy, best IoU first); each track keeps its
last ``window`` probability vectors and reports their mean. A track unseen for ``max_missed``
frames is dropped. Pure Python on :class:`fer.results.ImageResult`: no model, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from fer.detect import iou
from fer.results import FaceResult, ImageResult


@dataclass
class Track:
    id: int
    box: tuple[int, int, int, int]
    history: deque = field(default_factory=deque)
    missed: int = 0


@dataclass(frozen=True)
class TrackedFace:
    """A face of the current frame with its track id; ``face.scores`` are the smoothed ones."""

    id: int
    face: FaceResult


class FaceTracker:
    def __init__(self, window: int = 5, min_iou: float = 0.3, max_missed: int = 10):
        if window < 1:
            raise ValueError("window must be at least 1 frame")
        self.window, self.min_iou, self.max_missed = window, min_iou, max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, result: ImageResult) -> list[TrackedFace]:
        """Match this frame's faces to tracks; return them (same order) with smoothed scores."""
        pairs = sorted(
            ((iou(face.box, track.box), i, j) for i, face in enumerate(result.faces) for j, track in enumerate(self.tracks)),
            reverse=True,
        )
        matched_faces: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.min_iou:
                break
            if i not in matched_faces and j not in used_tracks:
                matched_faces[i] = self.tracks[j]
                used_tracks.add(j)
        for j, track in enumerate(self.tracks):
            if j not in used_tracks:
                track.missed += 1
        out = []
        for i, face in enumerate(result.faces):
            track = matched_faces.get(i)
            if track is None:
                track = Track(self._next_id, face.box, deque(maxlen=self.window))
                self._next_id += 1
                self.tracks.append(track)
            track.box, track.missed = face.box, 0
            if track.history.maxlen != self.window:  # the window was changed between frames
                track.history = deque(track.history, maxlen=self.window)
            labels = list(face.scores)
            track.history.append(np.array([face.scores[k] for k in labels]))
            mean = np.mean(track.history, axis=0)
            scores = {k: float(v) for k, v in zip(labels, mean)}
            out.append(TrackedFace(track.id, replace(face, label=max(scores, key=scores.get), scores=scores)))
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return out

    def set_window(self, window: int) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 frame")
        self.window = window
