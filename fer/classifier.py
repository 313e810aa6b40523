"""The emotion classifier: a ``.keras`` model plus its ``config.json``, loaded from a model folder."""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import keras
import numpy as np

from fer.config import TFLITE_NAME, WEIGHTS_NAME, ModelConfig

log = logging.getLogger(__name__)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LiteRTRunner:
    """The model folder's LiteRT copy: ~10x faster than a Keras call for the few faces of one image.

    Not thread-safe (neither is the interpreter); :class:`fer.EmotionRecognizer` serialises calls.
    """

    def __init__(self, path: Path, threads: int | None = None):
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice about the ai_edge_litert package
            self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        self._in = self.interpreter.get_input_details()[0]["index"]
        self._out = self.interpreter.get_output_details()[0]["index"]
        self._batch = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._batch != len(x):  # re-plan only when the number of faces changes
            self.interpreter.resize_tensor_input(self._in, list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self._in, np.ascontiguousarray(x, dtype=np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out).copy()


class EmotionClassifier:
    """Face crops in, class probabilities out; all crops of an image go through in one batch.

    Runs the folder's LiteRT copy (``model.tflite``) when it is there and its sha256 matches the one
    export recorded; otherwise, or with ``fast=False``, the Keras model.
    """

    def __init__(self, folder: str | Path, verify: bool = True, fast: bool = True):
        folder = Path(folder)
        self.folder = folder
        self.config = ModelConfig.load(folder)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in model folder {folder}")
        if verify and self.config.weights_sha256:
            actual = sha256_of(weights)
            if actual != self.config.weights_sha256:
                raise ValueError(
                    f"{weights} does not match the sha256 in its config.json "
                    f"({actual[:12]} != {self.config.weights_sha256[:12]}): corrupted or replaced weights"
                )
        self.model = keras.models.load_model(weights, compile=False)
        n_out = self.model.output_shape[-1]
        if n_out != len(self.config.labels):
            raise ValueError(f"model has {n_out} outputs but config.json names {len(self.config.labels)} labels")
        self.runner = self._load_litert(folder) if fast else None

    def _load_litert(self, folder: Path) -> LiteRTRunner | None:
        path = folder / TFLITE_NAME
        recorded = self.config.metrics.get("tflite", {}).get("sha256")
        if not path.is_file() or not recorded:
            return None
        if sha256_of(path) != recorded:
            log.warning("%s does not match the sha256 in config.json; using the Keras model", path)
            return None
        return LiteRTRunner(path)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def logits(self, faces: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` uint8 crops -> ``(N, classes)`` logits."""
        pre = self.config.preprocessing
        x = faces.astype("float32") * pre.scale
        if x.ndim == 3:
            x = x[..., None]
        if self.runner is not None:
            return self.runner(x)
        # a direct call, not model.predict(): predict() builds a data pipeline per call, which costs
        # tens of milliseconds for the handful of faces in one image
        return np.asarray(keras.ops.convert_to_numpy(self.model(x, training=False)))

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (softmax of logits / temperature), rows summing to 1."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)))
        return softmax(self.logits(faces), self.config.temperature)
