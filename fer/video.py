"""Emotions over time in a video file: every Nth frame through the predictor, faces followed by
:class:`fer.tracking.FaceTracker`, an annotated WebM (VP8, plays in browsers without ffmpeg), a CSV
and a plot of each emotion's probability over time per tracked face."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer.draw import draw_results
from fer.native_logs import quiet_native_logs
from fer.results import ImageResult
from fer.tracking import FaceTracker

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
CSV_FIELDS = ["frame", "time", "face_id", "x0", "y0", "x1", "y1"]
# limits on what one analysis reads, besides its duration (each can be raised by its variable)
MAX_VIDEO_PIXELS = int(os.environ.get("FER_MAX_VIDEO_PIXELS", 3840 * 2160))  # per frame: 4K
MAX_VIDEO_FRAMES = int(os.environ.get("FER_MAX_VIDEO_FRAMES", 108_000))  # an hour at 30 fps
# a reported frame rate above this is checked against the frames' timestamps (see _timestamp_fps)
MAX_PLAUSIBLE_FPS = 120
# what browsers' <video> plays, by the codec tag OpenCV's FFmpeg reader reports and the file's suffix:
# H.264, VP8, VP9 and AV1 in MP4 or WebM. MPEG-4 Part 2 (FMP4, XVID, DIVX: what OpenCV writes as
# "mp4v", and older cameras) decodes here but not in a browser, which then shows an error on upload
BROWSER_CODECS = {"avc1", "h264", "vp80", "vp90", "av01"}
BROWSER_CONTAINERS = {".mp4", ".m4v", ".webm"}


class VideoError(ValueError):
    """The video cannot be analysed (unreadable, empty, too long); the message says why."""


@dataclass
class VideoAnalysis:
    labels: tuple[str, ...]
    fps: float
    frame_count: int  # the header's count (approximate), or the frames read where it gives none
    every: int
    rows: list[dict] = field(default_factory=list)  # one per face per analysed frame, raw probabilities
    analysed_frames: int = 0
    analysed_until: int = 0  # the index of the last frame read, plus one
    annotated_path: Path | None = None
    stopped_at: int | None = None  # the frame where decoding failed before the end, if it did
    limit_reached: bool = False  # the stream ran on past the frames its header gave, up to the limits

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0

    def track_ids(self) -> list[int]:
        """Tracked faces, the most often seen first."""
        counts: dict[int, int] = {}
        for row in self.rows:
            counts[row["face_id"]] = counts.get(row["face_id"], 0) + 1
        return sorted(counts, key=lambda i: (-counts[i], i))

    def summary(self) -> dict:
        tracks = {}
        for track_id in self.track_ids():
            rows = [r for r in self.rows if r["face_id"] == track_id]
            mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in self.labels}
            tracks[str(track_id)] = {"frames": len(rows), "label": max(mean, key=mean.get), "mean_scores": mean}
        summary = {"fps": round(self.fps, 3), "frames": self.frame_count, "duration": round(self.duration, 3),
                   "every": self.every, "analysed_frames": self.analysed_frames, "tracks": tracks}
        if self.stopped_at is not None:
            summary["warning"] = (f"decoding stopped at frame {self.stopped_at} of {self.frame_count} "
                                  f"(the file may be truncated or damaged); results cover the frames before it")
        if self.limit_reached:
            summary["warning"] = (f"the video runs on past the length its header gives; analysis "
                                  f"stopped at the length limit, after frame {self.analysed_until}")
        return summary

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS + list(self.labels) + ["uncertain"])
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()})
        return path

    def plot(self, max_faces: int = 3):
        """A matplotlib figure: each emotion's probability over time, one panel per tracked face."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from fer.draw import COLORS

        ids = self.track_ids()[:max_faces] or [None]
        tracks = self.summary()["tracks"]
        fig, axes = plt.subplots(len(ids), 1, figsize=(9, 0.5 + 2.6 * len(ids)), squeeze=False, sharex=True)
        for ax, track_id in zip(axes[:, 0], ids):
            rows = [r for r in self.rows if r["face_id"] == track_id]
            times = [r["time"] for r in rows]
            for label in self.labels:
                ax.plot(times, [r[label] for r in rows], label=label, color=np.array(COLORS.get(label, (128, 128, 128))) / 255, lw=1.5)
            ax.set(ylim=(0, 1), ylabel="probability")
            # the number the annotated video draws beside the face, and its summary's label
            title = f"face {track_id}: {tracks[str(track_id)]['label']} on average" if track_id else "no face found"
            ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("time (s)")
        # one legend for every panel, in a band of its own below them (over the first panel it hid
        # that panel's title), and a margin on top, where the app's plot label sits over the figure
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, ncol=len(names) or 1, fontsize=8, loc="lower center", frameon=False)
        band = 0.35 / fig.get_figheight()
        fig.tight_layout(rect=(0, band, 1, 1 - band))
        return fig


def _seconds(value: float) -> str:
    """A duration to a tenth, rounded up, as people write it (2.4, 120): a video just over its limit
    never reads as lasting the limit itself."""
    return f"{math.ceil(round(value * 10, 6)) / 10:.1f}".removesuffix(".0")  # round: 0.7 * 10 is 7.000000000000001


def open_video(path: str | Path, max_seconds: float, max_frames: float | None = None,
               max_pixels: float | None = None) -> tuple[cv2.VideoCapture, float, int]:
    """(capture, frames per second, the header's frame count, 0 where it gives none), or a
    :class:`VideoError` saying why the video is refused.

    ``max_frames`` and ``max_pixels`` default to the app's limits (``MAX_VIDEO_FRAMES``,
    ``MAX_VIDEO_PIXELS``); the batch job, which reads long videos in chunks, lifts them with ``math.inf``.
    """
    max_frames = MAX_VIDEO_FRAMES if max_frames is None else max_frames
    max_pixels = MAX_VIDEO_PIXELS if max_pixels is None else max_pixels
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"no such file: {path.name}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"cannot read {path.name} as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    frames = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
    # a file written while it was recorded (a browser's MediaRecorder WebM) has no length in its
    # header: the count reads as 0 or hugely negative; 0 says "unknown", and the limits then hold
    # while the frames are read (analyze_video)
    frames = int(frames) if 0 < frames < 2**31 else 0
    if not 0 < fps < math.inf:  # 0, or NaN or infinite as some backends give: no time to put on frames
        capture.release()
        raise VideoError(f"{path.name} has no readable frames")
    if fps > MAX_PLAUSIBLE_FPS and (measured := _timestamp_fps(path)):
        frames, fps = round(frames * measured / fps), measured  # a count derived from the same rate
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    problem = None
    if frames / fps > max_seconds:
        problem = f"{path.name} lasts {_seconds(frames / fps)} s; the limit is {max_seconds:g} s"
    elif frames > max_frames:
        problem = f"{path.name} has {frames} frames; the limit is {max_frames:.0f} (FER_MAX_VIDEO_FRAMES raises it)"
    elif width * height > max_pixels:
        problem = (f"{path.name} is {width}x{height}; the limit is {max_pixels / 1e6:.1f} megapixels a frame "
                   f"(FER_MAX_VIDEO_PIXELS raises it)")
    if problem:
        capture.release()
        raise VideoError(problem)
    return capture, fps, frames


def codec_tag(path: str | Path) -> str:
    """The video codec's four-character tag as OpenCV reads the file ("avc1", "FMP4", "VP80"), or ""."""
    capture = cv2.VideoCapture(str(path))
    try:
        tag = int(capture.get(cv2.CAP_PROP_FOURCC)) if capture.isOpened() else 0
    finally:
        capture.release()
    return tag.to_bytes(4, "little").decode("latin-1").strip("\x00 ") if tag > 0 else ""


def plays_in_browsers(path: str | Path) -> bool:
    return Path(path).suffix.lower() in BROWSER_CONTAINERS and codec_tag(path).lower() in BROWSER_CODECS


def browser_preview(path: str | Path, out: str | Path, seconds: float = 10.0, max_side: int = 480,
                    max_fps: float = 15.0) -> Path:
    """A VP8 WebM copy of the first ``seconds`` of a video browsers cannot play, small (``max_side``
    pixels, ``max_fps``) so that it is ready in moments: a preview, while the analysis reads the
    original. Raises :class:`VideoError` where the video cannot be read at all."""
    capture, fps, _ = open_video(path, math.inf, math.inf, math.inf)  # the analysis applies the limits
    every = max(1, round(fps / max_fps))
    writer = None
    try:
        for _, rgb in iter_frames(capture, every, stop=int(seconds * fps)):
            scale = min(1.0, max_side / max(rgb.shape[:2]))
            size = (round(rgb.shape[1] * scale) // 2 * 2, round(rgb.shape[0] * scale) // 2 * 2)
            if writer is None:
                writer = _webm_writer(out, fps / every, *size)
            writer.write(cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise VideoError(f"no frame of {Path(path).name} could be decoded")
    return Path(out)


def analyze_video(
    recognizer,
    path: str | Path,
    every: int = 1,
    annotated: str | Path | None = None,
    max_seconds: float = 300.0,
    window: int = 3,
    progress: Callable[[float | None, str], object] | None = None,
) -> VideoAnalysis:
    """Analyse every ``every``-th frame; with ``annotated``, write those frames, boxed and labelled
    with probabilities smoothed over ``window`` analysed frames, to that ``.webm`` file."""
    if every < 1:
        raise VideoError("every must be at least 1")
    capture, fps, frame_count = open_video(path, max_seconds)
    analysis = VideoAnalysis(recognizer.labels, fps, frame_count, every)
    tracker = FaceTracker(window=window, uncertain_below=recognizer.uncertain_below)
    writer, finished = None, False
    # the header's frame count, which open_video checked, can be wrong (a damaged or crafted file):
    # the limits hold while reading too, with the slack that approximate counts need
    stop = int(min(MAX_VIDEO_FRAMES, max_seconds * fps) * 1.02) + every
    # OpenCV's WebM writer makes unreadable files below about a frame a second (0.5 fps fails for
    # 48 px frames, 0.08 for any), so slower rates repeat each frame: the video keeps the CSV's times
    repeat = math.ceil(every / fps)
    try:
        for index, rgb in iter_frames(capture, every, stop=stop):
            result = recognizer.predict(rgb, tiles=1)
            tracked = tracker.update(result)
            time_s = frame_time(capture, index, fps)  # once a frame, not once a face
            for item, raw in zip(tracked, result.faces):  # update() keeps the order of the faces
                analysis.rows.append({"frame": index, "time": time_s, "face_id": item.id,
                                      **dict(zip(["x0", "y0", "x1", "y1"], raw.box)), **raw.scores,
                                      "uncertain": raw.uncertain})
            analysis.analysed_frames += 1
            if annotated is not None:
                if writer is None:
                    writer = _webm_writer(annotated, fps / every * repeat, rgb.shape[1], rgb.shape[0])
                smoothed = ImageResult([t.face for t in tracked], result.size)
                # numbered by track id: the plot, the CSV and the summary name faces by it
                numbers = [t.id for t in tracked]
                frame = cv2.cvtColor(draw_results(rgb, smoothed, numbers=numbers), cv2.COLOR_RGB2BGR)
                for _ in range(repeat):
                    writer.write(frame)
            if progress is not None and frame_count:
                progress(min(1.0, (index + 1) / frame_count), f"frame {index + 1} of {frame_count}")
            elif progress is not None:  # no length known: no fraction to show
                progress(None, f"frame {index + 1}")
        read = index + 1 if analysis.analysed_frames else 0
        analysis.analysed_until = read
        if not frame_count:  # the frames the stream held (up to the limit), skipped ones included
            analysis.frame_count = max(read, int(capture.get(cv2.CAP_PROP_POS_FRAMES)))
        # the stream ended well before the frames its header announced (counts are approximate)
        if frame_count - read > max(2 * every, frame_count // 50):
            analysis.stopped_at = read
        elif read > stop - every and capture.grab():  # frames remain past the limit
            analysis.limit_reached = True
        finished = True
    finally:
        capture.release()
        if writer is not None:
            writer.release()
            if not finished:  # failed midway: no half-written video left to pass for the analysis
                Path(annotated).unlink(missing_ok=True)
    if analysis.analysed_frames == 0:
        raise VideoError(f"no frame of {Path(path).name} could be decoded")
    analysis.annotated_path = Path(annotated) if annotated is not None else None
    return analysis


def iter_frames(capture: cv2.VideoCapture, every: int = 1, start: int = 0,
                stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB frame)`` for every frame in ``[start, stop)`` whose index is a multiple of
    ``every``, until the stream ends. Skipped frames are only grabbed, not decoded into images,
    which is most of the cost of reading them. ``start`` seeks, so a long video can be read in
    frame ranges by several workers (:mod:`fer.batch`)."""
    if start and not _seek(capture, start):
        return
    index = start
    while stop is None or index < stop:
        if not capture.grab():
            return
        if index % every == 0:
            ok, bgr = capture.retrieve()
            if not ok:
                return
            yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1


def frame_time(capture: cv2.VideoCapture, index: int, fps: float) -> float:
    """Seconds from the start of the video to the frame ``capture`` read last: that frame's own
    timestamp, so a video with uneven frame timing (a phone's or a browser's recording) keeps its
    times, where frame number / mean rate drifts within the file; ``index / fps`` where the reader
    gives no timestamp (0, or -1, for every frame)."""
    ms = capture.get(cv2.CAP_PROP_POS_MSEC)
    return ms / 1000 if ms > 0 else index / fps


def _timestamp_fps(path: Path, frames: int = 60) -> float:
    """The mean frame rate of the first ``frames`` frames by their timestamps; 0.0 where they give none.

    A file with variable frame timing and no rate in its header (a browser's MediaRecorder WebM) has
    its time base reported as its frame rate, 1000 for WebM: every time and duration 1000 times short.
    """
    capture = cv2.VideoCapture(str(path))
    times = []
    try:
        while len(times) < frames and capture.grab():
            times.append(capture.get(cv2.CAP_PROP_POS_MSEC))
    finally:
        capture.release()
    return (len(times) - 1) * 1000 / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def _seek(capture: cv2.VideoCapture, start: int) -> bool:
    """Put ``capture`` at frame ``start``; False when the stream ends before it.

    Some containers and codecs land a seek elsewhere (the keyframe before, or a frame a broken
    index names), and the reader then reports where it landed: there the frames are read through
    from the first instead, slower but exact, so that frame numbers are right.
    """
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    if round(capture.get(cv2.CAP_PROP_POS_FRAMES)) == start:
        return True
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    if round(capture.get(cv2.CAP_PROP_POS_FRAMES)) != 0:
        raise VideoError(f"cannot seek to frame {start}, nor back to the first frame")
    return all(capture.grab() for _ in range(start))


def _webm_writer(path: str | Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    with quiet_native_logs():  # OpenCV warns that the VP80 tag "is not supported", then writes VP8
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), max(fps, 1.0), (width, height))
    if not writer.isOpened():
        raise VideoError("this OpenCV build cannot write VP8 WebM video")
    return writer
