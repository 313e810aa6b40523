"""Typed results: what was found in one image, face by face. Drawing lives in :mod:`fer.draw`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FaceResult:
    """One face: pixel box ``(x0, y0, x1, y1)``, detector score, top label, all class probabilities."""

    box: tuple[int, int, int, int]
    score: float
    label: str
    scores: dict[str, float]
    keypoints: tuple[tuple[float, float], ...] = ()

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

    def plot(self, image: np.ndarray, numbered: bool = False) -> np.ndarray:
        """An annotated copy of ``image`` (see :func:`fer.draw.draw_results`)."""
        from fer.draw import draw_results

        return draw_results(image, self, numbered)
