"""Follow faces from frame to frame and smooth their probabilities, so live labels do not flicker.

Faces are matched to existing tracks by box overlap (greedy, best IoU first) with where each track
is expected to be now: its last box moved on at its smoothed velocity, slowing while it is unseen.
So two faces that cross, or a face hidden behind another for a few frames, keep their ids, and so
does one that stopped while it was missed. Each track keeps its last ``window``
probability vectors and reports their mean. A track unseen for ``max_missed`` frames is dropped. :class:`EmotionTimeline` keeps one tracked face's probabilities over the last
seconds, for a live plot. Pure Python on :class:`fer.results.ImageResult`: no model, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field, replace

import numpy as np

from fer.detect import iou
from fer.results import FaceResult, ImageResult

VELOCITY_SMOOTHING = 0.5  # the share of a track's velocity kept at each frame (see Track.move_to)
UNSEEN_SLOWING = 0.8  # each unseen frame's expected step, as a share of the one before (Track.expected_box)


@dataclass
class Track:
    id: int
    box: tuple[int, int, int, int]
    history: deque = field(default_factory=deque)
    missed: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)  # the box's pixels a frame (x, y), smoothed

    def expected_box(self) -> tuple[float, float, float, float]:
        """Where the face should be in this frame: the last box moved on for every frame since, each
        unseen frame's step shorter than the one before (an unseen face may have stopped, and then its
        last box must stay within reach: the steps add up to at most 1 / (1 - UNSEEN_SLOWING) frames')."""
        frames = (1 - UNSEEN_SLOWING ** (self.missed + 1)) / (1 - UNSEEN_SLOWING)
        dx, dy = (v * frames for v in self.velocity)
        x0, y0, x1, y1 = self.box
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

    def move_to(self, box: tuple[int, int, int, int]) -> None:
        frames = self.missed + 1  # a face found again after missed frames moved over all of them
        step = ((box[0] + box[2] - self.box[0] - self.box[2]) / 2 / frames,
                (box[1] + box[3] - self.box[1] - self.box[3]) / 2 / frames)
        # half the new step, half the old velocity: a box that jitters about a standing face
        # averages out, while a steady walk is followed within a few frames
        self.velocity = tuple(VELOCITY_SMOOTHING * v + (1 - VELOCITY_SMOOTHING) * s
                              for v, s in zip(self.velocity, step))
        self.box, self.missed = box, 0


@dataclass(frozen=True)
class TrackedFace:
    """A face of the current frame with its track id; ``face.scores`` are the smoothed ones."""

    id: int
    face: FaceResult


class FaceTracker:
    def __init__(self, window: int = 5, min_iou: float = 0.3, max_missed: int = 10, uncertain_below: float | None = None):
        """``uncertain_below``: the model's threshold (``config.uncertain_below``), so that a smoothed
        face is flagged by its smoothed top probability; None keeps each frame's own flag."""
        if window < 1:
            raise ValueError("window must be at least 1 frame")
        self.window, self.min_iou, self.max_missed = window, min_iou, max_missed
        self.uncertain_below = uncertain_below
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, result: ImageResult) -> list[TrackedFace]:
        """Match this frame's faces to tracks; return them (same order) with smoothed scores."""
        pairs = sorted(
            ((iou(face.box, track.expected_box()), i, j)
             for i, face in enumerate(result.faces) for j, track in enumerate(self.tracks)),
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
            track.move_to(face.box)
            if track.history.maxlen != self.window:  # the window was changed between frames
                track.history = deque(track.history, maxlen=self.window)
            labels = list(face.scores)
            track.history.append(np.array([face.scores[k] for k in labels]))
            mean = np.mean(track.history, axis=0)
            scores = {k: float(v) for k, v in zip(labels, mean)}
            uncertain = face.uncertain if self.uncertain_below is None else max(scores.values()) < self.uncertain_below
            out.append(TrackedFace(track.id, replace(face, label=max(scores, key=scores.get), scores=scores, uncertain=uncertain)))
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return out

    def set_window(self, window: int) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 frame")
        self.window = window


class EmotionTimeline:
    """One tracked face's (smoothed) probabilities over the last ``seconds``, for a live plot.

    It follows the main (largest) face of the frame where it starts, by track id, so someone passing
    behind does not splice into its curve; once that face has been out of sight for ``patience``
    seconds, it starts afresh with the main face of the current frame. Times are the caller's (any
    clock in seconds, e.g. ``time.monotonic()``).
    """

    def __init__(self, seconds: float = 30.0, patience: float = 1.0):
        self.seconds, self.patience = seconds, patience
        self.face_id: int | None = None
        self.samples: deque[tuple[float, dict[str, float]]] = deque()  # (time, probabilities), oldest first
        self._seen_at = -math.inf

    def add(self, now: float, faces: list[TrackedFace]) -> None:
        """Record the followed face's probabilities at ``now``; ``faces`` as :meth:`FaceTracker.update`
        returns them (largest first)."""
        followed = self.followed(faces)
        if followed is None and faces and now - self._seen_at > self.patience:
            followed = faces[0]
            self.face_id = followed.id
            self.samples.clear()
        if followed is not None:
            self._seen_at = now
            self.samples.append((now, followed.face.scores))
        while self.samples and self.samples[0][0] < now - self.seconds:
            self.samples.popleft()

    def followed(self, faces: list[TrackedFace]) -> TrackedFace | None:
        """The face it follows among ``faces``; None when that face is not among them."""
        return next((f for f in faces if f.id == self.face_id), None)

    def series(self, now: float, max_points: int = 120) -> tuple[list[float], dict[str, list[float]]]:
        """Times relative to ``now`` (negative seconds) and each label's probability at them, thinned
        evenly to at most ``max_points`` (a plot needs no more), always keeping the newest."""
        step = max(1, math.ceil(len(self.samples) / max_points))
        kept = list(self.samples)[::-1][::step][::-1]
        labels = list(kept[0][1]) if kept else []
        return [t - now for t, _ in kept], {k: [scores[k] for _, scores in kept] for k in labels}

    def most_seen(self, now: float) -> tuple[str, float, float] | None:
        """The label that was on top in most recorded frames, that share of them, and the seconds
        they go back from ``now``; None before any face was seen."""
        if not self.samples:
            return None
        label, frames = Counter(max(s, key=s.get) for _, s in self.samples).most_common(1)[0]
        return label, frames / len(self.samples), now - self.samples[0][0]
