"""Why this label: Grad-CAM++ heat maps (Chattopadhay et al., 2018) of the classifier, drawn on the photo.

Grad-CAM weighs each channel of the last convolutional activation by its mean gradient and keeps the
positive part of the sum; for this network (global average pooling, then a small dense head) that sum
is often negative at every position for a confident label, and the map comes out blank. Grad-CAM++
weighs channels by their *positive* gradients only, so every face whose label has any positive
evidence gets a map. No TensorFlow at run time: the LiteRT model outputs the activation and the
head's gradient (see ``train.export.explainable``); the rest, back through the last max pooling and
the average, is NumPy here. tests/test_gradcam.py checks it against Keras gradients.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.classifier import EmotionClassifier
from fer.detect import Detection
from fer.preprocess import alignment_matrix, crop_face
from fer.results import ImageResult

POOL = 2  # the max pooling between the last activation and the global average (train.model.conv_block)


def activation_gradients(features: np.ndarray, head_gradients: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """d logit / d features for each crop's class: ``(N, h, w, c)``.

    The gradient of the pooled average reaches each pooled cell as ``g / cells``; max pooling passes
    it to the position that held the maximum of its window (the first one on ties, as TensorFlow does).
    """
    n, h, w, c = features.shape
    g = head_gradients[np.arange(n), :, classes]  # (N, c)
    ph, pw = h // POOL, w // POOL
    windows = features[:, : ph * POOL, : pw * POOL].reshape(n, ph, POOL, pw, POOL, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, ph, pw, c, POOL * POOL)
    winner = np.eye(POOL * POOL, dtype=features.dtype)[windows.argmax(axis=-1)]  # one-hot (N, ph, pw, c, 4)
    routed = winner * (g[:, None, None, :, None] / (ph * pw))
    grads = np.zeros_like(features)
    grads[:, : ph * POOL, : pw * POOL] = routed.reshape(n, ph, pw, c, POOL, POOL).transpose(0, 1, 4, 2, 5, 3).reshape(n, ph * POOL, pw * POOL, c)
    return grads


def gradcam_plus_plus(features: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM++ maps ``(N, h, w)`` (not normalised) from activations and their gradients."""
    grads2 = grads**2
    denominator = 2 * grads2 + features.sum(axis=(1, 2), keepdims=True) * grads2 * grads
    alpha = np.where(grads != 0, grads2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alpha * np.maximum(grads, 0)).sum(axis=(1, 2), keepdims=True)  # (N, 1, 1, c)
    return np.maximum((weights * features).sum(axis=-1), 0)


def normalise(maps: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(N, h, w)`` maps to ``size`` x ``size`` and scale each to peak at 1."""
    maps = np.stack([cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC) for m in maps])
    maps = np.clip(maps, 0, None)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return maps / np.where(peak > 0, peak, 1)


def gradcam(classifier: EmotionClassifier, crops: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` heat maps in [0, 1] for ``crops`` (uint8) and the class index of each."""
    if not classifier.runner.explains:
        raise RuntimeError(f"{classifier.folder}: its model.tflite has no explanation outputs. Models of this "
                           "project's CNN gain them with python -m train.export --refresh-tflite; a network "
                           "without its dense head (a MobileFaceNet alone) cannot be explained this way")
    out = classifier.runner(classifier.inputs(crops), outputs=("features", "head_gradients"))
    grads = activation_gradients(out["features"], out["head_gradients"], np.asarray(classes))
    return normalise(gradcam_plus_plus(out["features"], grads), classifier.input_size)


def overlay_gradcam(image: np.ndarray, result: ImageResult, classifier: EmotionClassifier, alpha: float = 0.45) -> np.ndarray:
    """``image`` with each face's heat map (for its top label) blended in; RGB uint8."""
    if not result.faces:
        return image.copy()
    pre = classifier.config.preprocessing
    detections = [Detection(tuple(map(float, f.box)), f.score, f.keypoints) for f in result.faces]
    crops = np.stack([crop_face(image, d, pre) for d in detections])
    classes = np.array([classifier.labels.index(f.label) for f in result.faces])
    maps = gradcam(classifier, crops, classes)
    # Each map is warped back into the part of the photo its crop covers, and only those parts are
    # blended: over the whole frame, a 24-megapixel photo took seconds and a gigabyte per request.
    heat = np.zeros(image.shape[:2], np.float32)  # zeroed lazily by the OS: untouched rows cost nothing
    regions = []
    for det, cam in zip(detections, maps):
        matrix = alignment_matrix(det, pre, pre.input_size)
        region = _covered_region(matrix, pre.input_size, image.shape[:2])
        if region is None:
            continue
        x0, y0, x1, y1 = region
        shifted = matrix.copy()
        shifted[:, 2] += matrix[:, :2] @ (x0, y0)  # image coordinates, counted from the region's corner
        back = cv2.warpAffine(cam.astype(np.float32), shifted, (x1 - x0, y1 - y0),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0)
        np.maximum(heat[y0:y1, x0:x1], back, out=heat[y0:y1, x0:x1])
        regions.append(region)
    out = image.copy()
    for x0, y0, x1, y1 in regions:  # overlapping regions blend the same finished heat twice: same pixels
        out[y0:y1, x0:x1] = _blended(image[y0:y1, x0:x1], heat[y0:y1, x0:x1], alpha)
    return out


def _covered_region(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The pixel box ``(x0, y0, x1, y1)`` of the photo that a ``size`` x ``size`` crop taken with
    ``matrix`` (photo to crop) covers, clipped to the photo; None where it lies outside."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    inverse = cv2.invertAffineTransform(matrix)
    points = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = shape
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _blended(pixels: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    colored = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (alpha * heat)[..., None]  # blend only where the map is warm; the rest of the photo stays
    return (pixels * (1 - weight) + colored * weight).round().astype(np.uint8)
