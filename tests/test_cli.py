import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from fer.__main__ import format_table, main, parse_args


def test_json_one_object_per_input_and_errors_do_not_stop_the_batch(capsys, tmp_path, grace_hopper):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"garbage")
    code = main([str(grace_hopper), str(bad), str(EXAMPLES / "two_faces.jpg"), "--json", "--out", str(tmp_path / "out")])
    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["path"] for r in records] == [str(grace_hopper), str(bad), str(EXAMPLES / "two_faces.jpg")]
    assert records[0]["error"] is None and len(records[0]["faces"]) == 1
    face = records[0]["faces"][0]
    assert set(face) == {"box", "score", "label", "scores", "uncertain"} and len(face["box"]) == 4 and len(face["scores"]) == 7
    assert records[1]["error"] and records[1]["faces"] == []
    assert len(records[2]["faces"]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1_grace_hopper_fer.png", "3_two_faces_fer.png"]


def test_exit_code_is_non_zero_only_when_every_input_failed(capsys, tmp_path):
    assert main([str(tmp_path / "missing.jpg"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["error"].startswith("no such file")


def test_a_folder_gives_its_images_and_videos_and_an_empty_one_says_so(capsys, tmp_path, grace_hopper):
    import shutil

    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    shutil.copy(grace_hopper, photos / "b.jpg")
    shutil.copy(EXAMPLES / "two_faces.jpg", photos / "trip" / "a.jpg")
    (photos / "notes.txt").write_text("not a photo")  # not an image's name: left out, as python -m fer.batch does
    (photos / ".hidden.jpg").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    assert main([str(photos), str(tmp_path / "empty"), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in records] == [str(photos / "b.jpg"), str(photos / "trip" / "a.jpg"), str(tmp_path / "empty")]
    assert [len(r["faces"]) for r in records] == [1, 2, 0]
    assert records[2]["error"] == "this folder holds no image or video files"


def test_table_output(capsys, grace_hopper):
    assert main([str(grace_hopper), str(EXAMPLES / "no_face_coffee.jpg")]) == 0
    out = capsys.readouterr().out
    assert "grace_hopper.jpg: 1 face(s)" in out and "no_face_coffee.jpg: 0 face(s)" in out


def test_output_names_come_from_position_and_a_cleaned_name():
    from fer.__main__ import output_name

    assert output_name(3, 12, "a/b/photo.jpg", ".png") == "03_photo_fer.png"
    assert output_name(1, 2, "x/photo.jpg", ".png") != output_name(2, 2, "y/photo.jpg", ".png")  # no overwriting
    assert output_name(1, 1, "../../etc/passwd", ".png") == "1_passwd_fer.png"
    assert output_name(1, 1, "..jpg", ".png") == "1_image_fer.png"
    assert output_name(1, 1, "a\x1b[31m b;rm -rf.jpg", ".webm") == "1_a_31m_b_rm_-rf_fer.webm"
    assert output_name(1, 1, "émotion 😀 照片.jpg", ".png") == "1_émotion_照片_fer.png"
    assert len(output_name(1, 1, "x" * 500 + ".jpg", ".png").encode()) < 100


def test_any_failure_gives_its_own_record_without_internals(capsys, monkeypatch, tmp_path, grace_hopper):
    from fer.predictor import EmotionRecognizer

    real = EmotionRecognizer.predict

    def flaky(self, image, tiles=None):
        if image.shape[1] == 641:  # two_faces.jpg
            raise RuntimeError(f"boom in {tmp_path}/secret.py")
        return real(self, image, tiles)

    monkeypatch.setattr(EmotionRecognizer, "predict", flaky)
    code = main([str(EXAMPLES / "two_faces.jpg"), str(grace_hopper), "--json"])
    records = json.loads(capsys.readouterr().out)
    assert code == 0 and records[1]["error"] is None and len(records[1]["faces"]) == 1
    assert records[0]["error"] == "this file could not be analysed (an unexpected internal failure)"


def test_a_failed_annotated_copy_keeps_the_faces(capsys, monkeypatch, tmp_path, grace_hopper):
    from PIL import Image

    def full_disk(self, fp, *args, **kwargs):
        raise OSError(28, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", full_disk)
    assert main([str(grace_hopper), "--json", "--out", str(tmp_path / "out")]) == 1
    record = json.loads(capsys.readouterr().out)[0]
    assert len(record["faces"]) == 1 and str(tmp_path) not in record["error"]
    assert record["error"].endswith("could not be read or written (no space left on device)")


def test_out_folder_that_cannot_be_made(capsys, tmp_path, grace_hopper):
    (tmp_path / "file").write_text("x")
    assert main([str(grace_hopper), "--out", str(tmp_path / "file" / "sub")]) == 2
    assert "cannot create the --out folder" in capsys.readouterr().err


def test_a_model_that_cannot_load_is_a_clear_error(capsys, tmp_path, grace_hopper):
    (tmp_path / "model").mkdir()  # a folder without config.json
    assert main([str(grace_hopper), "--model", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m fer: cannot load the model: ") and "Traceback" not in err


def test_a_failed_annotated_copy_still_shows_the_faces_in_the_table(capsys, monkeypatch, tmp_path, grace_hopper):
    from PIL import Image

    def full_disk(self, fp, *args, **kwargs):
        raise OSError(28, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", full_disk)
    main([str(grace_hopper), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "ERROR faces found, but the annotated copy could not be saved" in out and "1 face(s)" in out


def test_the_table_says_when_a_video_was_only_partly_read():
    warning = ("decoding stopped at frame 12 of 30 (the file may be truncated or damaged); "
               "results cover the frames before it")
    video = {"duration": 3.0, "analysed_frames": 12, "tracks": {}, "warning": warning}
    assert f"  warning: {warning}" in format_table([{"path": "clip.webm", "video": video, "error": None}])


def test_every_below_one_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        parse_args(["clip.mp4", "--every", "0"])
    assert exit.value.code == 2 and "--every must be 1 or more" in capsys.readouterr().err


def test_the_video_length_limit_can_be_set(tmp_path, capsys):
    """A 2.4 s clip against a 2 s limit is refused with the limit named; a 3 s limit reads it."""
    from videos import face_video

    clip = face_video(tmp_path / "clip.webm", frames=24, fps=10.0)
    assert main([str(clip), "--json", "--max-video-seconds", "2"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["error"] == "clip.webm lasts 2.4 s; the limit is 2 s"
    assert main([str(clip), "--json", "--max-video-seconds", "3", "--every", "12"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["video"]["analysed_frames"] == 2
    for bad in ("0", "nan"):
        with pytest.raises(SystemExit) as exit:
            parse_args(["clip.mp4", "--max-video-seconds", bad])
        assert exit.value.code == 2 and "--max-video-seconds must be more than 0" in capsys.readouterr().err


def test_csv_naming_an_input_is_a_usage_error_not_a_lost_video(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the user's video")
    with pytest.raises(SystemExit) as exit:
        parse_args(["--csv", str(clip), str(clip)])
    assert exit.value.code == 2 and "is one of the inputs" in capsys.readouterr().err
    assert clip.read_bytes() == b"the user's video"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_results_stdout_cannot_take_give_a_line_and_exit_2_not_a_traceback(tmp_path):
    command = [sys.executable, "-m", "fer", str(tmp_path / "missing.jpg"), "--json"]
    env = dict(os.environ, FER_MODEL="bundled", PYTHONPATH=str(ROOT))
    with open("/dev/full", "w") as full:  # python -m fer ... > out.json on a full disk
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.rstrip().endswith("python -m fer: cannot write the results (no space left on device)")
    gone = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    gone.stdout.close()  # python -m fer ... | head: the reader left before the results came
    _, err = gone.communicate(timeout=300)
    assert gone.returncode == 2 and not any(word in err for word in ("Traceback", "BrokenPipe", "Exception")), err


def test_ctrl_c_prints_what_was_analysed_and_exits_130(capsys, monkeypatch, grace_hopper):
    import fer.__main__ as cli

    real, calls = cli.analyse, []

    def interrupted_on_the_second(recognizer, path, annotated=None):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(recognizer, path, annotated)

    monkeypatch.setattr(cli, "analyse", interrupted_on_the_second)
    code = main([str(grace_hopper), str(EXAMPLES / "two_faces.jpg"), str(EXAMPLES / "no_face_coffee.jpg"), "--json"])
    captured = capsys.readouterr()
    assert code == 130 and len(calls) == 2  # the third file is not started
    records = json.loads(captured.out)
    assert [r["path"] for r in records] == [str(grace_hopper)] and len(records[0]["faces"]) == 1
    assert "interrupted; the results below cover 1 of 3 file(s)" in captured.err


def test_ctrl_c_while_the_model_loads_exits_130_without_a_traceback(capsys, monkeypatch, grace_hopper):
    import fer.predictor

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fer.predictor, "EmotionRecognizer", interrupted)
    code = main([str(grace_hopper), "--json"])
    captured = capsys.readouterr()
    assert code == 130 and captured.out == ""
    assert "interrupted while the model loaded; no file was analysed" in captured.err


def test_a_terminal_gets_a_progress_bar_of_files_and_video_frames(capsys, monkeypatch, tmp_path, grace_hopper):
    import io

    import fer.__main__ as cli
    from videos import face_video

    class Terminal(io.StringIO):
        def close(self):  # the CLI closes its copy of the terminal; keep what was drawn
            self.drawn = self.getvalue()
            super().close()

    terminal = Terminal()
    monkeypatch.setattr(cli, "progress_stream", lambda: terminal)
    video = face_video(tmp_path / "clip.webm", frames=40)  # long enough for a redraw at tqdm's 0.1 s pace
    later = face_video(tmp_path / "later.webm", frames=40)
    assert main([str(grace_hopper), str(video), str(later), "--json"]) == 0
    drawn = terminal.drawn
    assert "1/3" in drawn and "clip.webm" in drawn and "frame " in drawn
    # the frames of a later video are drawn too (tqdm raises its redraw step as files finish)
    assert "frame " in drawn.split("later.webm", 1)[1]
    assert "1/3" not in capsys.readouterr().out  # stdout keeps the results alone


def test_a_progress_bar_only_where_stderr_is_a_terminal(monkeypatch):
    from fer.__main__ import progress_stream

    monkeypatch.setattr(os, "isatty", lambda fd: False)  # a log file or a pipe: no bar redraws in it
    assert progress_stream() is None
    monkeypatch.setattr(os, "isatty", lambda fd: fd == 2)
    stream = progress_stream()
    try:
        assert stream.errors == "replace"  # a name the terminal cannot encode is no failure
    finally:
        stream.close()


def test_the_table_marks_an_unsure_face_and_says_what_the_mark_means():
    scores = {"angry": 0.1, "disgust": 0.05, "fear": 0.05, "happy": 0.1, "sad": 0.41, "surprise": 0.09, "neutral": 0.2}
    face = {"box": [0, 0, 10, 10], "score": 0.9, "label": "sad", "scores": scores}
    table = format_table([{"path": "a.jpg", "faces": [{**face, "uncertain": True}], "error": None}])
    assert "sad?" in table and "?: unsure" in table
    sure = format_table([{"path": "a.jpg", "faces": [{**face, "uncertain": False}], "error": None}])
    assert "sad?" not in sure and "unsure" not in sure
