"""One predictor, loaded once: image in, :class:`fer.results.ImageResult` out.

The UI, the API endpoints, the CLI and the tests all call :meth:`EmotionRecognizer.predict`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from fer.classifier import EmotionClassifier
from fer.detect import FaceDetector
from fer.image import ImageInput, load_image
from fer.preprocess import crop_face
from fer.results import FaceResult, ImageResult
from fer.source import resolve_model

log = logging.getLogger(__name__)


class EmotionRecognizer:
    """Detects every face in an image and classifies its emotion.

    ``model`` is a folder, ``owner/name`` / ``hf-hub:owner/name`` on the Hub, or None for
    ``FER_MODEL`` or the default (see :func:`fer.source.resolve_model`). ``tiles=1`` skips the tiled
    detection pass: faster, for video, but misses faces under ~30 px in large images.
    """

    def __init__(self, model: str | Path | None = None, revision: str | None = None, tiles: int = 2):
        location = resolve_model(model, revision)
        log.info("emotion model: %s", location.origin)
        self.model_origin = location.origin
        self.classifier = EmotionClassifier(location.folder)
        self.detector = FaceDetector(tiles=tiles)
        # MediaPipe tasks and the Keras model are not safe to call from several threads at once,
        # and Gradio serves requests from a thread pool
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def predict(self, image: ImageInput, tiles: int | None = None) -> ImageResult:
        """Every face in ``image`` (path, bytes, PIL image or array), largest first.

        ``tiles`` overrides the detector's tiling for this call (``1`` for live video).
        """
        rgb = load_image(image)
        with self._lock:
            detections = self.detector.detect(rgb, tiles)
            pre = self.classifier.config.preprocessing
            crops = np.stack([crop_face(rgb, d, pre) for d in detections]) if detections else np.zeros((0,))
            probabilities = self.classifier.predict_proba(crops)
        faces = [
            FaceResult(
                box=tuple(int(round(v)) for v in det.box),
                score=det.score,
                label=self.labels[int(np.argmax(p))],
                scores={label: float(v) for label, v in zip(self.labels, p)},
                keypoints=det.keypoints,
            )
            for det, p in zip(detections, probabilities)
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        return ImageResult(faces, size=(rgb.shape[1], rgb.shape[0]))

    def explain(self, image: ImageInput, result: ImageResult) -> np.ndarray:
        """``image`` with a Grad-CAM heat map on each face of ``result`` (see :mod:`fer.gradcam`)."""
        from fer.gradcam import overlay_gradcam

        rgb = load_image(image)
        with self._lock:
            return overlay_gradcam(rgb, result, self.classifier)
