import numpy as np

from conftest import EXAMPLES
from fer import load_image
from fer.gradcam import gradcam, overlay_gradcam


def test_heat_maps_are_normalised_per_face(recognizer):
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    maps = gradcam(recognizer.classifier, crops, np.array([0, 3, 6]))
    assert maps.shape == (3, 48, 48) and maps.min() >= 0 and maps.max() <= 1


def test_overlay_touches_the_faces_only(recognizer):
    image = load_image(EXAMPLES / "two_faces.jpg")
    result = recognizer.predict(image)
    out = overlay_gradcam(image, result, recognizer.classifier)
    assert out.shape == image.shape and out.dtype == np.uint8
    changed = (out != image).any(axis=2)
    inside = np.zeros_like(changed)
    for face in result.faces:
        x0, y0, x1, y1 = face.box
        w, h = x1 - x0, y1 - y0
        inside[max(0, y0 - h) : y1 + h, max(0, x0 - w) : x1 + w] = True  # crop margin and rotation
    assert changed.any() and not (changed & ~inside).any()
