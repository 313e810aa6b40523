"""The Gradio app: its handlers directly, then the real server on 127.0.0.1 through gradio_client."""

import os

import numpy as np
import pytest

from conftest import EXAMPLES
from fer import load_image


@pytest.fixture(scope="module")
def app():
    import app as app_module

    return app_module


def test_handlers_take_files_and_number_the_faces(app):
    annotated, label, rows, status = app.show(str(EXAMPLES / "two_faces.jpg"))
    assert annotated.shape[2] == 3 and len(rows) == 2 and "2 face(s)" in status
    assert [row[0] for row in rows] == [1, 2]  # the numbers drawn on the image, largest first
    assert label.label == "Face 1 (the largest)"
    assert {c["label"] for c in label.value["confidences"]} == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    annotated, label, rows, status = app.show(str(EXAMPLES / "no_face_coffee.jpg"))
    assert rows == [] and status == app.NO_FACE and label.value["label"] == "no face found"
    assert app.show(None) == (None, None, [], "")
    frame, label, tracker = app.show_webcam(np.zeros((480, 640, 3), np.uint8), None, 5)
    assert frame.shape == (480, 640, 3) and label == "no face found" and tracker.window == 5


def test_webcam_follows_the_face_across_frames(app):
    frame = load_image(EXAMPLES / "grace_hopper.jpg")
    tracker = None
    for _ in range(3):
        annotated, label, tracker = app.show_webcam(frame, tracker, 3)
    assert [t.id for t in tracker.tracks] == [1] and len(tracker.tracks[0].history) == 3
    assert set(label) == set(app.recognizer.labels)


def test_heat_map_changes_the_picture(app):
    plain, heat = app.show(str(EXAMPLES / "grace_hopper.jpg"))[0], app.show(str(EXAMPLES / "grace_hopper.jpg"), heat_map=True)[0]
    assert plain.shape == heat.shape and (plain != heat).any()


def test_video_handler(app, tmp_path):
    from videos import face_video

    video, figure, csv_path, summary = app.analyze_video_file(str(face_video(tmp_path / "v.mp4", frames=6)), 2, progress=lambda *a, **k: None)
    assert video.endswith(".webm") and csv_path.endswith(".csv") and summary["analysed_frames"] == 3
    with pytest.raises(app.gr.Error):
        app.analyze_video_file(str(tmp_path / "missing.mp4"), 1, progress=lambda *a, **k: None)


def test_examples_are_ours_to_ship(app):
    names = {p.name for p in app.EXAMPLES}
    assert {"grace_hopper.jpg", "two_faces.jpg", "no_face_coffee.jpg"} <= names
    credits = (EXAMPLES / "CREDITS.md").read_text()
    assert all(name in credits for name in names)


def test_api_endpoints_through_gradio_client(server):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    assert {"/predict", "/analyze"} <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    image_path, label = client.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), api_name="/predict")
    assert os.path.exists(image_path)
    assert label["label"] in {c["label"] for c in label["confidences"]} and len(label["confidences"]) == 7
    analysis = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/analyze")
    assert len(analysis["faces"]) == 2
    assert set(analysis["faces"][0]) == {"box", "score", "label", "scores"}
    assert client.predict(handle_file(str(EXAMPLES / "no_face_coffee.jpg")), api_name="/analyze") == {"faces": []}


def test_video_endpoint_through_gradio_client(server, tmp_path):
    from gradio_client import Client, handle_file

    from videos import face_video

    client = Client(server, verbose=False)
    video = face_video(tmp_path / "v.mp4", frames=6)
    annotated, plot, csv_file, summary = client.predict(handle_file(str(video)), 3, api_name="/analyze_video")
    assert os.path.exists(annotated["video"] if isinstance(annotated, dict) else annotated)
    assert os.path.exists(csv_file) and summary["analysed_frames"] == 2
