"""Seconds per training epoch under each Keras backend and setting: ``python benchmarks/train_speed.py``.

Builds the real training model (``train.train.build_training_model``: augmentation + the classifier of
``--widths``) and times ``model.fit`` on ``--steps`` batches of random 48x48 images after a warm-up
(graph tracing, XLA compilation), each setting in its own process so that no backend or precision
leaks into the next. Prints ms per step and the equivalent seconds per epoch of FER2013 Training
(28,709 images). Settings: TensorFlow float32 / mixed_bfloat16, with and without XLA (``jit_compile``),
batch 128 / 256, and the JAX backend where jax is installed. Measure here before training for hours.

``--config train/configs/NAME.yaml`` times that run's model (its architecture and augmentation, e.g.
the pretrained MobileFaceNet of ``configs/mobilefacenet.yaml``) instead of the default CNN;
``--settings 2`` times only the first settings (TensorFlow float32 and bfloat16, no XLA).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAINING_IMAGES = 28_709
SETTINGS = [  # (backend, precision, jit_compile, batch size)
    ("tensorflow", "float32", False, 128),
    ("tensorflow", "mixed_bfloat16", False, 128),
    ("tensorflow", "float32", True, 128),
    ("tensorflow", "mixed_bfloat16", True, 128),
    ("tensorflow", "mixed_bfloat16", False, 256),
    ("jax", "float32", True, 128),
    ("jax", "mixed_bfloat16", True, 128),
]


def time_one(precision: str, jit: bool, batch: int, steps: int, widths: list[int], config: str | None) -> float:
    """ms per training step of one setting, in this process (its backend is already chosen)."""
    import keras
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from train.config import TrainConfig
    from train.train import build_training_model

    keras.config.set_dtype_policy(precision)
    cfg = TrainConfig.load(config) if config else TrainConfig(widths=widths)
    rng = np.random.default_rng(0)
    model = build_training_model(cfg.updated({"batch_size": batch, "precision": precision}), steps_per_epoch=steps,
                                 train_labels=rng.integers(0, 7, 1000))  # a prior, for a logit-adjusted config
    model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], jit_compile=jit)
    from train.batches import Batches

    # fed as training feeds it (uint8 faces through train.batches.Batches, a PyDataset): under TensorFlow
    # that input path sets glibc's M_TRIM_THRESHOLD, which on some machines costs a third of the time
    # in page faults, so arrays fed to fit() directly would time a faster run than training makes
    x = rng.integers(0, 256, (batch * steps, 48, 48, 1)).astype("uint8")
    y = np.eye(7, dtype="float32")[rng.integers(0, 7, batch * steps)]
    model.fit(Batches(x[: batch * 3], y[: batch * 3], batch, seed=0), epochs=1, verbose=0)  # trace / compile
    start = time.perf_counter()
    model.fit(Batches(x, y, batch, seed=0), epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--widths", default="32,64,128,256", help="the classifier's block widths")
    parser.add_argument("--config", help="time this training config's model instead of the CNN of --widths")
    parser.add_argument("--settings", type=int, default=len(SETTINGS), help="time only the first N settings")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # "backend,precision,jit,batch": run one setting here
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    if args.one:
        _, precision, jit, batch = args.one.split(",")
        print(time_one(precision, jit == "1", int(batch), args.steps, widths, args.config))
        return
    model = f"the model of {args.config}" if args.config else f"classifier widths {widths}"
    allocator = os.environ.get("LD_PRELOAD") or "the C library's malloc"
    print(f"machine: {os.cpu_count()} CPU threads; {model}; {args.steps} steps a setting; allocator: {allocator}")
    print(f"{'backend':<11} {'precision':<15} {'XLA':<4} {'batch':>5} {'ms/step':>8} {'s/epoch':>8}")
    for backend, precision, jit, batch in SETTINGS[: args.settings]:
        one = f"{backend},{precision},{int(jit)},{batch}"
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        command = [sys.executable, __file__, "--one", one, "--steps", str(args.steps), "--widths", args.widths]
        done = subprocess.run(command + (["--config", args.config] if args.config else []),
                              env=env, capture_output=True, text=True)
        try:
            ms = float(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            reason = (done.stderr.strip().splitlines() or ["failed"])[-1][:80]
            print(f"{backend:<11} {precision:<15} {'yes' if jit else 'no':<4} {batch:>5}  not measured: {reason}")
            continue
        epoch_s = ms / 1000 * TRAINING_IMAGES / batch
        print(f"{backend:<11} {precision:<15} {'yes' if jit else 'no':<4} {batch:>5} {ms:8.0f} {epoch_s:8.1f}")


if __name__ == "__main__":
    main()
