import numpy as np
import pytest

from fer.draw import draw_results
from fer.results import FaceResult, ImageResult

SCORES = {"angry": 0.05, "disgust": 0.05, "fear": 0.05, "happy": 0.6, "sad": 0.05, "surprise": 0.1, "neutral": 0.1}


@pytest.mark.parametrize("size", [(40, 30), (600, 400), (4000, 3000)])
def test_label_scales_with_the_image(size):
    w, h = size
    face = FaceResult(box=(w // 4, h // 4, w // 2, h // 2), score=0.9, label="happy", scores=SCORES)
    image = np.zeros((h, w, 3), dtype=np.uint8)
    out = draw_results(image, ImageResult([face], size))
    assert out.shape == image.shape and image.max() == 0
    # the label's filled background is at least 8 px and 2% of the image height tall, so it stays
    # legible when a large photo is scaled down to fit a screen
    label_rows = np.flatnonzero((out == (255, 190, 0)).all(axis=2).sum(axis=1) > w // 20)
    assert label_rows.size >= max(8, 0.02 * h)


def test_face_at_the_top_edge_keeps_its_label_inside():
    face = FaceResult(box=(0, 0, 50, 50), score=0.9, label="happy", scores=SCORES)
    out = draw_results(np.zeros((200, 200, 3), np.uint8), ImageResult([face], (200, 200)))
    assert (out[:50, :50] == (255, 190, 0)).all(axis=2).sum() > 100


def test_images_that_are_not_uint8_are_drawn_as_they_were_analysed():
    from fer.image import load_image

    face = FaceResult(box=(5, 5, 25, 25), score=0.9, label="happy", scores=SCORES)
    sixteen_bit = np.linspace(0, 4095, 40 * 30 * 3).astype(np.uint16).reshape(30, 40, 3)
    floats = np.random.default_rng(1).random((30, 40, 3))
    for image in (sixteen_bit, floats):  # cast to uint8, these wrapped round or turned black
        result = ImageResult([face], (40, 30))
        assert np.array_equal(draw_results(image, result), draw_results(load_image(image), result))
    assert draw_results(sixteen_bit, ImageResult([], (40, 30)))[-1, -1].min() == 255  # 4095 is its white


def test_no_faces_returns_an_equal_copy():
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    out = draw_results(image, ImageResult([], (30, 20)))
    assert np.array_equal(out, image) and out is not image


def test_highlight_rings_one_box_and_leaves_the_rest():
    from fer.draw import highlight_face

    annotated = np.full((200, 300, 3), 90, np.uint8)
    out = highlight_face(annotated, (100, 50, 150, 120))
    assert out.shape == annotated.shape and annotated.max() == 90  # a copy: the input is untouched
    assert (out[85, 99] == 255).all() and (out[85, 96] == 0).all()  # white next to the box, black outside it
    assert (out[:40] == 90).all() and (out[85, 110:140] == 90).all()  # nothing above the ring or inside the box


def test_label_text_reads_on_every_emotion_colour():
    from fer.draw import COLORS, text_color

    def luminance(rgb):  # WCAG 2's relative luminance of an sRGB colour
        linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for label, colour in COLORS.items():
        lighter, darker = sorted((luminance(colour), luminance(text_color(colour))), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5, label  # WCAG AA for text: disgust's green had 2.7
