"""The model's configuration, saved as ``config.json`` beside its weights (like timm's PretrainedCfg).

Everything inference needs to turn a detected face into the classifier's input lives here, written by
training and read by the predictor, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.keras"
TFLITE_NAME = "model.tflite"  # LiteRT copy of the weights, written by train.export


def _check_number(name: str, value: Any, positive: bool = True) -> None:
    """Refuse a setting that is no finite number (or not above 0) when the config is made, not at the
    first face: a temperature of 0 gives NaN probabilities, a negative one inverts the ranking, and a
    crop_scale of 0 divides by zero; a refused Hub config falls back to the bundled model."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"model config: {name} must be a finite number{' above 0' if positive else ''}, not {value!r}")


@dataclass
class Preprocessing:
    """How a face box becomes the classifier's input.

    The crop is a square centred on the face box (shifted by ``center_shift`` box heights, negative
    is up), ``crop_scale`` times the larger side of the box, rotated first so the eyes are level when
    ``align`` is set. FER2013 faces are framed loosely (forehead to chin, some background), which is
    why the crop is larger than the detector's tight box.
    """

    input_size: int = 48
    grayscale: bool = True
    crop_scale: float = 1.25
    center_shift: float = 0.0
    align: bool = True
    scale: float = 1.0 / 255.0  # pixel values are multiplied by this before the classifier

    def __post_init__(self):
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, numbers.Integral) or self.input_size < 1:
            raise ValueError(f"model config: preprocessing input_size must be a whole number above 0, not {self.input_size!r}")
        _check_number("preprocessing crop_scale", self.crop_scale)
        _check_number("preprocessing center_shift", self.center_shift, positive=False)
        _check_number("preprocessing scale", self.scale)


@dataclass
class ModelConfig:
    """What travels with the weights: labels, preprocessing, calibration and provenance."""

    labels: tuple[str, ...] = EMOTIONS
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    temperature: float = 1.0  # logits are divided by this before softmax (1.0: uncalibrated)
    # the decision rule: per-class offsets added to the logits before the temperature, fitted so that
    # the rare classes (disgust, fear) are not starved by FER2013's prior (train/decision.py); None: none
    class_offsets: tuple[float, ...] | None = None
    # a face whose calibrated top probability is below this is flagged uncertain; None: never flagged
    uncertain_below: float | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None

    def __post_init__(self):
        _check_number("temperature", self.temperature)
        if self.class_offsets is not None:
            offsets = tuple(self.class_offsets)
            if len(offsets) != len(self.labels):
                raise ValueError(f"model config: class_offsets has {len(offsets)} values for {len(self.labels)} labels")
            for value in offsets:
                _check_number("class_offsets", value, positive=False)
            self.class_offsets = tuple(float(v) for v in offsets)
        if self.uncertain_below is not None:
            _check_number("uncertain_below", self.uncertain_below)
            if self.uncertain_below >= 1:
                raise ValueError(f"model config: uncertain_below must be below 1, not {self.uncertain_below!r}")

    def is_uncertain(self, confidence: float) -> bool:
        """Whether a face whose top label has this calibrated probability is flagged uncertain."""
        return self.uncertain_below is not None and confidence < self.uncertain_below

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        if self.class_offsets is not None:
            data["class_offsets"] = list(self.class_offsets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown keys in model config: {sorted(unknown)}")
        data = dict(data)
        data["labels"] = tuple(data.get("labels", EMOTIONS))
        pre = data.get("preprocessing", {})
        if not isinstance(pre, Preprocessing):
            unknown = set(pre) - {f.name for f in fields(Preprocessing)}
            if unknown:  # a config from a newer version: refused as a whole, like unknown top-level keys
                raise ValueError(f"unknown preprocessing keys in model config: {sorted(unknown)}")
            pre = Preprocessing(**pre)
        data["preprocessing"] = pre
        return cls(**data)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "ModelConfig":
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in model folder {folder}")
        return cls.from_dict(json.loads(path.read_text()))
