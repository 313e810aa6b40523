import pytest

from fer.results import FaceResult, ImageResult
from fer.tracking import FaceTracker

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def face(box, label, p=0.9):
    rest = (1 - p) / 6
    scores = {k: (p if k == label else rest) for k in LABELS}
    return FaceResult(box=box, score=0.9, label=label, scores=scores)


def test_ids_follow_moving_faces_and_new_faces_get_new_ids():
    tracker = FaceTracker(window=3)
    first = tracker.update(ImageResult([face((0, 0, 100, 100), "happy"), face((300, 0, 400, 100), "sad")]))
    assert [t.id for t in first] == [1, 2]
    moved = tracker.update(ImageResult([face((310, 5, 410, 105), "sad"), face((10, 0, 110, 100), "happy")]))
    assert [t.id for t in moved] == [2, 1]
    third = tracker.update(ImageResult([face((600, 0, 700, 100), "fear")]))
    assert third[0].id == 3


def test_one_odd_frame_does_not_flip_the_label():
    tracker = FaceTracker(window=5)
    box = (0, 0, 100, 100)
    for _ in range(4):
        tracker.update(ImageResult([face(box, "happy")]))
    glitch = tracker.update(ImageResult([face(box, "surprise", p=0.6)]))[0].face
    assert glitch.label == "happy"
    assert sum(glitch.scores.values()) == pytest.approx(1.0)


def test_window_of_one_is_no_smoothing_and_lost_tracks_expire():
    tracker = FaceTracker(window=1, max_missed=2)
    tracker.update(ImageResult([face((0, 0, 100, 100), "happy")]))
    assert tracker.update(ImageResult([face((0, 0, 100, 100), "sad")]))[0].face.label == "sad"
    for _ in range(3):
        tracker.update(ImageResult([]))
    assert tracker.tracks == []
    with pytest.raises(ValueError):
        FaceTracker(window=0)


def test_changing_the_window_keeps_the_history():
    tracker = FaceTracker(window=2)
    for label in ("happy", "happy"):
        tracker.update(ImageResult([face((0, 0, 50, 50), label)]))
    tracker.set_window(4)
    out = tracker.update(ImageResult([face((0, 0, 50, 50), "sad", p=0.95)]))[0].face
    assert out.label == "happy" and len(tracker.tracks[0].history) == 3
