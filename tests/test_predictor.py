import numpy as np
import pytest
from PIL import Image

from conftest import EXAMPLES, shared
from fer import EMOTIONS, EmotionRecognizer, ImageResult, draw_results, load_image


def _check_face(face, size):
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]
    assert set(face.scores) == set(EMOTIONS)
    assert sum(face.scores.values()) == pytest.approx(1.0, abs=1e-6)
    assert face.label == max(face.scores, key=face.scores.get)
    assert 0 < face.score <= 1


def test_portrait(recognizer, grace_hopper):
    result = recognizer.predict(grace_hopper)
    assert isinstance(result, ImageResult) and len(result) == 1
    _check_face(result.main_face, result.size)


def test_several_faces_largest_first_in_one_classifier_call(recognizer, monkeypatch):
    calls = []
    original = recognizer.classifier.predict_proba
    monkeypatch.setattr(recognizer.classifier, "predict_proba", lambda faces: calls.append(len(faces)) or original(faces))
    result = recognizer.predict(EXAMPLES / "two_faces.jpg")
    assert len(result) == 2 and calls == [2]
    assert result.faces[0].area >= result.faces[1].area
    for face in result.faces:
        _check_face(face, result.size)


def test_photo_over_the_pixel_budget_is_analysed_smaller_with_boxes_in_its_own_pixels(recognizer, grace_hopper, monkeypatch):
    import fer.predictor

    image = load_image(grace_hopper)
    small = recognizer.predict(image).main_face
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # 16x the pixels, past the budget below
    monkeypatch.setattr(fer.predictor, "MAX_ANALYSIS_PIXELS", image.shape[0] * image.shape[1] * 2)
    seen = []
    detect = recognizer.detector.detect
    monkeypatch.setattr(recognizer.detector, "detect", lambda rgb, tiles=None: seen.append(rgb.shape) or detect(rgb, tiles))
    result = recognizer.predict(big)
    assert seen[0][0] * seen[0][1] <= image.shape[0] * image.shape[1] * 2  # the detector saw the smaller copy
    assert result.size == (big.shape[1], big.shape[0]) and len(result) == 1
    assert np.allclose(result.main_face.box, [4 * v for v in small.box], atol=0.05 * big.shape[1])


def test_no_face(recognizer):
    result = recognizer.predict(EXAMPLES / "no_face_coffee.jpg")
    assert result.faces == [] and result.main_face is None and result.to_dict() == {"faces": []}


def test_any_input_kind_gives_the_same_answer(recognizer, grace_hopper):
    reference = recognizer.predict(grace_hopper).to_dict()
    pil = Image.open(grace_hopper)
    assert recognizer.predict(pil).to_dict() == reference
    assert recognizer.predict(np.asarray(pil.convert("RGB"))).to_dict() == reference
    assert recognizer.predict(grace_hopper.read_bytes()).to_dict() == reference
    rgba = recognizer.predict(pil.convert("RGBA"))
    assert len(rgba) == 1 and rgba.main_face.box == recognizer.predict(grace_hopper).main_face.box
    grey = recognizer.predict(pil.convert("L"))
    assert len(grey) == 1


def test_tilted_face_is_found(recognizer):
    result = recognizer.predict(EXAMPLES / "tilted_portrait.jpg")
    assert len(result) == 1


def test_group_photo_from_shared_data(recognizer):
    result = recognizer.predict(shared("scenes", "dlib", "2007_007763.jpg"))
    assert len(result) >= 6
    for face in result.faces:
        _check_face(face, result.size)


def test_rgba_photo_from_shared_data(recognizer):
    path = shared("scenes", "face_recognition", "lin-manuel-miranda.png")
    assert Image.open(path).mode == "RGBA"
    assert len(recognizer.predict(path)) == 1


def test_plot_returns_an_annotated_copy(recognizer, grace_hopper):
    image = load_image(grace_hopper)
    before = image.copy()
    result = recognizer.predict(image)
    annotated = draw_results(image, result)
    assert annotated.shape == image.shape and annotated.dtype == np.uint8
    assert np.array_equal(image, before)  # the input is untouched
    x0, y0, x1, y1 = result.main_face.box
    assert not np.array_equal(annotated[y0:y1, x0:x1], image[y0:y1, x0:x1])


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_below_one_are_refused(workers):
    """0 read as "the default" and a negative count made every call wait forever for a worker."""
    with pytest.raises(ValueError, match="workers must be 1 or more"):
        EmotionRecognizer(workers=workers)


def test_each_face_is_labelled_from_its_own_crop_framed_as_the_model_says(recognizer):
    """predict() against its parts, run by hand: a fresh detector, a fresh classifier of the bundled
    folder, and each crop framed by that folder's config; labels in the folder's order."""
    from fer.classifier import EmotionClassifier
    from fer.detect import FaceDetector
    from fer.preprocess import crop_face
    from fer.source import BUNDLED_MODEL

    image = load_image(EXAMPLES / "two_faces.jpg")
    classifier = EmotionClassifier(BUNDLED_MODEL)
    detections = sorted(FaceDetector().detect(image), key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    expected = classifier.predict_proba(np.stack([crop_face(image, d, classifier.config.preprocessing) for d in detections]))
    result = recognizer.predict(image)
    assert len(result.faces) == len(detections) == 2
    for face, probabilities in zip(result.faces, expected):
        assert [face.scores[label] for label in classifier.labels] == pytest.approx(probabilities.tolist(), abs=1e-6)
        assert face.label == classifier.labels[int(np.argmax(probabilities))]
    # and what the photos show: the astronaut smiles
    assert recognizer.predict(EXAMPLES / "astronaut.jpg").main_face.label == "happy"


def test_an_opencv_frame_given_as_bgr_gets_the_files_answer(recognizer):
    import cv2

    path = EXAMPLES / "two_faces.jpg"
    frame = cv2.imread(str(path))  # BGR
    expected = recognizer.predict(str(path))
    told = recognizer.predict(frame, channels="BGR")
    assert [f.label for f in told.faces] == [f.label for f in expected.faces] and len(told.faces) == 2
    def probabilities(result):
        return np.array([list(f.scores.values()) for f in result.faces])

    assert np.allclose(probabilities(told), probabilities(expected), atol=1e-6)
    # read as RGB, the same frame is another picture: blue and red swapped change the answer
    swapped = recognizer.predict(frame)
    assert len(swapped.faces) != 2 or not np.allclose(probabilities(swapped), probabilities(expected), atol=0.02)
