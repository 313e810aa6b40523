"""The emotion classifier: a model folder's LiteRT copy and its ``config.json``, on LiteRT alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fer.config import TFLITE_NAME, ModelConfig
from fer.native_logs import quiet_native_logs


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
    """The model folder's ``model.tflite`` on the standalone LiteRT runtime (no TensorFlow).

    Its outputs are told apart by rank: logits ``(N, classes)``, and, in models exported with
    explanations (:func:`train.export.explainable`), ``features`` ``(N, h, w, c)`` and
    ``head_gradients`` ``(N, c, classes)``. Not thread-safe (neither is the interpreter): each
    worker of :class:`fer.EmotionRecognizer` owns one.
    """

    RANKS = {2: "logits", 4: "features", 3: "head_gradients"}

    def __init__(self, path: Path, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native_logs():
            # num_threads explicitly: one thread a worker, the workers run in parallel
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self.interpreter.allocate_tensors()  # XNNPACK is applied, and announced, on the first one
        face = self.interpreter.get_input_details()[0]
        self._in = face["index"]
        self.input_shape = tuple(int(v) for v in face["shape_signature"][1:])  # (h, w, c); -1: any size
        # a file exported for a batch of one (what LiteRT.js, the browser's runtime, can run: it takes
        # no -1 dimension) cannot be resized under XNNPACK: its faces then go through one at a time
        self.one_at_a_time = int(face["shape_signature"][0]) == 1
        details = self.interpreter.get_output_details()
        self._outputs = {self.RANKS[len(d["shape"])]: d["index"] for d in details}
        self.classes = int(next(d["shape"][-1] for d in details if len(d["shape"]) == 2))
        self._batch = None

    @property
    def explains(self) -> bool:
        return {"features", "head_gradients"} <= set(self._outputs)

    def __call__(self, x: np.ndarray, outputs: tuple[str, ...] = ("logits",)) -> dict[str, np.ndarray]:
        if self.one_at_a_time and len(x) != 1:
            each = [self(x[i : i + 1], outputs) for i in range(len(x))]
            return {name: np.concatenate([e[name] for e in each]) if each else self._empty(name) for name in outputs}
        if self._batch != len(x):  # re-plan only when the number of faces changes
            self.interpreter.resize_tensor_input(self._in, list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self._in, np.ascontiguousarray(x, dtype=np.float32))
        self.interpreter.invoke()
        return {name: self.interpreter.get_tensor(self._outputs[name]).copy() for name in outputs}

    def _empty(self, name: str) -> np.ndarray:
        """No faces: an empty batch of ``name``, shaped as one face's."""
        shape = next(d["shape"] for d in self.interpreter.get_output_details() if d["index"] == self._outputs[name])
        return np.zeros((0, *shape[1:]), np.float32)


class EmotionClassifier:
    """Face crops in, class probabilities out; all crops of an image go through in one batch.

    Runs the folder's LiteRT copy (``model.tflite``) after checking its sha256 against the one export
    recorded in ``config.json``. The ``.keras`` weights beside it are for training and evaluation
    tools, never loaded here: the runtime needs neither TensorFlow nor Keras.
    """

    def __init__(self, folder: str | Path, verify: bool = True, threads: int = 1):
        folder = Path(folder)
        self.folder = folder
        self.config = ModelConfig.load(folder)
        path = folder / TFLITE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {TFLITE_NAME} in model folder {folder}: export it with python -m train.export")
        recorded = self.config.metrics.get("tflite", {}).get("sha256")
        if verify and recorded:
            actual = sha256_of(path)
            if actual != recorded:
                raise ValueError(
                    f"{path} does not match the sha256 in its config.json "
                    f"({actual[:12]} != {recorded[:12]}): corrupted or replaced weights"
                )
        self.runner = LiteRTRunner(path, threads)
        if self.runner.classes != len(self.config.labels):
            raise ValueError(f"model has {self.runner.classes} outputs but config.json names {len(self.config.labels)} labels")
        # LiteRT resizes its input to whatever it is fed, so a wrong input_size would run silently on
        # crops the model never saw, and a wrong grayscale fail only at the first face, obscurely
        pre = self.config.preprocessing
        made = (pre.input_size, pre.input_size, 1 if pre.grayscale else 3)
        if any(want not in (-1, have) for want, have in zip(self.runner.input_shape, made)):
            raise ValueError(f"model takes {'x'.join(map(str, self.runner.input_shape))} inputs but config.json's "
                             f"preprocessing makes {'x'.join(map(str, made))} crops")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @property
    def input_size(self) -> int:
        return self.config.preprocessing.input_size

    def inputs(self, faces: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` uint8 crops -> the network's ``(N, S, S, 1)`` float input."""
        x = faces.astype("float32") * self.config.preprocessing.scale
        return x[..., None] if x.ndim == 3 else x

    def logits(self, faces: np.ndarray) -> np.ndarray:
        """``(N, S, S)`` uint8 crops -> ``(N, classes)`` logits."""
        return self.runner(self.inputs(faces))["logits"]

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """The model's logits -> its calibrated probabilities: softmax((logits + class offsets) /
        temperature), the decision rule and calibration of its ``config.json``."""
        if self.config.class_offsets is not None:
            logits = logits + np.asarray(self.config.class_offsets)
        return softmax(logits, self.config.temperature)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (see :meth:`probabilities`), rows summing to 1."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)))
        return self.probabilities(self.logits(faces))
