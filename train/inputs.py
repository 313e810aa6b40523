"""uint8 faces into a Keras classifier the way the runtime feeds them (``fer/classifier.py``).

Training (its ``Rescaling`` layer), the export's LiteRT check, the experiments table and the ensemble
search all need the classifier's input and, for a validation split, its outputs; they take both from
here so that none of them drifts from the scale in :class:`fer.config.Preprocessing`.
"""

from __future__ import annotations

import numpy as np

from fer.config import Preprocessing

PIXEL_SCALE = Preprocessing.scale  # uint8 pixel -> the classifier's [0, 1] input


def unit_range(faces: np.ndarray, scale: float = PIXEL_SCALE) -> np.ndarray:
    """``(N, H, W)`` uint8 faces -> ``(N, H, W, 1)`` float32 input. Multiplied by ``scale`` as the runtime
    and the Rescaling layer do: dividing by 255 instead differs in the last bit for half the values."""
    return faces[..., None].astype("float32") * scale


def keras_outputs(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The model's outputs (logits) for ``x`` in inference mode, ``batch_size`` rows at a time so a
    whole validation split never has to fit in one batch's activations."""
    return np.concatenate([np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)])
