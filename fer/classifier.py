"""The emotion classifier: a ``.keras`` model plus its ``config.json``, loaded from a model folder."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import keras
import numpy as np

from fer.config import WEIGHTS_NAME, ModelConfig

log = logging.getLogger(__name__)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class EmotionClassifier:
    """Face crops in, class probabilities out; all crops of an image go through in one batch."""

    def __init__(self, folder: str | Path, verify: bool = True):
        folder = Path(folder)
        self.folder = folder
        self.config = ModelConfig.load(folder)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in model folder {folder}")
        if verify and self.config.weights_sha256:
            actual = hashlib.sha256(weights.read_bytes()).hexdigest()
            if actual != self.config.weights_sha256:
                raise ValueError(
                    f"{weights} does not match the sha256 in its config.json "
                    f"({actual[:12]} != {self.config.weights_sha256[:12]}): corrupted or replaced weights"
                )
        self.model = keras.models.load_model(weights, compile=False)
        n_out = self.model.output_shape[-1]
        if n_out != len(self.config.labels):
            raise ValueError(f"model has {n_out} outputs but config.json names {len(self.config.labels)} labels")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def logits(self, faces: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` uint8 crops -> ``(N, classes)`` logits."""
        pre = self.config.preprocessing
        x = faces.astype("float32") * pre.scale
        if x.ndim == 3:
            x = x[..., None]
        # a direct call, not model.predict(): predict() builds a data pipeline per call, which costs
        # tens of milliseconds for the handful of faces in one image
        return np.asarray(keras.ops.convert_to_numpy(self.model(x, training=False)))

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (softmax of logits / temperature), rows summing to 1."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)))
        return softmax(self.logits(faces), self.config.temperature)
