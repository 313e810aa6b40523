import csv
import json

import numpy as np
import pytest

from fer.__main__ import main
from fer.video import VideoError, analyze_video, browser_preview, codec_tag, plays_in_browsers
from videos import face_video, variable_timing, without_duration


def test_analysis_csv_plot_and_annotated_webm(recognizer, tmp_path, capfd):
    video = face_video(tmp_path / "pan.mp4", frames=12)
    seen = []
    capfd.readouterr()
    analysis = analyze_video(recognizer, video, every=2, annotated=tmp_path / "out.webm", progress=lambda f, d: seen.append(f))
    assert "not supported" not in capfd.readouterr().err  # OpenCV's false alarm on the VP8 tag it writes
    assert analysis.analysed_frames == 6 and analysis.frame_count == 12
    assert seen[-1] == pytest.approx(11 / 12, abs=0.01) and seen == sorted(seen)
    assert len(analysis.rows) == 6 and {r["face_id"] for r in analysis.rows} == {1}  # one face, followed
    assert [r["frame"] for r in analysis.rows] == [0, 2, 4, 6, 8, 10]
    rows = list(csv.DictReader(open(analysis.write_csv(tmp_path / "out.csv"))))
    assert list(rows[0])[:7] == ["frame", "time", "face_id", "x0", "y0", "x1", "y1"] and len(rows[0]) == 15
    assert list(rows[0])[-1] == "uncertain" and {r["uncertain"] for r in rows} <= {"True", "False"}
    assert sum(float(rows[0][k]) for k in recognizer.labels) == pytest.approx(1, abs=1e-3)
    assert (tmp_path / "out.webm").stat().st_size > 1000
    import cv2

    playback = cv2.VideoCapture(str(tmp_path / "out.webm"))
    assert playback.isOpened() and playback.read()[0]
    figure = analysis.plot()
    assert len(figure.axes) == 1 and len(figure.axes[0].lines) == 7


def test_the_summary_gives_each_face_its_frames_mean_probabilities_and_their_label():
    from fer.video import VideoAnalysis

    def row(frame, face, happy, neutral):
        return {"frame": frame, "time": frame / 10, "face_id": face, "happy": happy, "neutral": neutral}

    # face 1: happy in two frames of three, but the neutral frame is sure and the happy ones are not
    rows = [row(0, 1, 0.55, 0.45), row(1, 1, 0.55, 0.45), row(2, 1, 0.05, 0.95), row(0, 2, 0.9, 0.1)]
    tracks = VideoAnalysis(("happy", "neutral"), fps=10.0, frame_count=3, every=1, rows=rows, analysed_frames=3).summary()["tracks"]
    assert list(tracks) == ["1", "2"]  # the most often seen first
    assert tracks["1"] == {"frames": 3, "label": "neutral", "mean_scores": {"happy": 0.3833, "neutral": 0.6167}}
    assert tracks["2"] == {"frames": 1, "label": "happy", "mean_scores": {"happy": 0.9, "neutral": 0.1}}


def test_the_plot_draws_labels_that_have_no_colour_of_their_own():
    from fer.video import VideoAnalysis

    rows = [{"frame": 0, "time": 0.0, "face_id": 1, "happy": 0.7, "contempt": 0.3}]
    analysis = VideoAnalysis(("happy", "contempt"), fps=25.0, frame_count=1, every=1, rows=rows, analysed_frames=1)
    assert len(analysis.plot().axes[0].lines) == 2  # a model with a label of its own (FER+ has contempt)


def test_bad_videos_are_refused_with_reasons(recognizer, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(VideoError, match="cannot read|no readable frames"):
        analyze_video(recognizer, junk)
    with pytest.raises(VideoError, match="no such file"):
        analyze_video(recognizer, tmp_path / "missing.mp4")
    long = face_video(tmp_path / "long.mp4", frames=30, fps=10)
    with pytest.raises(VideoError, match="limit is 2 s"):
        analyze_video(recognizer, long, max_seconds=2)


def test_cli_video_with_csv(tmp_path, capsys):
    video = face_video(tmp_path / "pan.mp4", frames=6)
    assert main([str(video), "--every", "3", "--csv", str(tmp_path / "v.csv"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["error"] is None and record["video"]["analysed_frames"] == 2
    assert list(record["video"]["tracks"]) == ["1"]
    assert len(list(csv.DictReader(open(tmp_path / "v.csv")))) == 2


def test_a_video_cut_short_returns_what_was_analysed_and_says_where_it_stopped(recognizer, tmp_path):
    from fer.video import analyze_video
    from videos import face_video

    whole = face_video(tmp_path / "whole.avi", frames=40)
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the header still announces 40 frames
    analysis = analyze_video(recognizer, cut, every=1)
    assert 0 < analysis.analysed_frames < 40
    assert analysis.stopped_at is not None and "stopped at frame" in analysis.summary()["warning"]


def test_video_limits_name_the_limit(recognizer, tmp_path, monkeypatch):
    import fer.video
    from fer.video import VideoError, analyze_video, browser_preview, codec_tag, plays_in_browsers
    from videos import face_video

    video = face_video(tmp_path / "v.mp4", frames=10)
    monkeypatch.setattr(fer.video, "MAX_VIDEO_FRAMES", 5)
    with pytest.raises(VideoError, match=r"the limit is 5 \(FER_MAX_VIDEO_FRAMES raises it\)"):
        analyze_video(recognizer, video)
    monkeypatch.setattr(fer.video, "MAX_VIDEO_FRAMES", 1000)
    monkeypatch.setattr(fer.video, "MAX_VIDEO_PIXELS", 100)
    with pytest.raises(VideoError, match=r"megapixels a frame \(FER_MAX_VIDEO_PIXELS raises it\)"):
        analyze_video(recognizer, video)


def test_a_header_that_undercounts_frames_cannot_lift_the_limits(recognizer, tmp_path, monkeypatch):
    import cv2

    import fer.video

    video = face_video(tmp_path / "v.mp4", frames=30)

    def lying_header(path, max_seconds):  # as a crafted file would: the header claims 4 frames
        capture = cv2.VideoCapture(str(path))
        return capture, capture.get(cv2.CAP_PROP_FPS), 4

    monkeypatch.setattr(fer.video, "open_video", lying_header)
    monkeypatch.setattr(fer.video, "MAX_VIDEO_FRAMES", 8)
    analysis = analyze_video(recognizer, video, every=1)
    assert analysis.analysed_frames == 9  # 8 frames and the slack of one step; 30 without the check
    assert "stopped at the length limit" in analysis.summary()["warning"]
    monkeypatch.setattr(fer.video, "MAX_VIDEO_FRAMES", 100)  # a header that merely undercounts a short video
    whole = analyze_video(recognizer, video, every=1)
    assert whole.analysed_frames == 30 and "warning" not in whole.summary()


def test_a_csv_that_cannot_be_written_keeps_the_video_summary(tmp_path, capsys):
    video = face_video(tmp_path / "pan.mp4", frames=6)
    assert main([str(video), "--every", "3", "--csv", str(tmp_path / "no" / "such" / "v.csv"), "--json"]) == 1
    record = json.loads(capsys.readouterr().out)[0]
    assert record["video"]["analysed_frames"] == 2 and list(record["video"]["tracks"]) == ["1"]
    assert record["error"].startswith("video analysed, but the CSV could not be written")


def test_a_webm_recorded_in_a_browser_without_a_length_is_analysed(recognizer, tmp_path, monkeypatch):
    import fer.video

    video = without_duration(face_video(tmp_path / "webcam.webm", frames=12))
    seen = []
    analysis = analyze_video(recognizer, video, every=2, progress=lambda f, d: seen.append((f, d)))
    assert analysis.analysed_frames == 6 and analysis.frame_count == 12 and "warning" not in analysis.summary()
    assert seen[-1] == (None, "frame 11")  # no fraction where the length is unknown
    monkeypatch.setattr(fer.video, "MAX_VIDEO_FRAMES", 4)  # the limits hold while reading
    limited = analyze_video(recognizer, video, every=1)
    assert limited.analysed_frames == 5 and "stopped at the length limit" in limited.summary()["warning"]


class KeyframeSeeking:
    """A reader whose seeks land on the keyframe before (every 10th frame), as with some codecs, and
    which says where it is; each frame is filled with its own number."""

    def __init__(self, frames: int = 30):
        self.frames, self.position = frames, 0

    def set(self, prop, value):
        self.position = int(value) // 10 * 10
        return True

    def get(self, prop):
        return float(self.position)

    def grab(self):
        self.position += 1
        return self.position <= self.frames

    def retrieve(self):
        return True, np.full((2, 2, 3), self.position - 1, np.uint8)


def test_a_seek_that_lands_elsewhere_reads_through_from_the_first_frame():
    from fer.video import iter_frames

    frames = [(index, int(rgb[0, 0, 0])) for index, rgb in iter_frames(KeyframeSeeking(), every=2, start=14, stop=20)]
    assert frames == [(14, 14), (16, 16), (18, 18)]  # numbered as the frames they are
    assert list(iter_frames(KeyframeSeeking(frames=12), start=14)) == []  # the stream ends before the start


def test_a_browser_recording_with_variable_frame_timing_is_timed_by_its_frames(recognizer, tmp_path):
    # about 30 frames a second, unevenly, as MediaRecorder writes them: OpenCV reports 1000 fps
    times = [0, 37, 61, 102, 129, 170, 198, 240, 262, 301, 338, 360]
    video = variable_timing(without_duration(face_video(tmp_path / "webcam.webm", frames=12)), times)
    analysis = analyze_video(recognizer, video, every=2, annotated=tmp_path / "out.webm")
    assert analysis.fps == pytest.approx(11 / 0.360) and "warning" not in analysis.summary()
    # each frame at its own time, not frame number / mean rate (which is up to 20 ms off here)
    assert [r["time"] for r in analysis.rows] == pytest.approx([t / 1000 for t in times[::2]], abs=1e-6)
    import cv2

    playback = cv2.VideoCapture(str(tmp_path / "out.webm"))  # the annotated copy plays at that rate too
    assert playback.get(cv2.CAP_PROP_FPS) == pytest.approx(11 / 0.360 / 2, abs=0.01)


def test_an_annotated_video_sampled_below_a_frame_a_second_keeps_the_timing(recognizer, tmp_path):
    import cv2

    video = face_video(tmp_path / "v.mp4", frames=40, fps=10)
    analysis = analyze_video(recognizer, video, every=20, annotated=tmp_path / "out.webm")  # 0.5 fps
    assert [r["time"] for r in analysis.rows] == [0.0, 2.0]
    playback = cv2.VideoCapture(str(tmp_path / "out.webm"))
    shown = [playback.get(cv2.CAP_PROP_POS_MSEC) for _ in iter(playback.grab, False)]
    assert shown[-1] + 1000 / playback.get(cv2.CAP_PROP_FPS) == pytest.approx(4000)  # the source's 4 s


@pytest.mark.parametrize("fps", [float("nan"), float("inf")])
def test_a_frame_rate_that_is_not_a_number_is_refused(recognizer, tmp_path, monkeypatch, fps):
    import cv2

    import fer.video

    class Capture:  # as some backends report a stream without a usable rate
        def __init__(self, path, opencv=cv2.VideoCapture):
            self.capture = opencv(path)

        def get(self, prop):
            return fps if prop == cv2.CAP_PROP_FPS else self.capture.get(prop)

        def __getattr__(self, name):
            return getattr(self.capture, name)

    monkeypatch.setattr(fer.video.cv2, "VideoCapture", Capture)
    with pytest.raises(VideoError, match="no readable frames"):  # not times of NaN or 0 s, nor limits that never hold
        analyze_video(recognizer, face_video(tmp_path / "v.mp4", frames=4), max_seconds=2)


def test_an_analysis_that_fails_midway_leaves_no_half_written_video(recognizer, tmp_path):
    class FailingOnTheThirdFrame:
        labels, uncertain_below, calls = recognizer.labels, recognizer.uncertain_below, 0

        def predict(self, image, tiles=1):
            self.calls += 1
            if self.calls == 3:
                raise MemoryError
            return recognizer.predict(image, tiles=tiles)

    with pytest.raises(MemoryError):
        analyze_video(FailingOnTheThirdFrame(), face_video(tmp_path / "v.mp4", frames=6), annotated=tmp_path / "out.webm")
    assert not (tmp_path / "out.webm").exists()


def test_the_annotated_video_numbers_faces_as_the_plot_and_csv_do(recognizer, tmp_path, monkeypatch):
    import fer.video
    from videos import two_face_video

    drawn = []
    real = fer.video.draw_results

    def spy(image, result, numbered=False, numbers=None):
        drawn.append(list(numbers))
        return real(image, result, numbered=numbered, numbers=numbers)

    monkeypatch.setattr(fer.video, "draw_results", spy)
    analysis = analyze_video(recognizer, two_face_video(tmp_path / "two.mp4"), every=2, annotated=tmp_path / "out.webm")
    ids = analysis.track_ids()
    assert len(ids) == 2 and drawn and all(sorted(n) == ids for n in drawn)
    # each frame's numbers are its rows' face ids, in the same order
    frames = sorted({r["frame"] for r in analysis.rows})
    assert drawn == [[r["face_id"] for r in analysis.rows if r["frame"] == f] for f in frames]
    figure = analysis.plot()
    titles = [ax.get_title(loc="left") for ax in figure.axes]
    labels = analysis.summary()["tracks"]
    assert titles == [f"face {i}: {labels[str(i)]['label']} on average" for i in ids]
    # the legend has a band of its own, clear of the first panel's title
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legend = figure.legends[0].get_window_extent(renderer)
    from matplotlib.text import Text

    (title,) = [t.get_window_extent(renderer) for t in figure.axes[0].get_children()  # set_title(loc="left")'s text
                if isinstance(t, Text) and t.get_text() == titles[0]]
    assert not legend.overlaps(title)


def test_a_video_browsers_cannot_play_gets_a_small_webm_preview(tmp_path):
    import cv2

    mp4, webm = face_video(tmp_path / "opencv.mp4", frames=40), face_video(tmp_path / "clip.webm", frames=4)
    assert codec_tag(mp4) == "FMP4" and not plays_in_browsers(mp4)  # MPEG-4 Part 2, as OpenCV writes MP4
    assert codec_tag(webm) == "VP80" and plays_in_browsers(webm)
    preview = browser_preview(mp4, tmp_path / "preview.webm", seconds=2, max_side=160, max_fps=5)
    assert codec_tag(preview) == "VP80" and plays_in_browsers(preview)
    capture = cv2.VideoCapture(str(preview))
    frames = [f for ok, f in iter(capture.read, (False, None))]
    # 2 s of a 10 fps video at 5 fps: 10 frames, at most 160 px a side, the aspect ratio kept
    assert len(frames) == 10 and frames[0].shape[:2] == (120, 160)
    with pytest.raises(VideoError, match="cannot read"):
        browser_preview(_not_a_video(tmp_path), tmp_path / "p.webm")


def _not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    return path
