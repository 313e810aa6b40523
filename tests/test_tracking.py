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


def test_timeline_follows_the_main_face_and_keeps_the_last_seconds():
    from fer.tracking import EmotionTimeline

    tracker, timeline = FaceTracker(window=1), EmotionTimeline(seconds=10, patience=1)
    big, small = (0, 0, 200, 200), (300, 0, 350, 50)
    for t in range(12):  # one frame a second; the big face is happy for 4 s, then sad
        faces = tracker.update(ImageResult([face(big, "happy" if t < 4 else "sad"), face(small, "fear")]))
        timeline.add(float(t), faces)
    assert timeline.face_id == 1 and len(timeline.samples) == 11  # t = 1..11: the last 10 s
    times, series = timeline.series(11.0)
    assert times[0] == -10 and times[-1] == 0 and set(series) == set(LABELS) and len(series["sad"]) == 11
    assert timeline.most_seen(11.0) == ("sad", pytest.approx(8 / 11), 10.0)
    thinned, _ = timeline.series(11.0, max_points=4)
    assert len(thinned) <= 4 and thinned[-1] == 0  # the newest point is always kept


def test_timeline_waits_for_a_missing_face_then_starts_afresh():
    from fer.tracking import EmotionTimeline

    tracker, timeline = FaceTracker(window=1, max_missed=0), EmotionTimeline(seconds=30, patience=1)
    timeline.add(0.0, tracker.update(ImageResult([face((0, 0, 100, 100), "happy")])))
    other = tracker.update(ImageResult([face((400, 0, 500, 100), "sad")]))  # face 1 gone, face 2 appears
    timeline.add(0.5, other)
    assert timeline.face_id == 1 and len(timeline.samples) == 1  # within patience: still face 1's curve
    timeline.add(2.0, tracker.update(ImageResult([face((400, 0, 500, 100), "sad")])))
    assert timeline.face_id == 2 and [s["sad"] for _, s in timeline.samples] == [0.9]
    assert EmotionTimeline().most_seen(0.0) is None and EmotionTimeline().series(0.0) == ([], {})


def test_faces_that_cross_keep_their_ids_through_the_occlusion():
    """Two people walk past each other at 30 px a frame; while one hides the other the detector sees
    one face. Each track must keep its own face: the visible one on its way, the hidden one when it
    comes out on the far side (the last boxes alone would give it a new id, or its neighbour's)."""
    tracker = FaceTracker(window=3)
    ids = {}
    for frame in range(12):
        a = (30 * frame, 0, 30 * frame + 100, 100)  # walks right, in front
        b = (330 - 30 * frame, 0, 430 - 30 * frame, 100)  # walks left, behind a
        hidden = frame in (5, 6)  # b mostly behind a: only a is found
        faces = [face(a, "happy")] + ([] if hidden else [face(b, "sad")])
        tracked = tracker.update(ImageResult(faces))
        ids[frame] = [t.id for t in tracked]
    assert all(ids[f][0] == 1 for f in ids)  # a, throughout
    assert all(ids[f][1] == 2 for f in ids if len(ids[f]) == 2)  # b, before and after hiding


def test_a_standing_face_keeps_its_id_when_its_box_jitters():
    tracker = FaceTracker(window=3)
    for frame in range(10):
        jitter = 6 if frame % 2 else -6
        [tracked] = tracker.update(ImageResult([face((100 + jitter, 100, 200 + jitter, 200), "neutral")]))
        assert tracked.id == 1


def test_a_face_that_stops_while_it_is_missed_keeps_its_id():
    tracker = FaceTracker(window=3)
    for frame in range(6):  # walks right at 10 px a frame
        tracker.update(ImageResult([face((10 * frame, 0, 10 * frame + 100, 100), "happy")]))
    for _ in range(5):  # stops at x=50 (its last box), unseen for five frames
        tracker.update(ImageResult([]))
    [tracked] = tracker.update(ImageResult([face((50, 0, 150, 100), "happy")]))
    assert tracked.id == 1
