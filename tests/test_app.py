"""The Gradio app: its handlers directly, then the real server on 127.0.0.1 through gradio_client."""

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import EXAMPLES
from fer import load_image
from fer.results import FaceResult, ImageResult


@pytest.fixture(scope="module")
def app():
    import app as app_module

    return app_module


def test_handlers_take_files_and_number_the_faces(app):
    annotated, label, rows, status, shown = app.show(str(EXAMPLES / "two_faces.jpg"))
    assert annotated.shape[2] == 3 and len(rows) == 2 and status.startswith("2 faces: ")
    assert [row[0] for row in rows] == [1, 2]  # the numbers drawn on the image, largest first
    assert label.label == "Face 1 (the largest)"
    assert {c["label"] for c in label.value["confidences"]} == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert shown.annotated is annotated and len(shown.result.faces) == 2  # kept for picking a face
    annotated, label, rows, status, shown = app.show(str(EXAMPLES / "no_face_coffee.jpg"))
    assert rows == [] and status == app.NO_FACE and label.value["label"] == "no face found"
    assert app.show(None) == (None, None, [], "", None)
    frame, label, live = app.show_webcam(np.zeros((480, 640, 3), np.uint8), None, 5)
    assert frame.shape == (480, 640, 3) and label == "no face found" and live.tracker.window == 5


def _face(label, box=(0, 0, 10, 10)):
    return FaceResult(box=box, score=0.9, label=label, scores={label: 0.9, "sad": 0.1})


def test_status_line_counts_the_emotions_of_a_group(app):
    group = ImageResult([_face(label) for label in ("happy", "surprise", "happy", "neutral", "happy")], (100, 100))
    assert app._status(group, heat_map=False).startswith("5 faces: 3 happy, 1 neutral, 1 surprise. Numbered largest first")
    assert app._status(ImageResult([_face("sad")], (100, 100)), heat_map=True) == (
        "1 face: sad. Heat map: Grad-CAM++ of each face's label.")
    status, rows = app.show(str(EXAMPLES / "two_faces.jpg"))[3], app.show(str(EXAMPLES / "two_faces.jpg"))[2]
    counts = Counter(row[1] for row in rows)
    assert all(f"{n} {label}" in status.split(".")[0] for label, n in counts.items())


def _row_selected(row: list):
    from gradio import SelectData

    return SelectData(None, {"index": [row[0] - 1, 0], "value": row[0], "row_value": row})


def test_picking_a_face_shows_it_without_a_second_analysis(app, monkeypatch):
    annotated, _, rows, _, shown = app.show(str(EXAMPLES / "two_faces.jpg"))

    def no_second_analysis(*args, **kwargs):
        raise AssertionError("picking a face must not analyse the image again")

    monkeypatch.setattr(app.recognizer, "predict", no_second_analysis)
    image, label = app.pick_face_row(shown, _row_selected(rows[1]))
    second = shown.result.faces[1]
    assert label.label == "Face 2" and label.value["label"] == second.label == rows[1][1]
    x0, y0, x1, y1 = second.box
    changed = np.argwhere((image != annotated).any(axis=2))
    assert changed.size and (changed.min(axis=0) >= (y0 - 20, x0 - 20)).all() and (changed.max(axis=0) <= (y1 + 20, x1 + 20)).all()
    assert app.pick_face_row(shown, _row_selected(rows[0]))[1].label == "Face 1 (the largest)"

    from gradio import SelectData

    def click(x, y):
        return app.pick_face_at(shown, SelectData(None, {"index": [x, y], "value": None}))

    assert click((x0 + x1) // 2, (y0 + y1) // 2)[1].label == "Face 2"
    assert click(annotated.shape[1] - 1, annotated.shape[0] - 1) == app.gr.skip()  # beside every face: no change
    assert app.pick_face_row(None, _row_selected(rows[0])) == app.gr.skip()  # nothing analysed yet


def test_upload_offers_json_and_csv_named_after_the_file(app):
    path = str(EXAMPLES / "two_faces.jpg")
    outputs = app.show_upload(path, False, "Fast")
    assert len(outputs) == 7 and outputs[4] is not None
    json_path, csv_path = (Path(button.constructor_args["value"]) for button in outputs[5:])
    assert json_path.name == "two_faces_emotions.json" and csv_path.name == "two_faces_emotions.csv"
    expected = app.analyze(path, "Fast")
    width, height = Image.open(path).size
    assert json.loads(json_path.read_text()) == {"model": {"name": "Fast", "origin": "bundled"},
                                                  "image": {"width": width, "height": height}, **expected}
    assert_csv_matches(csv_path.read_text(), expected)
    hidden = app.show_upload(None)
    assert hidden[:5] == (None, None, [], "", None) and not hidden[5].constructor_args["visible"]


def assert_csv_matches(text: str, analysis: dict) -> None:
    """A downloaded CSV says what /analyze says: one row per face, numbered, the same figures."""
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["face"]) for r in rows] == list(range(1, len(analysis["faces"]) + 1))
    for row, face in zip(rows, analysis["faces"]):
        assert [int(row[k]) for k in ("x0", "y0", "x1", "y1")] == face["box"] and row["label"] == face["label"]
        assert float(row["score"]) == face["score"] and {k: float(row[k]) for k in face["scores"]} == face["scores"]


def test_upload_tab_picks_fast_or_accurate(app):
    path = str(EXAMPLES / "two_faces.jpg")
    fast, accurate = app.show(path, False, "Fast"), app.show(path, False, "Accurate")
    assert app.recognizer_for("Fast").model_origin == "bundled"  # FER_MODEL=bundled in tests: no Hub
    assert app.recognizer_for("Accurate").model_origin == "bundled:accurate"
    assert app.recognizer_for("Accurate") is app.recognizer_for("Accurate")  # loaded once
    assert len(fast[2]) == len(accurate[2]) == 2  # the same faces, each model's labels
    assert fast[1].value != accurate[1].value  # two different models' probabilities
    assert app.show(path, True, "Accurate")[0].shape == accurate[0].shape  # the heat map works for both
    with pytest.raises(app.gr.Error, match="Unknown model"):
        app.analyze(path, "Huge")


def test_webcam_follows_the_face_across_frames(app):
    frame = load_image(EXAMPLES / "grace_hopper.jpg")
    live = None
    for _ in range(3):
        annotated, label, live = app.show_webcam(frame, live, 3)
    assert [t.id for t in live.tracker.tracks] == [1] and len(live.tracker.tracks[0].history) == 3
    assert set(label) == set(app.recognizer.labels) and len(live.timeline.samples) == 3


def _webcam_jpegs(count: int) -> list[bytes]:
    """What the browser sends: JPEGs of a face moving a little from frame to frame."""
    face = load_image(EXAMPLES / "grace_hopper.jpg")
    frames = []
    for shift in range(count):
        buffer = io.BytesIO()
        Image.fromarray(np.roll(face, 4 * shift, axis=1)).save(buffer, format="JPEG", quality=90)
        frames.append(buffer.getvalue())
    return frames


def test_webcam_stream_answers_inline_and_plots_the_timeline_once_a_second(app, monkeypatch):
    first, second, third = _webcam_jpegs(3)
    shown, label, plot, summary, live = app.stream_webcam(first, None, 5)
    assert shown.url.startswith("data:image/jpeg;base64,") and shown.path is None  # inline: no file, no second request
    assert app.webcam_out.postprocess(shown) is shown and set(label) == set(app.recognizer.labels)
    assert plot.count("<polyline") == 7 and summary.endswith("% of the last 1 s")
    # within the second, frames update the image and label; the timeline waits (but records)
    shown2, label2, plot2, summary2, live = app.stream_webcam(second, live, 5)
    assert shown2.url != shown.url and plot2 == summary2 == app.gr.skip() and len(live.timeline.samples) == 2
    # the same frame again (the browser sampled the camera twice): the last answer, no analysis
    monkeypatch.setattr(app.recognizer, "predict", lambda *a, **k: pytest.fail("a repeated frame was analysed"))
    repeat = app.stream_webcam(second, live, 5)
    assert repeat[0] is shown2 and repeat[1:4] == (app.gr.skip(),) * 3 and len(live.timeline.samples) == 2
    monkeypatch.undo()
    live.plotted_at -= app.PLOT_EVERY_S  # a second later
    plot3 = app.stream_webcam(third, live, 5)[2]
    assert plot3.count(" ") > plot.count(" ")  # more points on the lines: the timeline grows
    assert app.stop_webcam() == (app.TIMELINE_PLACEHOLDER, "", None)  # the stream ended: start afresh


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
    # the model is an optional second argument; one-argument calls above keep the fast default
    accurate = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), "Accurate", api_name="/analyze")
    assert len(accurate["faces"]) == 2 and accurate != analysis
    _, accurate_label = client.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), "Accurate", api_name="/predict")
    assert accurate_label["confidences"] != label["confidences"]


def test_video_endpoint_through_gradio_client(server, tmp_path):
    from gradio_client import Client, handle_file

    from videos import face_video

    client = Client(server, verbose=False)
    video = face_video(tmp_path / "v.mp4", frames=6)
    annotated, plot, csv_file, summary = client.predict(handle_file(str(video)), 3, api_name="/analyze_video")
    assert os.path.exists(annotated["video"] if isinstance(annotated, dict) else annotated)
    assert os.path.exists(csv_file) and summary["analysed_frames"] == 2
