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


def _face(box, label="surprise", uncertain=False, keypoints=()):
    scores = {k: 0.02 for k in SCORES}
    scores[label] = 0.88
    return FaceResult(box=tuple(int(v) for v in box), score=0.9, label=label, scores=scores, keypoints=keypoints, uncertain=uncertain)


def _eyes_of(face):
    from fer.draw import _eye_rect

    return _eye_rect(face)


def _crowds(seed: int = 0):
    """Layouts a photo can have: a face filling a portrait, faces on every edge and corner, a row of
    a group photo, a packed grid of small faces, random crowds; with and without eye keypoints."""
    rng = np.random.default_rng(seed)
    yield "portrait", (500, 600), [_face((20, 30, 480, 590))]
    yield "portrait, wide label", (300, 300), [_face((0, 0, 300, 300), "surprise", True)]
    yield "corners", (640, 480), [_face(b) for b in [(0, 0, 80, 90), (560, 0, 640, 90), (0, 390, 80, 480), (560, 390, 640, 480)]]
    yield "row of seven", (1400, 500), [_face((20 + 195 * i, 150, 190 + 195 * i, 340)) for i in range(7)]
    yield "two rows", (1000, 700), [_face((40 + 160 * i, 60 + 300 * r + 20 * (i % 2), 170 + 160 * i, 210 + 300 * r)) for r in range(2) for i in range(6)]
    yield "packed grid", (800, 600), [_face((10 + 100 * i, 10 + 120 * r, 70 + 100 * i, 80 + 120 * r)) for r in range(5) for i in range(8)]
    for n in range(30):
        width, height = int(rng.integers(300, 2500)), int(rng.integers(300, 2500))
        faces = []
        for _ in range(int(rng.integers(1, 9))):
            side = int(rng.integers(max(24, min(width, height) // 25), max(25, min(width, height) // 3)))
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            box = (x, y, x + side, y + side)
            if any(not (box[2] <= f.box[0] or f.box[2] <= box[0] or box[3] <= f.box[1] or f.box[3] <= box[1]) for f in faces):
                continue  # detected faces do not overlap
            eyes = ((x + 0.3 * side, y + 0.4 * side), (x + 0.7 * side, y + 0.42 * side)) if n % 2 else ()
            faces.append(_face(box, str(rng.choice(list(SCORES))), bool(rng.random() < 0.3), eyes))
        faces.sort(key=lambda f: -f.area)
        yield f"random {n}", (width, height), faces


@pytest.mark.parametrize("name, size, faces", list(_crowds()), ids=lambda v: v if isinstance(v, str) else "")
def test_labels_stay_inside_the_image_and_clear_of_each_other_and_of_eyes(name, size, faces):
    from fer.draw import _overlap, place_labels

    labels = place_labels(faces, size, numbers=range(1, len(faces) + 1))
    width, height = size
    for i, label in enumerate(labels):
        x0, y0, x1, y1 = label.rect
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, f"{label.text} leaves the image: {label.rect}"
        assert label.text.endswith("%") and label.text.startswith(f"{i + 1}: ")
        for other in labels[:i]:
            assert not _overlap(label.rect, other.rect), f"{label.text} covers {other.text}"
        for face in faces:
            assert not _overlap(label.rect, _eyes_of(face)), f"{label.text} covers the eyes of the face at {face.box}"
        # legible, and no taller than a quarter of its own face unless the face is small in the photo
        # (then a 14th of the photo's short side at most): the portrait's label was a third of the face
        assert label.font_size >= 9 and (y1 - y0) <= max(min(size) / 14, (faces[i].box[3] - faces[i].box[1]) / 4)


def test_a_face_filling_the_frame_gets_a_whole_legible_label_inside_it():
    from PIL import Image

    from fer.draw import place_labels

    face = _face((0, 0, 400, 400), "happy")
    (label,) = place_labels([face], (400, 400), numbers=[1])
    assert label.text == "1: happy 88%" and 14 <= label.font_size <= 20
    x0, y0, x1, y1 = label.rect
    assert y1 <= 0.3 * 400  # above the eyes, inside the frame
    out = draw_results(np.zeros((400, 400, 3), np.uint8), ImageResult([face], (400, 400)), numbered=True)
    assert (out[y0:y1, x0:x1] == (255, 190, 0)).all(axis=2).mean() > 0.4  # drawn where it was placed
    Image.fromarray(out)  # a valid RGB image


def test_numbers_name_faces_as_given():
    from fer.draw import place_labels

    faces = [_face((10, 10, 60, 60)), _face((100, 10, 150, 60))]
    assert [p.text.split(":")[0] for p in place_labels(faces, (200, 100), numbers=[3, 7])] == ["3", "7"]
