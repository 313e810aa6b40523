import math

import cv2
import numpy as np
import pytest

from fer.config import Preprocessing
from fer.detect import Detection
from fer.preprocess import alignment_matrix, crop_face


def _face(angle_deg: float) -> Detection:
    """A 100 px face at (200, 150) whose eye line is tilted by ``angle_deg``."""
    cx, cy, half = 200.0, 150.0, 20.0
    a = math.radians(angle_deg)
    right = (cx - half * math.cos(a), cy - 10 - half * math.sin(a))
    left = (cx + half * math.cos(a), cy - 10 + half * math.sin(a))
    return Detection((150.0, 100.0, 250.0, 200.0), 0.9, (right, left, (cx, cy), (cx, cy + 25), (140, cy), (260, cy)))


@pytest.mark.parametrize("angle", [-30, -5, 0, 12, 40])
def test_alignment_levels_the_eyes(angle):
    face = _face(angle)
    matrix = alignment_matrix(face, Preprocessing(), 48)
    eyes = cv2.transform(np.array([face.keypoints[:2]], dtype=np.float64), matrix)[0]
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6)
    assert eyes[0, 0] < eyes[1, 0]  # not flipped


def test_no_alignment_keeps_the_tilt():
    face = _face(20)
    matrix = alignment_matrix(face, Preprocessing(align=False), 48)
    eyes = cv2.transform(np.array([face.keypoints[:2]], dtype=np.float64), matrix)[0]
    assert abs(eyes[0, 1] - eyes[1, 1]) > 3


def test_crop_is_square_grey_and_centred():
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[100:200, 150:250] = 255  # the face box is white, the rest black
    crop = crop_face(image, _face(0), Preprocessing(crop_scale=1.5))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[24, 24] == 255 and crop[0, 0] == 0  # box in the middle, margin around it
    colour = crop_face(image, _face(0), Preprocessing(grayscale=False, input_size=64))
    assert colour.shape == (64, 64, 3)


def test_crop_scale_widens_the_view():
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[100:200, 150:250] = 255
    tight = crop_face(image, _face(0), Preprocessing(crop_scale=1.0)).mean()
    loose = crop_face(image, _face(0), Preprocessing(crop_scale=2.0)).mean()
    assert tight > 240 and loose < tight / 2
