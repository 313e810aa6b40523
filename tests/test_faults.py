"""Faults: a corrupt or missing model file, a failing Hub, a full disk, a client that walks away.

Each gives a clear message or log line, and the server keeps serving.
"""

import errno
import logging

import pytest

from conftest import EXAMPLES
from fer import EmotionRecognizer
from fer.config import TFLITE_NAME
from fer.source import BUNDLED, DEFAULT_REPO_ID, MODELS
from test_source import hub, model_files  # noqa: F401  (the loopback Hub fixture)


def test_default_model_failing_its_sha256_falls_back_to_the_bundled_one(hub, caplog):  # noqa: F811
    hub.add_commit(DEFAULT_REPO_ID, model_files(**{TFLITE_NAME: b"not the exported model"}),
                   branch=MODELS["fast"].revision)  # at the pin, as train.push tags it
    with caplog.at_level(logging.ERROR, logger="fer.predictor"):
        recognizer = EmotionRecognizer(workers=1)
    assert recognizer.model_origin == BUNDLED
    assert "cannot be used" in caplog.text and "sha256" in caplog.text
    assert len(recognizer.predict(EXAMPLES / "grace_hopper.jpg").faces) == 1


def test_a_named_model_failing_its_sha256_is_refused(hub):  # noqa: F811
    hub.add_commit("someone/emotions", model_files(**{TFLITE_NAME: b"not the exported model"}))
    with pytest.raises(ValueError, match="sha256"):
        EmotionRecognizer("someone/emotions", workers=1)


def test_a_named_model_without_its_litert_file_is_refused(hub):  # noqa: F811
    files = model_files()
    del files[TFLITE_NAME]
    hub.add_commit("someone/emotions", files)
    with pytest.raises(FileNotFoundError, match="model.tflite"):
        EmotionRecognizer("someone/emotions", workers=1)


def test_full_disk_writing_the_csv_is_an_oserror_naming_the_cause(recognizer, tmp_path):
    from fer.video import analyze_video
    from videos import face_video

    analysis = analyze_video(recognizer, face_video(tmp_path / "v.mp4", frames=4), every=2)
    with pytest.raises(OSError) as err:
        analysis.write_csv("/dev/full")  # every write to /dev/full fails with ENOSPC
    assert err.value.errno == errno.ENOSPC


def test_app_says_the_disk_is_full_and_logs_it(monkeypatch, caplog, tmp_path):
    import app
    from videos import face_video

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "annotated.webm"))

    monkeypatch.setattr(app, "analyze_video", full_disk)
    with caplog.at_level(logging.ERROR, logger="app"), pytest.raises(app.gr.Error) as err:
        app.analyze_video_file(str(face_video(tmp_path / "v.mp4", frames=4)), 1, progress=lambda *a, **k: None)
    assert "disk is full" in str(err.value) and str(tmp_path) not in str(err.value)
    assert "analyze_video_file failed" in caplog.text  # the details stay in the server's log


def test_unexpected_errors_reach_the_visitor_without_internals(monkeypatch):
    import app

    def broken(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(app.recognizer, "predict", broken)
    with pytest.raises(app.gr.Error) as err:
        app.analyze(str(EXAMPLES / "grace_hopper.jpg"))
    assert "internal detail" not in str(err.value) and "KeyError" not in str(err.value)


def test_server_keeps_serving_after_clients_walk_away(server):
    from gradio_client import Client, handle_file

    for _ in range(3):  # submit and drop the connection before the answer
        job = Client(server, verbose=False).submit(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/analyze")
        job.cancel()
    answer = Client(server, verbose=False).predict(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/analyze")
    assert len(answer["faces"]) == 2
