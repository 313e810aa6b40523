"""One predictor, loaded once: image in, :class:`fer.results.ImageResult` out.

The UI, the API endpoints, the CLI and the tests all call :meth:`EmotionRecognizer.predict`.
Requests run in parallel, one worker (a face detector and a LiteRT classifier, neither thread-safe)
per request in flight, up to one per CPU core by default.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import threading
from pathlib import Path

import cv2
import numpy as np

from fer.classifier import EmotionClassifier
from fer.detect import Detection, FaceDetector
from fer.image import ImageInput, load_image
from fer.preprocess import crop_face
from fer.results import FaceResult, ImageResult
from fer.source import ModelLocation, bundled_origin, resolve_model

log = logging.getLogger(__name__)


# Large photos are analysed downscaled to this many pixels and their boxes scaled back: the detector
# sees at most 192 px per pass (or tile) anyway, and the classifier 48 px per face, so more pixels only
# cost time. A pixel budget, not a longest side, so an 8000 x 600 strip keeps its height (and faces).
MAX_ANALYSIS_PIXELS = int(os.environ.get("FER_MAX_ANALYSIS_PIXELS", 2048 * 2048))


# a container's CPU quota (cgroup v2), as Hugging Face Spaces and Kubernetes set it: the affinity
# mask there lists the host's cores, and a worker per host core would only multiply the memory
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def default_workers() -> int:
    """``FER_WORKERS``, or one worker per CPU core this process may use, within its container's quota."""
    if os.environ.get("FER_WORKERS"):
        return max(1, int(os.environ["FER_WORKERS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, _cpu_quota() or cores))


def _cpu_quota() -> int | None:
    """Whole cores in the cgroup's ``cpu.max`` (``"200000 100000"`` is 2), None where unlimited or absent."""
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        return math.ceil(int(quota) / int(period))
    except (OSError, ValueError):  # no cgroup v2 file, or "max": no quota
        return None


class _Worker:
    """What one request needs to itself: MediaPipe tasks and LiteRT interpreters are not thread-safe."""

    def __init__(self, folder: Path, tiles: int):
        self.classifier = EmotionClassifier(folder)
        self.detector = FaceDetector(tiles=tiles)


class EmotionRecognizer:
    """Detects every face in an image and classifies its emotion; safe to share between threads.

    ``model`` is a name (``"fast"``, the default, or ``"accurate"``), a folder, ``owner/name`` /
    ``hf-hub:owner/name`` on the Hub, or None for ``FER_MODEL`` or ``"fast"`` (see
    :func:`fer.source.resolve_model`). ``tiles=1`` skips the tiled
    detection pass: faster, for video, but misses faces under ~30 px in large images. ``workers``
    bounds the requests analysed at once (default :func:`default_workers`); workers are created
    when first needed, so a single-threaded user pays for one.
    """

    def __init__(self, model: str | Path | None = None, revision: str | None = None, tiles: int = 2,
                 workers: int | None = None):
        if workers is not None and workers < 1:  # 0 would read as "the default", below 0 waits forever
            raise ValueError(f"workers must be 1 or more (or None for one per CPU core), not {workers}")
        location = resolve_model(model, revision)
        try:
            first = _Worker(location.folder, tiles)
        except (ValueError, FileNotFoundError) as err:  # a corrupt or incomplete download
            if location.fallback is None or location.folder == location.fallback:
                raise
            log.error("the model %s cannot be used (%s); using the bundled model", location.origin, err)
            location = ModelLocation(location.fallback, bundled_origin(location.fallback))
            first = _Worker(location.folder, tiles)
        log.info("emotion model: %s", location.origin)
        self.model_origin = location.origin
        self._folder, self._tiles = location.folder, tiles
        self.max_workers = workers or default_workers()
        # the first worker's parts, for callers that read the config or run one thread (tests, tools)
        self.classifier, self.detector = first.classifier, first.detector
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._idle.put(first)
        self._created = 1
        self._create_lock = threading.Lock()

    @contextlib.contextmanager
    def _worker(self):
        """Borrow an idle worker, creating one while fewer than ``max_workers`` exist, else wait."""
        try:
            worker = self._idle.get_nowait()
        except queue.Empty:
            with self._create_lock:
                create = self._created < self.max_workers
                self._created += create
            if not create:
                worker = self._idle.get()
            else:
                try:
                    worker = _Worker(self._folder, self._tiles)
                except BaseException:  # give the slot back, or a failed start would shrink the pool for good
                    with self._create_lock:
                        self._created -= 1
                    raise
        try:
            yield worker
        finally:
            self._idle.put(worker)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    @property
    def model_folder(self) -> Path:
        """The folder the weights were loaded from (bundled, or the Hub cache's snapshot)."""
        return self._folder

    @property
    def model_card(self) -> str:
        """The model's card (the README.md beside its weights, as on the Hub): training, figures, limits."""
        card = self._folder / "README.md"
        return card.read_text() if card.is_file() else f"No model card in {self._folder}."

    @property
    def uncertain_below(self) -> float | None:
        """The model's threshold: a face whose top probability is below it is flagged ``uncertain``."""
        return self.classifier.config.uncertain_below

    def predict(self, image: ImageInput, tiles: int | None = None, channels: str = "RGB") -> ImageResult:
        """Every face in ``image`` (path, bytes, PIL image or array), largest first.

        ``tiles`` overrides the detector's tiling for this call (``1`` for live video). ``channels``:
        an array's colour order, ``"BGR"`` for OpenCV's frames (see :func:`fer.load_image`).
        """
        rgb = load_image(image, channels)
        small, factor = _downscaled(rgb, MAX_ANALYSIS_PIXELS)
        with self._worker() as worker:
            detections = worker.detector.detect(small, tiles)
            pre = worker.classifier.config.preprocessing
            crops = np.stack([crop_face(small, d, pre) for d in detections]) if detections else np.zeros((0,))
            probabilities = worker.classifier.predict_proba(crops)
        detections = [_scaled(d, 1 / factor) for d in detections]  # boxes in the original's pixels
        faces = [
            FaceResult(
                box=tuple(int(round(v)) for v in det.box),
                score=det.score,
                label=self.labels[int(np.argmax(p))],
                scores={label: float(v) for label, v in zip(self.labels, p)},
                keypoints=det.keypoints,
                uncertain=self.classifier.config.is_uncertain(float(np.max(p))),
            )
            for det, p in zip(detections, probabilities)
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        return ImageResult(faces, size=(rgb.shape[1], rgb.shape[0]))

    def explain(self, image: ImageInput, result: ImageResult, channels: str = "RGB") -> np.ndarray:
        """``image`` with a Grad-CAM heat map on each face of ``result`` (see :mod:`fer.gradcam`), RGB."""
        from fer.gradcam import overlay_gradcam

        rgb = load_image(image, channels)
        with self._worker() as worker:
            return overlay_gradcam(rgb, result, worker.classifier)


def _downscaled(rgb: np.ndarray, max_pixels: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk to at most ``max_pixels`` pixels, keeping its shape, and the factor applied."""
    height, width = rgb.shape[:2]
    factor = min(1.0, (max_pixels / (height * width)) ** 0.5)
    if factor == 1.0:
        return rgb, 1.0
    size = (max(1, int(width * factor)), max(1, int(height * factor)))  # floor: at most the budget
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), factor


def _scaled(det: Detection, factor: float) -> Detection:
    if factor == 1.0:
        return det
    return Detection(tuple(v * factor for v in det.box), det.score, tuple((x * factor, y * factor) for x, y in det.keypoints))
