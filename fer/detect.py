"""Face detection with MediaPipe Tasks' FaceDetector and the vendored BlazeFace models.

Two models cover two ranges: the full-range model finds small faces in group photos (down to about
28 px in a 500 px image) but misses most close-ups; the short-range model finds close-ups (selfies,
webcams, portraits) but not small faces. Both run on every image and their boxes are merged by
non-maximum suppression. Each has its own score threshold, tuned so that the negatives in the
project's test scenes (dogs, coffee, a rocket) give no face; see tests/test_detect.py.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.native_logs import quiet_native_logs


def _import_mediapipe():
    """``from mediapipe.tasks.python import vision``, minus two heavy imports it does not need here.

    - ``mediapipe.tasks.python`` imports its audio tasks, whose ``optional_dependencies`` tries
      ``tensorflow.tools.docs`` (for API docs) and falls back on ModuleNotFoundError. Where
      TensorFlow is installed that import succeeds and costs ~600 MiB and ~4 s; a ``None`` in
      ``sys.modules`` makes it fail as if absent.
    - ``vision`` imports its drawing helpers, which import ``matplotlib.pyplot`` (~0.4 s, for
      drawing landmarks we never draw). They get stand-ins that import matplotlib on first use.
    These entries are removed straight after, so training can import TensorFlow and anyone pyplot.
    """
    stand_ins = {}
    if "tensorflow" not in sys.modules:
        stand_ins["tensorflow"] = None
    if "matplotlib.pyplot" not in sys.modules:
        stand_ins["matplotlib.pyplot"] = pyplot = _on_first_use("matplotlib.pyplot")
        if "matplotlib" not in sys.modules:
            stand_ins["matplotlib"] = _on_first_use("matplotlib", pyplot=pyplot)
    sys.modules.update(stand_ins)
    try:
        import mediapipe
        from mediapipe.tasks.python import BaseOptions, vision
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name, stand_in) is stand_in:
                sys.modules.pop(name, None)
    return mediapipe, BaseOptions, vision


def _on_first_use(name: str, **attributes) -> types.ModuleType:
    """A stand-in for module ``name`` that imports the real one when any other attribute is read."""
    stand_in = types.ModuleType(name)
    stand_in.__dict__.update(attributes)
    stand_in.__getattr__ = lambda attribute: getattr(importlib.import_module(name), attribute)
    return stand_in


mp, BaseOptions, vision = _import_mediapipe()

MODEL_DIR = Path(__file__).parent / "assets" / "face_detection"
SHORT_RANGE = MODEL_DIR / "face_detection_short_range.tflite"
FULL_RANGE = MODEL_DIR / "face_detection_full_range_sparse.tflite"
SMALL_FACE_FRACTION = 0.3  # a tile's detection counts only if no larger than this share of the tile
# the tiled pass is skipped once the whole image holds a face at least this share of its shorter side:
# a portrait, selfie or webcam frame, where faces small enough to need tiles are not expected
LARGE_FACE_FRACTION = 0.25
PANORAMA_ASPECT = 3  # longer than this many times its height (or width): analysed in windows along it
MAX_TILES_ALONG = 16  # a 10000 x 1 strip must not become thousands of passes
# MediaPipe's image-to-tensor step aborts the whole process (an OpenCV assertion in remap, no Python
# exception) on an input with a side of 32767 pixels or more: a 954-byte PNG of a 300000 x 1 strip,
# whose windows along it are 35000 pixels long, killed the CLI and would kill the app. Each pass's
# input is shrunk to this side first; the model sees it at 128-192 pixels anyway.
MAX_PASS_SIDE = 16384
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
# BlazeFace misses a face that fills the whole frame (a face crop, a close selfie, a shouting mouth), or
# boxes part of it with a low score: when the passes find nothing, or nothing scoring RETRY_BELOW_SCORE,
# the image is searched again shrunk to RETRY_SIDE pixels on its longer side and centred on a black
# square canvas RETRY_CANVAS times that side. On faces-in-the-wild this found 28 of the 29 photos where
# no face was found, and gave no face on the face-less scenes (mean-colour padding found one more and
# boxed a dog and a rocket); tests/test_detect.py holds what these do. The comparisons here were one-off
# scripts of 2026-12-07 (not in the repository); `python -m train.evaluate --data
# ../shared/data/faces-in-the-wild --detect` gives the chosen setting's figures.
RETRY_SIDE = 512
RETRY_CANVAS = 2.0
RETRY_INSIDE = 0.5  # a face found on the canvas counts if at least this share of its box is in the image
# chosen on faces-in-the-wild with the fast model before its decision rule: accuracy 0.5697 looking
# again only where nothing was found, 0.5709 below 0.7, 0.577 below 0.8, 0.5721 below 0.9, 0.5733 always
# (with the rule: 0.5588, 0.5685, 0.5612, 0.5612 for 0.7, 0.8, 0.9, always)
RETRY_BELOW_SCORE = 0.8
# BlazeFace's short-range model scores a flat expanse (Chromium's fake camera: one green field with a
# timer and a sweeping disc) 0.55-0.63, over its 0.55 threshold, where no face is. A face has texture:
# a box where more than FLAT_SHARE of the grey pixels lie within FLAT_LEVELS of their median is dropped.
# Measured once (a one-off script, 2026-12-07): such boxes 0.89-0.98 flat, the faces of the examples,
# scenes and faces-in-the-wild photos 0.35 at most; tests/test_detect.py holds a fake-camera frame.
FLAT_LEVELS = 4
FLAT_SHARE = 0.6


@dataclass(frozen=True)
class Detection:
    """One face: pixel box ``(x0, y0, x1, y1)``, detector score, six ``(x, y)`` pixel keypoints.

    Keypoints follow BlazeFace's order (:data:`KEYPOINT_NAMES`); "right" is the person's right,
    which is on the left of an unmirrored photo.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box's area: 1.0 when one box lies inside the other.

    Used instead of IoU for merging because the short-range model sometimes fires a loose box around
    a small face that the full-range model boxed tightly; their IoU is low, but one contains the other.
    """
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if smaller > 0 else 0.0


def non_max_suppression(detections: list[Detection], max_overlap: float) -> list[Detection]:
    """Keep the best-scoring box of every group whose :func:`overlap` exceeds ``max_overlap``."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        if all(overlap(det.box, k.box) <= max_overlap for k in kept):
            kept.append(det)
    return kept


class FaceDetector:
    """Finds faces in RGB uint8 images; create once and reuse (model loading costs ~20 ms).

    ``full_range_score`` and ``short_range_score`` are the per-model thresholds; set one to ``None``
    to skip that model. ``tiles`` > 1 also runs the full-range model on a ``tiles`` x ``tiles`` grid of
    overlapping tiles, which finds faces too small for the whole image (``tiles=1`` never tiles). Once
    a large face is found (a portrait, a selfie, a webcam frame), the passes left are skipped: the
    other model on the whole image, and the tiles. When the passes find nothing, or nothing sure,
    ``retry_padded`` searches once more with the image on a larger canvas, for a face that fills the
    frame (:data:`RETRY_BELOW_SCORE`). Not thread-safe: MediaPipe task objects must not be shared
    across threads (:class:`fer.EmotionRecognizer` keeps one detector per worker).
    """

    def __init__(
        self,
        full_range_score: float | None = 0.5,
        short_range_score: float | None = 0.55,
        max_overlap: float = 0.5,
        tiles: int = 2,
        retry_padded: bool = True,
    ):
        self.max_overlap = max_overlap
        self.tiles = tiles
        self.retry_padded = retry_padded
        self.full_range = _load(FULL_RANGE, full_range_score)
        self.short_range = _load(SHORT_RANGE, short_range_score)
        self._models = [m for m in (self.full_range, self.short_range) if m is not None]
        if not self._models:
            raise ValueError("at least one of full_range_score and short_range_score must be set")
        self._finalizer = weakref.finalize(self, _close_all, self._models)
        self._finalizer.atexit = False
        # MediaPipe runs every task call on a ThreadPoolExecutor, which concurrent.futures stops in a
        # threading exit hook, before atexit and before garbage collection; closing a task after that
        # raises (mediapipe 1.2.2). So close ours in the same kind of hook, which runs before theirs.
        threading._register_atexit(self._finalizer)

    def detect(self, image: np.ndarray, tiles: int | None = None) -> list[Detection]:
        """All faces in an ``(H, W, 3)`` uint8 RGB image, best score first.

        ``tiles`` overrides the detector's tiling for this call (1 = none, fastest).
        """
        if self.full_range is None and self.short_range is None:
            raise RuntimeError("this FaceDetector is closed; make a new one")  # not "no faces"
        tiles = self.tiles if tiles is None else tiles
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        found = []
        # the whole image; a panorama or strip in windows along its length, so its faces are not
        # shrunk to nothing in the model's square input. Windows overlap by half, so every face as
        # tall as the strip lies whole in one of them.
        windows = tile_boxes(width, height, 1, overlap_fraction=0.5)
        # Both models on the whole image, the second only while no large face has been found. Live
        # video (tiles=1) starts with the short-range model, as a webcam films one close face and the
        # full-range one costs more than twice as much; a photo starts with the full-range model,
        # which also finds the smaller faces beside a large one (a second person a step behind) that
        # the short-range model misses, and needs the short-range one only for close-ups it misses.
        for model in sorted(self._models, key=lambda m: (m is self.short_range) == (tiles > 1)):
            if _has_large_face(found, width, height):
                break
            for window in windows:
                found += _textured(image, _run(model, image, window))
        if tiles > 1 and self.full_range and not _has_large_face(found, width, height):
            # the full-range model again on overlapping tiles, for faces too small for the whole image
            for tile in tile_boxes(width, height, tiles):
                small = SMALL_FACE_FRACTION * min(tile[2] - tile[0], tile[3] - tile[1])
                # tiles are for small faces; a large box in a tile is usually a face cut by its edge
                found += [d for d in _textured(image, _run(self.full_range, image, tile)) if max(d.width, d.height) <= small]
        if self.retry_padded and (not found or max(d.score for d in found) < RETRY_BELOW_SCORE):
            # live video (tiles=1) asks the short-range model alone: a face-less frame then costs one
            # pass more, not two (it found 27 of those 29 photos alone, the full-range model 18; a
            # one-off check, as above; benchmarks/latency.py times both paths)
            live = tiles == 1 and self.short_range is not None
            found += self._padded(image, [self.short_range] if live else self._models)
        return non_max_suppression(found, self.max_overlap)

    def _padded(self, image: np.ndarray, models: list | None = None) -> list[Detection]:
        """Faces ``models`` (default: both) find with the image shrunk and centred on a larger black
        canvas (see :data:`RETRY_CANVAS`), in the image's own pixels, their boxes clipped to it."""
        height, width = image.shape[:2]
        factor = min(1.0, RETRY_SIDE / max(height, width))
        small = image if factor == 1.0 else cv2.resize(
            image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        side = int(max(h, w) * RETRY_CANVAS)
        top, left = (side - h) // 2, (side - w) // 2
        canvas = np.zeros((side, side, 3), np.uint8)
        canvas[top : top + h, left : left + w] = small
        found = []
        for model in self._models if models is None else models:
            for det in _run(model, canvas, (0, 0, side, side)):
                x0, y0, x1, y1 = ((v - o) / factor for v, o in zip(det.box, (left, top, left, top)))
                inside = (min(x1, width) - max(x0, 0)) * (min(y1, height) - max(y0, 0))
                if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height or inside < RETRY_INSIDE * (x1 - x0) * (y1 - y0):
                    continue  # mostly on the canvas: not a face of the image
                box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
                keypoints = tuple(((x - left) / factor, (y - top) / factor) for x, y in det.keypoints)
                found.append(Detection(box, det.score, keypoints))
        return _textured(image, found)  # on the image's own pixels: the black canvas is flat

    def close(self) -> None:
        self._finalizer()
        self.full_range = self.short_range = None

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def flat_share(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """The share of the box's grey pixels within :data:`FLAT_LEVELS` of their median: near 1 for a
    flat field, a third or less for a face."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    pixels = image[max(0, y0) : y1, max(0, x0) : x1]
    if pixels.size == 0:
        return 1.0
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY).astype(np.int16)
    return float(np.mean(np.abs(grey - np.median(grey)) <= FLAT_LEVELS))


def _textured(image: np.ndarray, detections: list[Detection]) -> list[Detection]:
    return [d for d in detections if flat_share(image, d.box) <= FLAT_SHARE]


def _has_large_face(detections: list[Detection], width: int, height: int) -> bool:
    return any(max(d.width, d.height) >= LARGE_FACE_FRACTION * min(width, height) for d in detections)


def _load(path: Path, min_score: float | None) -> vision.FaceDetector | None:
    if min_score is None:
        return None
    options = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(path)), min_detection_confidence=min_score
    )
    with quiet_native_logs():
        model = vision.FaceDetector.create_from_options(options)
        # a process's first detection logs too (absl's preamble, a tensor-alignment note): here, not mid-run
        model.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((8, 8, 3), np.uint8)))
    return model


def _close_all(models: list) -> None:
    with quiet_native_logs():  # closing logs each LiteRT accelerator's destruction
        while models:
            models.pop().close()


def tile_boxes(width: int, height: int, grid: int, overlap_fraction: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles covering the image, ``grid`` x ``grid``; neighbours overlap by ``overlap_fraction``.

    Panoramas and strips (longer than ``PANORAMA_ASPECT`` times their shorter side) get more tiles
    along their length, as many as keep a tile at most twice as long as it is wide (up to
    ``MAX_TILES_ALONG``): in one square model input their faces would shrink to nothing.
    """
    short_tile = min(width, height) / (grid - (grid - 1) * overlap_fraction)

    def count(size: int) -> int:
        if size <= PANORAMA_ASPECT * min(width, height):
            return grid
        needed = int(np.ceil((size / (2 * short_tile) - overlap_fraction) / (1 - overlap_fraction)))
        return min(MAX_TILES_ALONG, max(grid, needed))

    def spans(size: int) -> list[tuple[int, int]]:
        n = count(size)
        tile = int(np.ceil(size / (n - (n - 1) * overlap_fraction)))
        starts = np.linspace(0, size - tile, n).round().astype(int)
        return [(int(s), int(s) + tile) for s in starts]
    return [(x0, y0, x1, y1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


def _run(model: vision.FaceDetector, image: np.ndarray, box: tuple[int, int, int, int]) -> list[Detection]:
    """``model``'s faces in the ``box`` part of ``image``, in the whole image's pixels."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    pixels = image[y0:y1, x0:x1] if (width, height) != (image.shape[1], image.shape[0]) else image
    factor = min(1.0, MAX_PASS_SIDE / max(width, height))
    if factor < 1.0:  # a long strip's window; the model sees it at 128-192 px whatever its size
        pixels = cv2.resize(pixels, (max(1, round(width * factor)), max(1, round(height * factor))),
                            interpolation=cv2.INTER_AREA)
    part = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
    found = [_to_detection(d, pixels.shape[1], pixels.shape[0]) for d in model.detect(part).detections]
    return [_placed(d, width / pixels.shape[1], height / pixels.shape[0], (x0, y0)) for d in found]


def _placed(det: Detection, sx: float, sy: float, offset: tuple[int, int]) -> Detection:
    """``det``, found in a part scaled by ``1/sx``, ``1/sy`` whose corner is at ``offset``, in the image's pixels."""
    dx, dy = offset
    x0, y0, x1, y1 = det.box
    return Detection((x0 * sx + dx, y0 * sy + dy, x1 * sx + dx, y1 * sy + dy), det.score,
                     tuple((x * sx + dx, y * sy + dy) for x, y in det.keypoints))


def _to_detection(det, width: int, height: int) -> Detection:
    """MediaPipe's detection (pixel box, normalised keypoints) -> :class:`Detection` in the pixels of
    the ``width`` x ``height`` image it was found in, its box clipped to that image."""
    bb = det.bounding_box
    x0, y0 = max(0, bb.origin_x), max(0, bb.origin_y)
    x1, y1 = min(width, bb.origin_x + bb.width), min(height, bb.origin_y + bb.height)
    keypoints = tuple((kp.x * width, kp.y * height) for kp in det.keypoints)
    return Detection((float(x0), float(y0), float(x1), float(y1)), float(det.categories[0].score), keypoints)
