"""The Gradio app: its handlers directly, then the real server on 127.0.0.1 through gradio_client."""

import base64
import csv
import io
import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import live_stream
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
    assert label.label.startswith("Face 1 (the largest)")  # then ": unsure, ..." where the face is unsure
    assert {c["label"] for c in label.value["confidences"]} == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert len(shown.result.faces) == 2  # kept for picking a face, the image as the page shows it: JPEG
    largest = max(shown.result.faces, key=lambda f: f.area)
    assert {c["label"]: c["confidence"] for c in label.value["confidences"]} == pytest.approx(largest.scores)
    assert np.abs(shown.annotated.astype(int) - annotated).mean() < 2 and len(shown.jpeg) < annotated.nbytes / 4
    annotated, label, rows, status, shown = app.show(str(EXAMPLES / "no_face_coffee.jpg"))
    assert rows == [] and status == app.NO_FACE and label.value["label"] == "no face found"
    assert app.show(None) == (None, None, [], "", None)
    live = live_stream.LiveStream.of(app.recognizer, 5)
    answer = live_stream.live_answer(live, np.zeros((480, 640, 3), np.uint8), 1, 5)
    assert answer["size"] == [640, 480] and answer["faces"] == [] and answer["main"] is None
    assert answer["summary"] == "No face in view yet."


def _face(label, box=(0, 0, 10, 10), uncertain=False):
    return FaceResult(box=box, score=0.9, label=label, scores={label: 0.9, "sad": 0.1}, uncertain=uncertain)


def test_status_line_counts_the_emotions_of_a_group(app):
    group = ImageResult([_face(label) for label in ("happy", "surprise", "happy", "neutral", "happy")], (100, 100))
    assert app._status(group, heat_map=False).startswith("5 faces: 3 happy, 1 neutral, 1 surprise. Numbered largest first")
    assert app._status(ImageResult([_face("sad")], (100, 100)), heat_map=True) == (
        "1 face: sad. Heat map: Grad-CAM++ of each face's label.")
    status, rows = app.show(str(EXAMPLES / "two_faces.jpg"))[3], app.show(str(EXAMPLES / "two_faces.jpg"))[2]
    counts = Counter("unsure" if row[1].endswith(" (unsure)") else row[1] for row in rows)
    assert all(f"{n} {label}" in status.split(".")[0] for label, n in counts.items())


def test_unsure_faces_are_counted_apart_and_the_legend_says_what_that_means(app):
    """ "5 faces: 3 happy, 1 neutral, 1 unsure": a face under the model's threshold is not counted as
    its guess; the table marks it, and the legend (only where a face is unsure) gives the threshold."""
    group = ImageResult([_face("happy"), _face("neutral"), _face("sad", uncertain=True), _face("happy"), _face("happy")], (100, 100))
    status = app._status(group, heat_map=False)
    assert status.startswith("5 faces: 3 happy, 1 neutral, 1 unsure.")
    threshold = f"{app.recognizer.uncertain_below:.0%}"
    assert f"unsure: its top probability is under {threshold}" in status
    assert "unsure" not in app._status(ImageResult([_face("sad")], (100, 100)), heat_map=False)
    assert app._status(ImageResult([_face("fear", uncertain=True)], (100, 100)), heat_map=False).startswith(
        "1 face: unsure (perhaps fear, 90%).")
    assert [row[1] for row in app._face_rows(group)][2] == "sad (unsure)"
    assert "unsure" in app._face_label(group, 2).label and "unsure" not in app._face_label(group, 0).label


def test_predict_sends_whether_the_main_face_is_unsure(app):
    """/predict's label output: Gradio's Label value plus "uncertain", as /analyze gives it."""
    for uncertain in (False, True):
        value = app.api_label.postprocess(_face("sad", uncertain=uncertain))
        assert value["label"] == "sad" and value["uncertain"] is uncertain
        assert {c["label"] for c in value["confidences"]} == {"sad"}
    assert app.api_label.postprocess("no face found").label == "no face found"


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
    assert label.label.startswith("Face 2") and label.value["label"] == second.label == rows[1][1].removesuffix(" (unsure)")
    x0, y0, x1, y1 = second.box
    changed = np.argwhere((image != shown.annotated).any(axis=2))
    assert changed.size and (changed.min(axis=0) >= (y0 - 20, x0 - 20)).all() and (changed.max(axis=0) <= (y1 + 20, x1 + 20)).all()
    assert app.pick_face_row(shown, _row_selected(rows[0]))[1].label.startswith("Face 1 (the largest)")

    from gradio import SelectData

    def click(x, y):
        return app.pick_face_at(shown, SelectData(None, {"index": [x, y], "value": None}))

    assert click((x0 + x1) // 2, (y0 + y1) // 2)[1].label.startswith("Face 2")
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
    hidden = app.show_upload(None)  # Analyze with no photo, or the photo cleared: says what to do
    assert (hidden[0], hidden[2:5]) == (None, ([], app.NO_PHOTO, None)) and not hidden[5].constructor_args["visible"]
    assert _is_empty_main_face(hidden[1])


def _is_empty_main_face(label) -> bool:
    """The label widget emptied and titled as before any photo (not "Face 1 (the largest): unsure")."""
    return label.constructor_args["value"] is None and label.constructor_args["label"] == "Main face"


def test_a_bad_upload_after_a_good_one_clears_the_result_and_both_downloads(app, tmp_path):
    app.show_upload(str(EXAMPLES / "two_faces.jpg"), False, "Fast")
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a photo\n")
    image, label, rows, status, shown, json_button, csv_button = app.show_upload(str(fake), False, "Fast")
    assert (image, rows, shown) == (None, [], None) and _is_empty_main_face(label)
    assert status.startswith("**Cannot read this image") and status.endswith("**")
    for button in (json_button, csv_button):  # no download of the last photo's results stays offered
        assert button.constructor_args["value"] is None and not button.constructor_args["visible"]


def assert_csv_matches(text: str, analysis: dict) -> None:
    """A downloaded CSV says what /analyze says: one row per face, numbered, the same figures."""
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["face"]) for r in rows] == list(range(1, len(analysis["faces"]) + 1))
    for row, face in zip(rows, analysis["faces"]):
        assert [int(row[k]) for k in ("x0", "y0", "x1", "y1")] == face["box"] and row["label"] == face["label"]
        assert float(row["score"]) == face["score"] and {k: float(row[k]) for k in face["scores"]} == face["scores"]


def _listeners(app, component) -> list[dict]:
    """The event listeners a component triggers, as the page is told them (where trigger_mode acts)."""
    return [d for d in app.demo.config["dependencies"] if any(t[0] == component._id for t in d["targets"])]


def test_a_newer_photo_pick_or_example_is_answered_not_dropped(app):
    """While a listener runs, the page drops its new triggers under Gradio's default trigger_mode,
    "once": a second photo uploaded while the first was analysed left the first photo's result, and
    its downloads, beside the second (as did Analyze pressed again after switching the model); so did
    a face or an example picked while the last pick was on its way. "always_last" answers the newest."""
    (analysis,) = _listeners(app, app.upload)  # upload, clear, Analyze, settings: one listener, one at a time
    assert {tuple(t) for t in analysis["targets"]} == {(app.upload._id, "upload"), (app.upload._id, "clear"),
                                                       (app.run._id, "click"), (app.model_choice._id, "input"),
                                                       (app.heat_map._id, "input")}
    assert analysis["api_visibility"] == "private"
    picks = [d for panel in (app.upload_panel, app.example_panel) for part in panel[:3] for d in _listeners(app, part)]
    assert len(picks) == 4  # a row of the table and a click on the image, on both tabs
    for listener in [analysis, *picks, *_listeners(app, app.gallery)]:
        assert listener["trigger_mode"] == "always_last", listener["api_name"]
    (video,) = _listeners(app, app.video_run)
    assert video["trigger_mode"] == "once"  # a second click must not queue the same video again


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


def test_fer_model_sets_the_preselected_choice_and_what_each_choice_loads(app):
    assert app.choice_sources(None) == ("Fast", {"Fast": None, "Accurate": "accurate"})  # None: FER_MODEL or fast
    assert app.choice_sources("someone/emotions") == ("Fast", {"Fast": None, "Accurate": "accurate"})
    assert app.choice_sources("accurate") == ("Accurate", {"Fast": "fast", "Accurate": "accurate"})
    offline = {"Fast": "bundled", "Accurate": "bundled:accurate"}  # never the Hub, whichever is picked
    assert app.choice_sources("bundled") == ("Fast", offline)
    assert app.choice_sources("bundled:accurate") == ("Accurate", offline)


def test_webcam_follows_the_face_across_frames(app):
    frame = load_image(EXAMPLES / "grace_hopper.jpg")
    live = live_stream.LiveStream.of(app.recognizer, 3)
    for seq in range(1, 4):
        answer = live_stream.live_answer(live, frame, seq, 3)
    assert [t.id for t in live.tracker.tracks] == [1] and len(live.tracker.tracks[0].history) == 3
    assert set(answer["main"]) == set(app.recognizer.labels) and len(live.timeline.samples) == 3
    (face,) = answer["faces"]
    assert face["id"] == 1 and face["label"] == max(answer["main"], key=answer["main"].get)
    x0, y0, x1, y1 = face["box"]
    assert 0 <= x0 < x1 <= frame.shape[1] and 0 <= y0 < y1 <= frame.shape[0]
    # the label as photos place it (fer.draw.place_labels), for the page to draw: inside the frame
    tx0, ty0, tx1, ty1 = face["text_box"]
    assert 0 <= tx0 < tx1 <= frame.shape[1] and 0 <= ty0 < ty1 <= frame.shape[0] and face["font_size"] >= 9
    assert face["text"] == f"{face['label']}{'?' if face['uncertain'] else ''} {round(100 * face['confidence'])}%"


def _webcam_frames(count: int) -> list[str]:
    """What the page sends: JPEG data URLs of a face moving a little from frame to frame."""
    face = load_image(EXAMPLES / "grace_hopper.jpg")
    frames = []
    for shift in range(count):
        buffer = io.BytesIO()
        Image.fromarray(np.roll(face, 4 * shift, axis=1)).save(buffer, format="JPEG", quality=90)
        frames.append("data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return frames


@pytest.fixture
def live_streams(app, monkeypatch):
    """The app's live streams, emptied for one test."""
    monkeypatch.setattr(app, "live_streams", live_stream.LiveStreams(app.recognizer_for, app.MODEL_CHOICES, app.DEFAULT_CHOICE))
    return app.live_streams.streams


def test_live_frames_are_answered_with_faces_and_the_timeline_once_a_second(app, live_streams):
    first, second, third = _webcam_frames(3)
    answer = app.analyse_live_frame({"stream": "s1", "seq": 1, "frame": first, "window": 5})
    assert answer["seq"] == 1 and len(answer["faces"]) == 1 and set(answer["main"]) == set(app.recognizer.labels)
    assert answer["timeline"].count("<polyline") == 7 and answer["summary"].endswith("% of the last 1 s")
    json.dumps(answer)  # what the page receives
    # within the second, frames bring faces; the timeline waits (but records)
    answer2 = app.analyse_live_frame({"stream": "s1", "seq": 2, "frame": second, "window": 5})
    live = live_streams["s1"]
    assert "timeline" not in answer2 and len(answer2["faces"]) == 1 and len(live.timeline.samples) == 2
    # a frame overtaken by a newer one's answer (two are analysed at once) leaves the tracks alone
    assert app.analyse_live_frame({"stream": "s1", "seq": 1, "frame": first, "window": 5}) == {"seq": 1, "stale": True}
    assert len(live.timeline.samples) == 2
    live.plotted_at -= live_stream.PLOT_EVERY_S  # a second later
    answer3 = app.analyse_live_frame({"stream": "s1", "seq": 3, "frame": third, "window": 5})
    assert answer3["timeline"].count(" ") > answer["timeline"].count(" ")  # more points on the lines: it grows
    app.end_live_stream({"stream": "s1"})  # Stop: the next Start is a fresh stream
    assert live_streams == {}


def test_a_stream_runs_the_model_its_page_chose_and_keeps_it(app, live_streams):
    """The Webcam tab's model choice reaches the server in each frame; a stream keeps the model it
    opened with (the page starts a new stream for another), and an unknown one is refused."""
    first, second = _webcam_frames(2)
    accurate = app.recognizer_for("Accurate")
    assert "faces" in app.analyse_live_frame({"stream": "a", "seq": 1, "frame": first, "window": 5, "model": "Accurate"})
    assert live_streams["a"].recognizer is accurate and live_streams["a"].tracker.uncertain_below == accurate.uncertain_below
    assert "faces" in app.analyse_live_frame({"stream": "a", "seq": 2, "frame": second, "window": 5, "model": "Fast"})
    assert live_streams["a"].recognizer is accurate
    assert "faces" in app.analyse_live_frame({"stream": "b", "seq": 1, "frame": first, "window": 5})  # no model: the default
    assert live_streams["b"].recognizer is app.recognizer
    refused = app.analyse_live_frame({"stream": "c", "seq": 1, "frame": first, "window": 5, "model": "Huge"})
    assert refused == {"error": "Unknown model 'Huge': choose Fast or Accurate."} and "c" not in live_streams


def test_on_device_files_of_the_other_model_are_the_folder_the_server_runs_for_it(app):
    if app.ON_DEVICE_FILES is None:
        pytest.skip("the on-device runtimes are not installed (npm ci)")
    files = app.on_device_files({"model": "Accurate"})
    folder = app.recognizer_for("Accurate").model_folder
    assert files["model"].endswith(f"{folder}/model.tflite") and files["config"].endswith(f"{folder}/config.json")
    assert {k: v for k, v in files.items() if k not in ("model", "config")} == {
        k: v for k, v in app.ON_DEVICE_FILES.items() if k not in ("model", "config")}
    assert app.on_device_files({"model": "Fast"}) == app.ON_DEVICE_FILES
    assert app.on_device_files({"model": "Huge"}) is None and app.on_device_files(["Accurate"]) is None


def test_the_live_bars_show_the_face_the_timeline_follows(app, monkeypatch):
    """Two people in view: the timeline keeps following the one that was largest when it started,
    and the bars (``main``) must describe that same person when the other comes closer."""
    def face(box, label):
        return FaceResult(box, 0.9, label, {k: (0.94 if k == label else 0.01) for k in app.recognizer.labels})

    frames = iter([ImageResult([face((0, 0, 100, 100), "happy"), face((200, 0, 280, 80), "sad")], (640, 480)),
                   ImageResult([face((200, 0, 310, 110), "sad"), face((0, 0, 100, 100), "happy")], (640, 480))])
    monkeypatch.setattr(app.recognizer, "predict", lambda image, tiles=None: next(frames))
    live, image = live_stream.LiveStream.of(app.recognizer, 1), np.zeros((480, 640, 3), np.uint8)
    first = live_stream.live_answer(live, image, 1, 1, now=0.0)
    assert max(first["main"], key=first["main"].get) == "happy"
    second = live_stream.live_answer(live, image, 2, 1, now=0.1)  # the sad face is now the largest
    assert second["faces"][0]["label"] == "sad" and max(second["main"], key=second["main"].get) == "happy"


def test_an_ended_stream_stays_ended(app, live_streams):
    """Frames still on their way when a stream ends (Stop, its time limit, its page gone quiet) must
    not open it again: it would hold one of the server's places with nobody watching."""
    (frame,) = _webcam_frames(1)
    ended = {"error": "This stream has ended; press Start to begin a new one."}
    assert "faces" in app.analyse_live_frame({"stream": "s1", "seq": 1, "frame": frame, "window": 5})
    app.end_live_stream({"stream": "s1"})
    for seq in (1, 2, 3):
        assert app.analyse_live_frame({"stream": "s1", "seq": seq, "frame": frame, "window": 5}) == ended
    # a stream the server has never seen opens only with one of its first frames
    assert app.analyse_live_frame({"stream": "s2", "seq": live_stream.LIVE_IN_FLIGHT + 1, "frame": frame, "window": 5}) == ended
    assert live_streams == {}
    assert "faces" in app.analyse_live_frame({"stream": "s3", "seq": live_stream.LIVE_IN_FLIGHT, "frame": frame, "window": 5})


def test_live_streams_are_limited_in_number_and_length(app, live_streams, monkeypatch):
    (frame,) = _webcam_frames(1)
    for name in ("a", "b"):
        assert "faces" in app.analyse_live_frame({"stream": name, "seq": 1, "frame": frame, "window": 5})
    busy = app.analyse_live_frame({"stream": "c", "seq": 1, "frame": frame, "window": 5})
    assert busy == {"error": f"{live_stream.LIVE_STREAMS} webcam streams are running, as many as this server takes at once; "
                             "please try again in a minute."}
    live_streams["a"].seen_at -= live_stream.LIVE_IDLE_S + 1  # stream a's page was closed without a Stop
    assert "faces" in app.analyse_live_frame({"stream": "c", "seq": 1, "frame": frame, "window": 5})
    assert set(live_streams) == {"b", "c"}
    live_streams["b"].started_at -= live_stream.LIVE_TIME_LIMIT_S + 1
    ended = app.analyse_live_frame({"stream": "b", "seq": 2, "frame": frame, "window": 5})
    assert ended == {"error": f"A stream lasts {live_stream.LIVE_TIME_LIMIT_S} s; press Start to go on."} and "b" not in live_streams


def test_a_slow_server_does_not_end_a_stream_whose_frames_are_in_analysis(app, live_streams, monkeypatch):
    """The page sends its next frame only when one is answered, so frames that each take longer than
    LIVE_IDLE_S (a loaded server) leave a gap in arrivals: the stream is still watched and must go on,
    and another stream's frame meanwhile must not close it."""
    (frame,) = _webcam_frames(1)
    real_predict = app.recognizer.predict

    def slow_predict(image, tiles=None):  # the analysis outlasts LIVE_IDLE_S, and another page's frame comes
        monkeypatch.setattr(app.recognizer, "predict", real_predict)
        live_streams["a"].seen_at -= live_stream.LIVE_IDLE_S + 1
        assert "faces" in app.analyse_live_frame({"stream": "b", "seq": 1, "frame": frame, "window": 5})
        assert "a" in live_streams  # in analysis: not idle
        return real_predict(image, tiles=tiles)

    monkeypatch.setattr(app.recognizer, "predict", slow_predict)
    assert "faces" in app.analyse_live_frame({"stream": "a", "seq": 1, "frame": frame, "window": 5})
    # answered just now: its next frame (sent on that answer) goes on
    assert "faces" in app.analyse_live_frame({"stream": "a", "seq": live_stream.LIVE_IN_FLIGHT + 1, "frame": frame, "window": 5})
    live_streams["a"].seen_at -= live_stream.LIVE_IDLE_S + 1  # and a page gone quiet is still closed
    assert "faces" in app.analyse_live_frame({"stream": "b", "seq": 2, "frame": frame, "window": 5})
    assert set(live_streams) == {"b"}


def test_a_stream_has_no_more_frames_analysed_at_once_than_its_page_sends(app, live_streams, monkeypatch):
    """The page keeps LIVE_IN_FLIGHT frames on their way, but the server function is open to any
    caller: a script sending more frames of its stream at once must not have them all analysed (it
    would hold every worker, bypassing the queue that shares them between visitors). The extra
    frame is answered as a skipped one, which the page ignores."""
    (frame,) = _webcam_frames(1)
    real_predict, running, most = app.recognizer.predict, [0], [0]
    started, release, count = threading.Semaphore(0), threading.Event(), threading.Lock()

    def held_predict(image, tiles=None):  # the first frames stay in analysis until released
        with count:
            running[0] += 1
            most[0] = max(most[0], running[0])
            hold = running[0] <= live_stream.LIVE_IN_FLIGHT and not release.is_set()
        try:
            if hold:
                started.release()
                release.wait(timeout=30)
            return real_predict(image, tiles=tiles)
        finally:
            with count:
                running[0] -= 1

    monkeypatch.setattr(app.recognizer, "predict", held_predict)

    def send(seq):
        return app.analyse_live_frame({"stream": "s", "seq": seq, "frame": frame, "window": 5})

    with ThreadPoolExecutor(live_stream.LIVE_IN_FLIGHT + 1) as pool:
        first = [pool.submit(send, seq) for seq in range(1, live_stream.LIVE_IN_FLIGHT + 1)]
        for _ in first:  # LIVE_IN_FLIGHT frames are being analysed
            assert started.acquire(timeout=30)
        extra = pool.submit(send, live_stream.LIVE_IN_FLIGHT + 1)
        try:
            assert extra.result(timeout=30) == {"seq": live_stream.LIVE_IN_FLIGHT + 1, "stale": True}
        finally:
            release.set()
        answers = [f.result(timeout=60) for f in first]
    assert most[0] == live_stream.LIVE_IN_FLIGHT and any("faces" in a for a in answers)
    assert "faces" in send(live_stream.LIVE_IN_FLIGHT + 2)  # their places free again once answered


@pytest.mark.parametrize("message, error", [
    ({"stream": "s", "seq": 1, "frame": "data:text/plain;base64,aGk=", "window": 5}, "not an image"),
    ({"stream": "s", "seq": 1, "frame": "data:image/jpeg;base64,bm90IGEganBlZw==", "window": 5}, "Cannot read this camera frame"),
    ({"stream": "s", "seq": 1, "frame": "data:image/jpeg;base64,%%%", "window": 5}, "Cannot read this camera frame"),
    ({"stream": "s", "seq": "one", "frame": "", "window": 5}, "malformed"),
    ({"stream": "s", "seq": 1, "frame": "", "window": 99}, "malformed"),
    ({"seq": 1}, "malformed"),
    ([1, 2], "malformed"),
])
def test_bad_live_frames_get_a_message_not_a_crash(app, live_streams, message, error):
    answer = app.analyse_live_frame(message)
    assert set(answer) == {"error"} and error in answer["error"] and live_streams == {}


def test_heat_map_changes_the_picture(app):
    plain, heat = app.show(str(EXAMPLES / "grace_hopper.jpg"))[0], app.show(str(EXAMPLES / "grace_hopper.jpg"), heat_map=True)[0]
    assert plain.shape == heat.shape and (plain != heat).any()


def test_video_handler(app, tmp_path):
    from videos import face_video

    video, figure, csv_path, summary = app.analyze_video_file(str(face_video(tmp_path / "v.mp4", frames=6)), 2, progress=lambda *a, **k: None)
    assert video.endswith(".webm") and csv_path.endswith(".csv") and summary["analysed_frames"] == 3
    with pytest.raises(app.gr.Error) as refused:
        app.analyze_video_file(str(tmp_path / "missing.mp4"), 1, progress=lambda *a, **k: None)
    assert refused.value.message == "no such file: missing.mp4"  # fer.video's reason, not the catch-all


def test_a_new_video_clears_the_last_results_and_gets_a_preview_the_browser_plays(app, tmp_path):
    from fer.video import plays_in_browsers
    from videos import face_video

    webm, mp4 = face_video(tmp_path / "v.webm", frames=4), face_video(tmp_path / "v.mp4", frames=4)
    preview, note, *results = app.preview_video(str(webm))
    assert preview["value"] == str(webm) and preview["visible"] and note == "" and results == [None] * 4
    preview, note, *results = app.preview_video(str(mp4))  # OpenCV's MP4: converted, and said plainly
    assert preview["value"] != str(mp4) and plays_in_browsers(preview["value"]) and results == [None] * 4
    assert "does not play in browsers" in note and "reads the original" in note
    preview, note, *results = app.preview_video(None)
    assert preview["value"] is None and not preview["visible"] and note == "" and results == [None] * 4
    (tmp_path / "notes.mp4").write_text("not a video")
    preview, note, *_ = app.preview_video(str(tmp_path / "notes.mp4"))  # refused at once, not after Analyze
    assert not preview["visible"] and note == "**Cannot analyze this video:** cannot read notes.mp4 as a video"


def test_stop_ends_a_video_analysis_at_its_next_frame_and_only_that_sessions(app, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from videos import face_video

    video = str(face_video(tmp_path / "v.mp4", frames=12))
    visitor, other = SimpleNamespace(session_hash="visitor"), SimpleNamespace(session_hash="other")
    frames = []

    def progress(fraction, desc):  # the visitor presses Stop while the third frame is analysed
        frames.append(desc)
        app.stop_video(other)  # another session's Stop (or closed tab) does not touch this analysis
        if len(frames) == 3:
            app.stop_video(visitor)

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(app, "fresh_output_dir", lambda: out)
    with pytest.raises(app.gr.Error) as stopped:
        app.analyze_video_file(video, 1, visitor, progress=progress)
    assert stopped.value.message == app.VIDEO_STOPPED and len(frames) == 3  # was all 12 frames
    assert list(out.iterdir()) == [] and app._video_stops == {}  # no half-written video, nothing held
    assert app.analyze_video_file(video, 6, visitor, progress=lambda *a, **k: None)[3]["analysed_frames"] == 2  # runs again


def test_examples_are_ours_to_ship(app):
    names = {p.name for p in app.EXAMPLES}
    assert {"grace_hopper.jpg", "two_faces.jpg", "no_face_coffee.jpg"} <= names
    credits = (EXAMPLES / "CREDITS.md").read_text()
    assert all(name in credits for name in names)


def test_every_example_has_a_caption_for_its_alt_text(app):
    (gallery,) = [b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "examples-gallery"]
    captions = [item["caption"] for item in gallery.get_config()["value"]]
    assert len(captions) == len(app.EXAMPLES) and "No face coffee" in captions and all(captions)


def test_api_endpoints_through_gradio_client(server):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/predict", "/analyze"} <= set(endpoints)
    # the API page: parameters named, the model's choices listed, no raw markup in the descriptions
    predict_api = endpoints["/predict"]
    assert [p["label"] for p in predict_api["parameters"]] == ["image", "model"]
    assert [r["label"] for r in predict_api["returns"]] == ["annotated image", "main face"]
    assert predict_api["parameters"][1]["type"].get("enum") == ["Fast", "Accurate"]
    from urllib.request import urlopen

    with urlopen(f"{server.rstrip('/')}/gradio_api/info", timeout=30) as answer:
        info = json.load(answer)["named_endpoints"]
    assert all("`" not in info[name]["description"] and info[name]["description"] for name in ("/predict", "/analyze"))
    image_path, label = client.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), api_name="/predict")
    assert os.path.exists(image_path)
    assert label["label"] in {c["label"] for c in label["confidences"]} and len(label["confidences"]) == 7
    analysis = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/analyze")
    assert len(analysis["faces"]) == 2
    # /predict's confidences are the largest face's, as /analyze gives them
    _, two_label = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/predict")

    def area(face):
        return (face["box"][2] - face["box"][0]) * (face["box"][3] - face["box"][1])

    largest = max(analysis["faces"], key=area)
    assert {c["label"]: c["confidence"] for c in two_label["confidences"]} == pytest.approx(largest["scores"], abs=1e-4)  # /analyze rounds to 4 places
    assert set(analysis["faces"][0]) == {"box", "score", "label", "scores", "uncertain"}
    assert client.predict(handle_file(str(EXAMPLES / "no_face_coffee.jpg")), api_name="/analyze") == {"faces": []}
    # no face: /predict's label carries no confidences (None), which a caller must check for
    assert client.predict(handle_file(str(EXAMPLES / "no_face_coffee.jpg")), api_name="/predict")[1] == {
        "label": "no face found", "confidences": None}
    # the model is an optional second argument; one-argument calls above keep the fast default
    accurate = client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), "Accurate", api_name="/analyze")
    assert len(accurate["faces"]) == 2 and accurate != analysis
    accurate_path, accurate_label = client.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), "Accurate", api_name="/predict")
    assert accurate_label["confidences"] != label["confidences"]
    assert image_path.endswith(".jpeg") and accurate_path.endswith(".jpeg")  # not WebP, slow to encode when large
    # spelt as the CLI and the library spell it: the same model (a Radio once refused it)
    assert client.predict(handle_file(str(EXAMPLES / "two_faces.jpg")), "accurate", api_name="/analyze") == accurate


def test_video_endpoint_through_gradio_client(server, tmp_path):
    from gradio_client import Client, handle_file

    from videos import face_video

    client = Client(server, verbose=False)
    video = face_video(tmp_path / "v.mp4", frames=6)
    annotated, plot, csv_file, summary = client.predict(handle_file(str(video)), 3, api_name="/analyze_video")
    assert os.path.exists(annotated["video"] if isinstance(annotated, dict) else annotated)
    assert os.path.exists(csv_file) and summary["analysed_frames"] == 2


def test_an_expected_refusal_is_one_line_in_the_server_log_not_a_traceback(server, server_log, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    start = server_log.stat().st_size
    (tmp_path / "notes.jpg").write_text("not a photo")
    (tmp_path / "notes.mp4").write_text("not a video")
    calls = [("/predict", "notes.jpg"), ("/analyze", "notes.jpg"), ("/analyze_video", "notes.mp4")]
    for api, name in calls:
        with pytest.raises(Exception, match="Cannot read this image|cannot read notes.mp4 as a video"):
            client.predict(handle_file(str(tmp_path / name)), *([1] if api == "/analyze_video" else []), api_name=api)
    with pytest.raises(Exception, match="Unknown model"):
        client.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), "Largest", api_name="/analyze")
    time.sleep(0.5)  # the log is written by another process
    log = server_log.read_bytes()[start:].decode()
    refusals = [line for line in log.splitlines() if "refused: " in line]
    assert len(refusals) == 4 and "Traceback" not in log, log


def test_output_folders_expire_and_a_concurrent_sweep_is_harmless(app, tmp_path, monkeypatch):
    root = tmp_path / "results"
    monkeypatch.setattr(app, "OUTPUT_ROOT", root)
    root.mkdir()
    (root / "old").mkdir()
    os.utime(root / "old", (0, 0))  # 1970: long expired
    (root / "recent").mkdir()
    real_iterdir = Path.iterdir
    # as if another request's sweep removed a folder between this one's listing and its stat()
    monkeypatch.setattr(Path, "iterdir", lambda self: iter([*real_iterdir(self), self / "vanished"]))
    fresh = app.fresh_output_dir()
    assert fresh.parent == root and sorted(p.name for p in real_iterdir(root)) == sorted(["recent", fresh.name])


def test_every_listener_that_analyses_a_photo_waits_in_one_queue(app):
    """Gradio limits each listener apart unless they share a concurrency id: the Upload tab, the
    examples and both API endpoints once admitted a worker's count each, and the extra requests
    waited inside the recognizer, shown as "processing" rather than as a place in the queue."""
    listeners = list(app.demo.fns.values())
    shared = {f.name: f.concurrency_limit for f in listeners if f.concurrency_id == app.MODEL_QUEUE}
    assert shared == {"show_upload": "default", "show_example": "default", "predict": "default", "analyze": "default",
                      "annotate": "default"}
    videos = [f for f in listeners if f.name in ("analyze_video_file", "summarize_video")]
    # one video at a time, from the page or the API, in a slot of its own
    assert len(videos) == 2 and all(f.concurrency_id == app.VIDEO_QUEUE != app.MODEL_QUEUE and f.concurrency_limit == 1
                                    for f in videos)
