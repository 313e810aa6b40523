"""Training batches as a ``keras.utils.PyDataset``: numpy in, any Keras backend out.

The order of every epoch and every mixup/cutmix draw depend only on (seed, epoch, batch), so a run
resumed from a checkpoint sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import keras
import numpy as np


class Batches(keras.utils.PyDataset):
    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        seed: int,
        epoch: int = 0,
        mix: str = "none",
        mix_alpha: float = 0.2,
        mix_prob: float = 0.5,
        sample_weights: np.ndarray | None = None,
    ):
        super().__init__()
        if mix not in ("none", "mixup", "cutmix"):
            raise ValueError(f"mix must be none, mixup or cutmix, not {mix!r}")
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.seed, self.epoch, self.mix = seed, epoch, mix
        self.mix_alpha, self.mix_prob, self.sample_weights = mix_alpha, mix_prob, sample_weights
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.images[rows].astype("float32")
        y = self.targets[rows].astype("float32")
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        if self.mix != "none" and rng.random() < self.mix_prob:
            x, y = self._mix(x, y, rng)
        if self.sample_weights is not None:
            return x, y, self.sample_weights[rows].astype("float32")
        return x, y

    def _mix(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
        """Mixup blends two images; cutmix pastes a box of one into the other. Targets mix in proportion."""
        partner = rng.permutation(len(x))
        lam = float(rng.beta(self.mix_alpha, self.mix_alpha))
        if self.mix == "mixup":
            return lam * x + (1 - lam) * x[partner], lam * y + (1 - lam) * y[partner]
        h, w = x.shape[1:3]
        cut_h, cut_w = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
        cy, cx = rng.integers(h), rng.integers(w)
        y0, y1 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, h)
        x0, x1 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, w)
        x = x.copy()
        x[:, y0:y1, x0:x1] = x[partner, y0:y1, x0:x1]
        kept = 1 - (y1 - y0) * (x1 - x0) / (h * w)
        return x, kept * y + (1 - kept) * y[partner]

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._permutation()
