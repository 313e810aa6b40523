"""Offline distillation's teacher: ``python -m train.teacher_logits --teachers A [B ...] --out FILE.npz``.

Online distillation (``teachers:`` in a config) runs every teacher on every augmented batch, which
doubles an epoch's time or worse on a CPU. Here the teachers' mean logits on the training split are
computed once and saved; a run then blends ``softmax(logits / distill_temperature)`` into its targets
(``teacher_logits:`` in its config), at a plain run's speed. The price: the teacher saw each face
unaugmented, while the student sees it shifted, turned and flipped.

The file holds the logits, the data file and split they belong to and a checksum of those faces, so a
run refuses logits computed for other rows instead of silently learning from the wrong faces.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import numpy as np

from fer.config import EMOTIONS
from train.config import DEFAULT_DATA

CHUNK = 2048  # faces between progress updates: the whole Training split takes minutes per teacher


def faces_checksum(images: np.ndarray) -> str:
    """sha256 of the faces' pixels in row order: the logits belong to these rows and no others."""
    return hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()


def mean_logits(models, images: np.ndarray, flip: bool) -> np.ndarray:
    """``(N, 7)`` float32: the models' logits on ``(N, 48, 48)`` uint8 faces, averaged over models and,
    with ``flip``, over each face and its mirror image (the test-time flip the export reports)."""
    from tqdm import tqdm

    from train.inputs import keras_outputs, unit_range

    chunks = []
    for start in tqdm(range(0, len(images), CHUNK), desc="teacher logits", unit="chunk", disable=None):
        x = unit_range(images[start : start + CHUNK])
        views = [x, x[:, :, ::-1]] if flip else [x]
        chunks.append(sum(keras_outputs(model, view) for model in models for view in views) / (len(models) * len(views)))
    return np.concatenate(chunks).astype("float32")


def save(path: Path, logits: np.ndarray, images: np.ndarray, data: str, split: str, teachers: list[str], flip: bool) -> None:
    """Written whole or not at all: an interrupted run leaves no truncated file to be read later."""
    from train.run_folder import source_commit

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:  # a file object, so numpy adds no second suffix
        np.savez_compressed(f, logits=logits, checksum=faces_checksum(images), data=data, split=split,
                            teachers=np.array(teachers), flip=flip, commit=source_commit() or "")
    os.replace(partial, path)


def load(path: str | Path, images: np.ndarray) -> np.ndarray:
    """The saved logits for ``images`` (the training split's faces, in order), or an error that says why not."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"teacher_logits not found: {path} (make it with python -m train.teacher_logits)")
    with np.load(path) as saved:
        logits, checksum = saved["logits"], str(saved["checksum"])
        origin = f"{saved['data']} ({saved['split']})"
    if logits.shape != (len(images), len(EMOTIONS)) or checksum != faces_checksum(images):
        raise SystemExit(f"{path} holds teacher logits for other faces ({len(logits)} rows of {origin}) "
                         f"than this run's {len(images)} training faces")
    return logits


def describe(path: str | Path) -> dict:
    """What a run records of the file it learnt from, for its model card and to notice on ``--resume``
    that the file was remade: its sha256, the teachers, whether mirror images were averaged, and the
    commit they were computed at (shipped folders named as teachers change with later commits)."""
    from fer.classifier import sha256_of

    with np.load(path) as saved:
        return {"file": str(path), "sha256": sha256_of(path), "teachers": [str(t) for t in saved["teachers"]],
                "flip": bool(saved["flip"]),
                "commit": (str(saved["commit"]) if "commit" in saved.files else "") or None}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m train.teacher_logits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--teachers", nargs="+", required=True,
                        help="classifiers: best.keras files or model folders; the mean is over these files, so an "
                             "ensemble folder weighs as one teacher, whatever its number of members")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write (.npz is added if missing)")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--split", default="Training")
    parser.add_argument("--flip", action="store_true", help="average each face with its mirror image")
    args = parser.parse_args(argv)
    if args.out.suffix != ".npz":
        args.out = args.out.with_name(args.out.name + ".npz")

    from train.data import load_split
    from train.model import load_member

    images = load_split(args.data, args.split).images
    models = [load_member(Path(path)) for path in args.teachers]
    start = time.perf_counter()
    logits = mean_logits(models, images, args.flip)
    save(args.out, logits, images, args.data, args.split, list(args.teachers), args.flip)
    print(f"{args.out}: {len(logits)} rows of {args.split} from {len(models)} teacher file(s) in "
          f"{time.perf_counter() - start:.0f} s")
    return args.out


if __name__ == "__main__":
    main()
