"""The Webcam tab's server mode: camera frames sent by the page (app_webcam.js), each analysed, its
faces followed across the stream and answered with what the page draws over the video.

The page keeps up to ``LIVE_IN_FLIGHT`` frames on their way; each answer holds every face's box,
tracked label and confidence, where its label goes, the main face's probabilities and, every
``PLOT_EVERY_S``, the timeline of the last ``TIMELINE_S`` (a plot per frame would cost the server and
the browser more than the frame itself). ``LIVE_STREAMS`` streams run at once (the Space's two CPU
cores) and each lasts ``LIVE_TIME_LIMIT_S``, so one visitor cannot hold the server; a stream with no
frame arriving, in analysis or answered for ``LIVE_IDLE_S`` (its page closed) frees its place.
In on-device mode none of this runs: web/fer.js and web/tracking.js do the same in the page.
No Gradio here: the app hands :meth:`LiveStreams.analyse_frame` and :meth:`LiveStreams.end` to the
page as server functions.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from fer import EmotionRecognizer, ImageError, load_image
from fer.draw import COLORS, place_labels
from fer.tracking import EmotionTimeline, FaceTracker

log = logging.getLogger("app.live")

TIMELINE_S = 30
PLOT_EVERY_S = 1.0
LIVE_STREAMS = 2
LIVE_IN_FLIGHT = 2  # frames a page has on their way at once (app_webcam.js): only those can open a stream
LIVE_TIME_LIMIT_S = 120
LIVE_IDLE_S = 5.0
EMOTION_COLORS = {label: "#%02x%02x%02x" % rgb for label, rgb in COLORS.items()}  # as fer.draw draws the boxes


class LiveError(Exception):
    """A frame the live webcam cannot take; its message is shown to the visitor, who can press Start again."""


@dataclass
class LiveStream:
    """One webcam stream (a Start to a Stop in one visitor's page): the model it runs, faces followed
    across its frames, the main face's timeline, the newest frame answered, and when the timeline
    was last sent."""

    recognizer: EmotionRecognizer
    tracker: FaceTracker
    timeline: EmotionTimeline = field(default_factory=lambda: EmotionTimeline(TIMELINE_S))
    started_at: float = field(default_factory=time.monotonic)
    seen_at: float = field(default_factory=time.monotonic)
    last_seq: int = 0
    plotted_at: float = -math.inf
    analysing: int = 0  # its frames being analysed now: at most LIVE_IN_FLIGHT (see frame_slot)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, recognizer: EmotionRecognizer, window: int, **kwargs) -> LiveStream:
        """A stream of ``recognizer``, its faces smoothed over ``window`` frames and flagged unsure
        under the model's own threshold."""
        return cls(recognizer, FaceTracker(window=int(window), uncertain_below=recognizer.uncertain_below), **kwargs)

    def idle(self, now: float) -> bool:
        """Whether its page has gone quiet: no frame arrived or was answered for ``LIVE_IDLE_S`` and
        none is being analysed. A page sends its next frame only when one is answered, so a slow
        server (frames taking longer than LIVE_IDLE_S) must not read as a closed page."""
        with self.lock:
            return self.analysing == 0 and now - self.seen_at > LIVE_IDLE_S


@contextmanager
def frame_slot(live: LiveStream):
    """Yields whether a frame of ``live`` may be analysed now: while fewer than ``LIVE_IN_FLIGHT`` of
    its frames are. The page never sends more, but the server function is open to any script, and
    it bypasses the queue: unchecked, one stream's frames could hold every worker."""
    with live.lock:
        admitted = live.analysing < LIVE_IN_FLIGHT
        if admitted:
            live.analysing += 1
    try:
        yield admitted
    finally:
        if admitted:
            with live.lock:
                live.analysing -= 1
                live.seen_at = time.monotonic()  # answered: the page's next frame is on its way


def live_answer(live: LiveStream, image: np.ndarray, seq: int, window: int, now: float | None = None) -> dict:
    """One camera frame of a stream -> what the page draws over the video: every face's box, tracked
    label and confidence, the main face's probabilities (smoothed over ``window`` frames per face;
    the main face is the one the timeline follows, see :class:`fer.tracking.EmotionTimeline`),
    and, about once a second, the timeline and its summary. No tiling: webcam faces are close-ups.

    Two frames of a stream are analysed at once, so answers can finish out of order: a frame older
    than one already answered is answered ``{"seq": seq, "stale": True}``, leaving the tracks alone."""
    result = live.recognizer.predict(image, tiles=1)
    now = time.monotonic() if now is None else now
    with live.lock:
        if seq <= live.last_seq:
            return {"seq": seq, "stale": True}
        live.last_seq = seq
        live.tracker.set_window(int(window))
        tracked = live.tracker.update(result)
        live.timeline.add(now, tracked)
        # the bars show the face the timeline follows, so both describe one person; the largest
        # while that face is out of sight
        main = live.timeline.followed(tracked) or (tracked[0] if tracked else None)
        # where each label goes, by the photos' rule (fer.draw.place_labels: inside the frame, clear of
        # other labels and of eyes); the page draws it there, mirrored with the video
        labels = place_labels([t.face for t in tracked], result.size)
        answer = {
            "seq": seq,
            "size": list(result.size),
            "faces": [{"id": t.id, "box": list(t.face.box), "label": t.face.label, "confidence": round(t.face.confidence, 4),
                       "uncertain": t.face.uncertain, "text": placed.text, "text_box": list(placed.rect),
                       "font_size": placed.font_size} for t, placed in zip(tracked, labels)],
            "main": dict(main.face.scores) if main else None,
        }
        if now - live.plotted_at >= PLOT_EVERY_S:
            live.plotted_at = now
            answer["timeline"] = timeline_svg(live.timeline, now)
            answer["summary"] = timeline_summary(live.timeline, now)
    return answer


class LiveStreams:
    """The streams the server runs now, at most ``LIVE_STREAMS``. ``recognizer_for(model)`` gives the
    recognizer of a model choice (one of ``models``; ``default`` where a frame names none), shared
    with the photos."""

    def __init__(self, recognizer_for: Callable[[str], EmotionRecognizer], models: tuple[str, ...], default: str):
        self.recognizer_for = recognizer_for
        self.models = models
        self.default = default  # a frame that names no model (an older page) gets the app's preselected one
        self.streams: dict[str, LiveStream] = {}
        self.ended: deque[str] = deque(maxlen=256)  # recently ended: a late frame must not open them again
        self.lock = threading.Lock()

    def analyse_frame(self, message: dict) -> dict:
        """A frame from the page: ``message`` is ``{"stream": id, "seq": n, "frame": JPEG data URL,
        "window": smoothing, "model": choice (optional)}``; the answer is :func:`live_answer`'s,
        ``{"seq": n, "stale": True}`` for a frame not analysed (see :func:`frame_slot`), or
        ``{"error": message}`` for the page to show."""
        try:
            if not isinstance(message, dict):
                raise ValueError
            stream, seq, window = str(message["stream"]), int(message["seq"]), int(message["window"])
            model = str(message.get("model") or self.default)
            if not 1 <= window <= 15:
                raise ValueError
            if model not in self.models:
                raise LiveError(f"Unknown model {model!r}: choose {' or '.join(self.models)}.")
            image = frame_image(str(message["frame"]))
            # loaded before the streams' lock is taken: the first Accurate frame may download and
            # build the ensemble, and the other streams' frames must not wait for it
            recognizer = self.recognizer_for(model)
            live = self._stream(stream, seq, window, recognizer, time.monotonic())
            with frame_slot(live) as admitted:
                # a frame past the stream's share is skipped, as a stale one is: the page ignores both
                return live_answer(live, image, seq, window) if admitted else {"seq": seq, "stale": True}
        except LiveError as err:
            return {"error": str(err)}
        except (KeyError, TypeError, ValueError):
            return {"error": "The page sent a malformed frame; reload the page."}
        except Exception:
            log.exception("analyse_live_frame failed")
            return {"error": "Something went wrong while analysing the stream. It has been logged; press Start to try again."}

    def end(self, message: dict) -> None:
        """Stop pressed: the stream's place is free at once (else after ``LIVE_IDLE_S``)."""
        with self.lock:
            self._end(str(message.get("stream")))

    def _stream(self, key: str, seq: int, window: int, recognizer: EmotionRecognizer, now: float) -> LiveStream:
        """The stream ``key``, opened by its first frames if there is room. The page names each stream at
        random (a server function is not told the visitor's Gradio session). A frame of a stream that has
        ended (Stop, its time limit, its page gone quiet) is refused, not taken for a new stream; a
        stream keeps the model it opened with (the page starts a new stream for another)."""
        with self.lock:
            for old in [k for k, s in self.streams.items() if s.idle(now)]:
                self._end(old)  # its page closed without a Stop
            live = self.streams.get(key)
            if live is None:
                if seq > LIVE_IN_FLIGHT or key in self.ended:
                    raise LiveError("This stream has ended; press Start to begin a new one.")
                if len(self.streams) >= LIVE_STREAMS:
                    raise LiveError(f"{LIVE_STREAMS} webcam streams are running, as many as this server takes at once; "
                                    "please try again in a minute.")
                live = self.streams[key] = LiveStream.of(recognizer, window, started_at=now)
            if now - live.started_at > LIVE_TIME_LIMIT_S:
                self._end(key)
                raise LiveError(f"A stream lasts {LIVE_TIME_LIMIT_S} s; press Start to go on.")
            with live.lock:
                live.seen_at = max(live.seen_at, now)
            return live

    def _end(self, key: str) -> None:
        """Close a stream (the caller holds ``self.lock``)."""
        self.streams.pop(key, None)
        self.ended.append(key)


def frame_image(data_url: str) -> np.ndarray:
    """A camera frame as the page sends it, a JPEG data URL, decoded by ``fer.load_image`` as every
    image in the app is."""
    header, _, data = data_url.partition(",")
    if not (header.startswith("data:image/") and header.endswith(";base64")):
        raise LiveError("The page sent a frame that is not an image; reload the page.")
    try:
        return load_image(base64.b64decode(data, validate=True))
    except (ValueError, ImageError) as err:
        raise LiveError(f"Cannot read this camera frame: {err}") from None


def timeline_svg(timeline: EmotionTimeline, now: float, width: int = 600, height: int = 180) -> str:
    """The main face's probabilities over the last ``TIMELINE_S`` seconds as an inline SVG chart, a
    line per emotion in the colours of the boxes, with a legend. The cheapest chart to send and to
    draw: a gr.LinePlot re-renders its Vega chart on every update, which cost the page about a third
    of its frames in ``benchmarks/webcam_fps.py`` (the browser and the server share the machine)."""
    times, series = timeline.series(now)
    left, right, top, bottom = 40, width - 10, 24, height - 22  # the plot area: room for the labels and the title

    def x(seconds_ago: float) -> float:
        return left + (seconds_ago + TIMELINE_S) / TIMELINE_S * (right - left)

    def y(probability: float) -> float:
        return bottom - probability * (bottom - top)

    grid = "".join(f'<line x1="{left}" x2="{right}" y1="{y(p)}" y2="{y(p)}" stroke="#ddd"/>'
                   f'<text x="{left - 4}" y="{y(p) + 4}" text-anchor="end">{p:.0%}</text>' for p in (0, 0.5, 1))
    ticks = "".join(f'<text x="{x(t)}" y="{height - 6}" text-anchor="middle">{f"{t} s" if t else "now"}</text>'
                    for t in range(-TIMELINE_S, 1, 10))
    lines = "".join(f'<polyline fill="none" stroke="{EMOTION_COLORS.get(label, "#888")}" stroke-width="2" '
                    f'data-emotion="{html.escape(label)}" points="{" ".join(f"{x(t):.1f},{y(p):.1f}" for t, p in zip(times, values))}"/>'
                    for label, values in series.items())
    legend = " ".join(f'<span style="color:{EMOTION_COLORS.get(label, "#888")}">&#9632;</span> {html.escape(label)}' for label in series)
    return (f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" font-size="11" fill="currentColor" '
            f'aria-label="probability of each emotion over the last {TIMELINE_S} s">{grid}{ticks}{lines}</svg>'
            f'<div style="font-size:0.85em">{legend}</div>')


def timeline_summary(timeline: EmotionTimeline, now: float) -> str:
    seen = timeline.most_seen(now)
    if seen is None:
        return "No face in view yet."
    label, share, seconds = seen
    return f"<strong>{html.escape(label)}</strong> {share:.0%} of the last {max(1, round(seconds))} s"
