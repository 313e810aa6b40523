"""Class balance in training: the logit-adjusted loss (Menon et al., 2021, "Long-tail learning via
logit adjustment").

FER2013's Training split has 16 times more happy faces than disgusted ones, so a network trained on
plain cross-entropy learns the prior along with the face and starves the rare classes. With
``logit_adjust: tau`` the loss sees the classifier's logits plus ``tau * log(prior)``: the prior is
handed to the loss for free, so the classifier itself learns logits without it (balanced, at tau 1).
The adjustment is a fixed layer after the classifier in the training model only; the saved
classifier (``fer_cnn``) has none of it, and the runtime's fitted decision rule (``fer.config``'s
``class_offsets``, fitted by :mod:`train.decision`) chooses how much of the prior to put back.
"""

from __future__ import annotations

import keras
import numpy as np

from train.decision import class_prior


@keras.saving.register_keras_serializable(package="train")
class LogitAdjustment(keras.layers.Layer):
    """Adds fixed per-class offsets to logits; saved with its offsets, so a checkpoint resumes alike."""

    def __init__(self, offsets, **kwargs):
        super().__init__(**kwargs)
        self.offsets = [float(v) for v in offsets]

    def call(self, logits):
        return logits + keras.ops.convert_to_tensor(self.offsets, dtype=logits.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "offsets": self.offsets}


def logit_adjustment(tau: float, labels: np.ndarray) -> LogitAdjustment:
    """The layer that adds ``tau * log(prior of labels)``."""
    return LogitAdjustment(tau * np.log(class_prior(labels)), name="logit_adjustment", dtype="float32")

