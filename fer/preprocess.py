"""Detected face -> classifier input: square crop with margin, eyes levelled, greyscale, resized.

All settings come from :class:`fer.config.Preprocessing`, saved with the weights.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer.config import Preprocessing
from fer.detect import Detection


def alignment_matrix(detection: Detection, pre: Preprocessing, out_size: int) -> np.ndarray:
    """The 2x3 affine map from image pixels to the ``out_size`` x ``out_size`` face crop."""
    x0, y0, x1, y1 = detection.box
    side = pre.crop_scale * max(x1 - x0, y1 - y0, 1.0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + pre.center_shift * (y1 - y0)
    angle = 0.0
    if pre.align and len(detection.keypoints) >= 2:
        (rx, ry), (lx, ly) = detection.keypoints[0], detection.keypoints[1]
        # the person's right eye is on the image's left; the angle of the line between the eyes is
        # the counter-clockwise rotation (OpenCV's convention) that makes it horizontal
        angle = math.degrees(math.atan2(ly - ry, lx - rx))
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, out_size / side)
    matrix[:, 2] += (out_size / 2 - cx, out_size / 2 - cy)
    return matrix


def crop_face(image: np.ndarray, detection: Detection, pre: Preprocessing) -> np.ndarray:
    """Return the ``(S, S)`` uint8 greyscale (or ``(S, S, 3)`` RGB) input for one face."""
    size = pre.input_size
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if pre.grayscale else image
    # Warp to a few times the final size, then shrink with area averaging: warping straight down
    # from a large face samples only a few pixels and aliases.
    side = pre.crop_scale * max(detection.width, detection.height, 1.0)
    work = size * int(min(4, max(1, side // size)))
    crop = cv2.warpAffine(
        pixels, alignment_matrix(detection, pre, work), (work, work),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )
    if work != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop
