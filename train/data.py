"""Datasets as in-memory uint8 arrays: the FER2013 CSV (plain or gzip) or a folder of class subfolders.

Everything returns ``(images, labels)`` with ``images`` shaped ``(N, 48, 48)`` uint8 grayscale and
``labels`` int64 indices into :data:`fer.config.EMOTIONS`, so training and evaluation share one format.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer.config import EMOTIONS

FER2013_SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class Split:
    """One split of a dataset; ``paths`` is set for folder datasets (to name failed files)."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")
    return open(path, "r", newline="")


def read_fer2013_csv(path: str | Path) -> dict[str, Split]:
    """Read a FER2013 ``emotion,pixels,Usage`` CSV into one :class:`Split` per Usage value.

    Any subset of the Usage values (Training, PublicTest, PrivateTest) may be present. Malformed rows
    raise ``ValueError`` naming the line, because silently dropping rows would skew every figure.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 CSV not found: {path}")
    pixels: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[int]] = {}
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise ValueError(f"{path}: expected header 'emotion,pixels,Usage', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                label = int(row[0])
                values = np.array(row[1].split(), dtype=np.uint8)
                usage = row[2].strip()
            except (IndexError, ValueError) as err:
                raise ValueError(f"{path}:{line_no}: malformed row ({err})") from None
            if values.size != FER2013_SIZE * FER2013_SIZE or not 0 <= label < len(EMOTIONS):
                raise ValueError(f"{path}:{line_no}: expected 2304 pixels and a label 0-6")
            pixels.setdefault(usage, []).append(values.reshape(FER2013_SIZE, FER2013_SIZE))
            labels.setdefault(usage, []).append(label)
    if not labels:
        raise ValueError(f"{path}: no rows")
    return {
        usage: Split(np.stack(pixels[usage]), np.array(labels[usage], dtype=np.int64))
        for usage in labels
    }


def read_image_folder(path: str | Path, size: int | None = FER2013_SIZE) -> Split:
    """Read ``path/<class>/*.jpg`` into a :class:`Split`; class folder names must be emotion names.

    With ``size`` set, every image is converted to grayscale and resized to ``size`` x ``size``
    (for pre-cropped faces); with ``size=None`` the images are kept as RGB arrays of their own size
    in an object array (for ``--detect``, which finds the face first).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    unknown = [d.name for d in class_dirs if d.name.lower() not in EMOTIONS]
    if unknown:
        raise ValueError(f"{root}: folders {unknown} are not emotion classes {list(EMOTIONS)}")
    # imported here: the runtime's loader needs OpenCV and Pillow, which a machine that only trains on
    # the FER2013 CSV (the accelerator machine of ../shared/device-kit) does not have
    from PIL import Image

    from fer.image import ImageError, load_image

    images, labels, paths = [], [], []
    for class_dir in class_dirs:
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                rgb = load_image(file)  # as the runtime reads it: EXIF orientation, transparency, 16-bit
            except ImageError as err:  # the runtime's messages name no path; a data set's should
                raise ValueError(f"{file}: {err}") from None
            if size is None:
                images.append(rgb)
            else:
                images.append(np.asarray(Image.fromarray(rgb).convert("L").resize((size, size), Image.BILINEAR)))
            labels.append(EMOTIONS.index(class_dir.name.lower()))
            paths.append(str(file))
    if not labels:
        raise ValueError(f"{root}: no images found in class subfolders")
    if size is None:
        array = np.empty(len(images), dtype=object)
        array[:] = images
    else:
        array = np.stack(images)
    return Split(array, np.array(labels, dtype=np.int64), paths)


def load_split(path: str | Path, split: str | None = None) -> Split:
    """Load one split from a FER2013 CSV (``split`` picks a Usage) or the whole of a folder.

    ``split=None`` takes the whole dataset, which must then be one split: a folder, or a CSV whose
    rows share one Usage; a figure over a mixed CSV would silently count its Training rows.
    A folder has no splits, so asking it for one is an error: training on a folder would
    otherwise validate on its own training images.
    """
    path = Path(path)
    if path.is_dir():
        if split is not None:
            raise ValueError(f"{path} is a folder of class subfolders, which has no {split!r} split: a folder can be "
                             "evaluated as a whole (no --split) but not split into training and validation rows")
        return read_image_folder(path)
    splits = read_fer2013_csv(path)
    if split is None:
        if len(splits) > 1:
            raise ValueError(f"{path} holds rows of several Usage values {sorted(splits)}: choose one (--split)")
        return next(iter(splits.values()))
    if split not in splits:
        raise ValueError(f"{path}: no rows with Usage={split!r}; present: {sorted(splits)}")
    return splits[split]


# FER+ (Barsoum et al., 2016): ten annotators' votes per FER2013 row, matched by position within each
# Usage. Its columns, in order, and where each lands among our seven labels (None: not an emotion we use).
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
FERPLUS_TO_EMOTION = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                      "sadness": "sad", "surprise": "surprise", "neutral": "neutral"}


def read_ferplus_votes(path: str | Path) -> dict[str, np.ndarray]:
    """``{usage: (N, 7) float votes}`` over :data:`EMOTIONS`, rows in file order; rows whose votes are
    unusable (no image name, or no vote for any of the seven emotions) are all zeros."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FER+ votes not found: {path}")
    columns = [FERPLUS_COLUMNS.index(name) for emotion in EMOTIONS for name, e in FERPLUS_TO_EMOTION.items() if e == emotion]
    votes: dict[str, list[np.ndarray]] = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            counts = np.array([float(v) for v in row[2:12]])[columns]
            if not row[1].strip():
                counts[:] = 0.0
            votes.setdefault(row[0].strip(), []).append(counts)
    return {usage: np.stack(rows) for usage, rows in votes.items()}


def ferplus_targets(votes: np.ndarray, soft: bool) -> tuple[np.ndarray, np.ndarray]:
    """(targets, keep): vote distributions (``soft``) or one-hot majority votes, and the usable rows."""
    keep = votes.sum(axis=1) > 0
    distribution = votes[keep] / votes[keep].sum(axis=1, keepdims=True)
    if not soft:
        distribution = np.eye(len(EMOTIONS), dtype="float32")[distribution.argmax(axis=1)]
    return distribution.astype("float32"), keep
