"""Typed results: what was found in one image, face by face.

Drawing is kept apart, as MediaPipe Tasks keeps it: :func:`fer.draw.draw_results` takes these
results, and this module knows nothing of it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FaceResult:
    """One face: pixel box ``(x0, y0, x1, y1)``, detector score, top label, all class probabilities,
    and ``uncertain``: the top probability is below the model's threshold (``config.json``'s
    ``uncertain_below``), so the label is a guess more likely wrong than right."""

    box: tuple[int, int, int, int]
    score: float
    label: str
    scores: dict[str, float]
    keypoints: tuple[tuple[float, float], ...] = ()
    uncertain: bool = False

    @property
    def confidence(self) -> float:
        """Probability of the top label."""
        return self.scores[self.label]

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "score": round(self.score, 4),
            "label": self.label,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "uncertain": self.uncertain,
        }


@dataclass(frozen=True)
class ImageResult:
    """All faces of one image, largest first; ``size`` is ``(width, height)``."""

    faces: list[FaceResult] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)

    @property
    def main_face(self) -> FaceResult | None:
        """The largest face, which the app shows first; None when no face was found."""
        return self.faces[0] if self.faces else None

    def __len__(self) -> int:
        return len(self.faces)

    def to_dict(self) -> dict[str, Any]:
        return {"faces": [face.to_dict() for face in self.faces]}

    def face_at(self, x: float, y: float) -> int | None:
        """Index of the face whose box holds the point ``(x, y)``, or None; where boxes overlap, the
        smallest one (a face in front of a larger one is the one pointed at)."""
        inside = [i for i, f in enumerate(self.faces) if f.box[0] <= x <= f.box[2] and f.box[1] <= y <= f.box[3]]
        return min(inside, key=lambda i: self.faces[i].area, default=None)

    def write_json(self, path: str | Path, model: Any = None) -> Path:
        """The analysis as a JSON file: :meth:`to_dict` plus the image's size and, when given, a
        description of the model that produced it, so the file says what it is on its own."""
        record = {} if model is None else {"model": model}
        record.update(image={"width": self.size[0], "height": self.size[1]}, **self.to_dict())
        path = Path(path)
        path.write_text(json.dumps(record, indent=2) + "\n")
        return path

    def write_csv(self, path: str | Path) -> Path:
        """One row per face: its number (1 = largest, as drawn with ``numbered=True``), box, detection
        score, label, every class probability and whether it is uncertain, rounded as in :meth:`to_dict` (without faces, the
        header names no probabilities: the labels come from the faces)."""
        labels = list(self.faces[0].scores) if self.faces else []
        path = Path(path)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["face", "x0", "y0", "x1", "y1", "score", "label", *labels, "uncertain"])
            for number, face in enumerate(self.faces, start=1):
                record = face.to_dict()
                writer.writerow([number, *record["box"], record["score"], record["label"],
                                 *(record["scores"][k] for k in labels), record["uncertain"]])
        return path
