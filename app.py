"""Gradio Space: the emotion of every face in a photo, a webcam stream, a video, or an example.

UI only: the work is ``fer.EmotionRecognizer.predict`` (and ``fer.video.analyze_video``,
``fer.tracking``); the functions here adapt typed results to Gradio components. Named API endpoints
(see README): ``/predict`` -> (annotated image, main face's confidences), ``/analyze`` ->
``{"faces": [...]}``, both with an optional second argument, the model ("Fast" or "Accurate"), and
``/analyze_video`` -> (annotated video, plot, CSV, summary). What a visitor picks afterwards (a face
of the table, a download) is answered from the result kept for them in ``gr.State``, not a second
analysis.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def tune_server_process() -> None:
    """Settings for a long-running server, made before Gradio is imported or any thread starts.

    - Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for the
      monitoring page this app turns off (``enable_monitoring=False``): CPU a request and memory that
      grow with traffic. Gradio reads these two variables when the queue is created.
    - glibc gives threads up to 8 malloc arenas per core, and the server's many threads (Gradio's,
      AnyIO's, MediaPipe's) each fragmenting their own made its RSS creep up under load (see
      ``benchmarks/soak.py``); two arenas are enough for two workers. ``MALLOC_ARENA_MAX`` in the
      environment, which glibc reads at start, still wins.
    - No usage analytics (Gradio sends some by default, and checks PyPI for a newer version): the
      page promises that nothing about a visit leaves the server. ``Blocks(analytics_enabled=False)``
      says it again for the Blocks.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**31))
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "100")
    if "MALLOC_ARENA_MAX" not in os.environ:
        try:
            ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX from glibc's malloc.h
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
            pass


tune_server_process()

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from fer import EmotionRecognizer, FaceResult, ImageError, ImageResult, load_image  # noqa: E402
from fer.draw import COLORS, draw_results, face_color, highlight_face, text_color  # noqa: E402
from fer.source import ACCURATE, BUNDLED, FAST  # noqa: E402
from fer.video import VideoError, analyze_video, browser_preview, codec_tag, open_video, plays_in_browsers  # noqa: E402

import on_device  # noqa: E402
from live_stream import (EMOTION_COLORS, LIVE_IN_FLIGHT, LIVE_STREAMS, LIVE_TIME_LIMIT_S, PLOT_EVERY_S,  # noqa: E402
                         TIMELINE_S, LiveStreams)

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logging.captureWarnings(True)  # Pillow's notes on odd files ("Corrupt EXIF data") go to the log, not stderr

EXAMPLES_DIR = Path(__file__).parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.jpg"))
NO_FACE = "No face found. Try a clearer, front-facing photo where the face is at least ~30 px wide."
FACE_TABLE_HEADERS = ["face", "emotion", "confidence", "box (x0, y0, x1, y1)", "detection score"]
MAX_VIDEO_SECONDS = float(os.environ.get("FER_MAX_VIDEO_SECONDS", 120))

MAX_UPLOAD_MB = int(os.environ.get("FER_MAX_UPLOAD_MB", 50))
# Privacy: every file a visitor's request leaves on this server (the upload, the annotated image, the
# downloads, the video's results, in Gradio's cache and in ours) is deleted this many seconds after it
# was written, checked every SWEEP_EVERY_S; what a tab keeps in memory (the last result, for picking a
# face) goes as soon: gr.State's time_to_live
KEEP_FILES_S = int(os.environ.get("FER_KEEP_FILES_S", 600))
SWEEP_EVERY_S = max(1, min(60, KEEP_FILES_S // 5))
log = logging.getLogger("app")

# The webcam (the Webcam tab): app_webcam.js plays the camera's video in the page and analyses its
# frames on the device (web/fer.js) or sends them to the server (live_stream.py); each answer is drawn
# over the video.
# asked of the camera: faces in a webcam are close-ups, and more pixels only cost the browser's JPEG
# encoding and the server's decoding
WEBCAM_SIZE = {"width": {"ideal": 640}, "height": {"ideal": 480}}
EMOTION_TEXT_COLORS = {label: "#%02x%02x%02x" % text_color(rgb) for label, rgb in COLORS.items()}
# an unsure face's box and label, muted as fer.draw mutes them, and the text on them
UNSURE_COLORS = {label: "#%02x%02x%02x" % face_color(label, True) for label in COLORS}
UNSURE_TEXT_COLORS = {label: "#%02x%02x%02x" % text_color(face_color(label, True)) for label in COLORS}
TIMELINE_PLACEHOLDER = f"The main face's emotions over the last {TIMELINE_S} s appear here while the webcam streams."

# The visitor picks a model on the Upload tab and in /predict and /analyze: "Fast" is FER_MODEL (the
# fast default unless set), "Accurate" the ensemble; FER_MODEL=accurate makes it the preselected one.
MODEL_CHOICES = ("Fast", "Accurate")


def choice_sources(fer_model: str | None) -> tuple[str, dict[str, str | None]]:
    """(the preselected choice, the model source behind each choice) for the app's ``FER_MODEL``."""
    fer_model = fer_model or ""
    if fer_model.partition(":")[0] == BUNDLED:  # offline by request: the bundled copy of either model
        sources = {"Fast": BUNDLED, "Accurate": f"{BUNDLED}:{ACCURATE}"}
        return ("Accurate" if fer_model == sources["Accurate"] else "Fast"), sources
    if fer_model == ACCURATE:
        return "Accurate", {"Fast": FAST, "Accurate": ACCURATE}
    return "Fast", {"Fast": None, "Accurate": ACCURATE}  # None: FER_MODEL (a repo, a folder) or fast


DEFAULT_CHOICE, MODEL_SOURCES = choice_sources(os.environ.get("FER_MODEL"))
# The listeners that analyse a photo share one queue, whose limit (demo.queue's default, one per
# worker) then holds for all of them together: Gradio counts each listener apart otherwise, and the
# requests over the workers waited inside the recognizer, shown as "processing", not as a place in line
MODEL_QUEUE = "photo analysis"
VIDEO_QUEUE = "video analysis"  # one video at a time, from the page or the API
_recognizers: dict[str, EmotionRecognizer] = {}
# one lock per choice: the first "Accurate" request, which may download the ensemble, must not hold
# up "Fast" requests meanwhile
_recognizer_locks = {choice: threading.Lock() for choice in MODEL_CHOICES}


def recognizer_for(choice: str | None = None) -> EmotionRecognizer:
    """The recognizer behind a model choice, loaded once on first use and shared by every request.

    API callers may spell it as the CLI and the library do ("accurate"): any case is taken.
    """
    choice = (choice or DEFAULT_CHOICE).strip().capitalize()
    if choice not in MODEL_CHOICES:
        raise refusal(f"Unknown model {choice!r}: choose {' or '.join(MODEL_CHOICES)}.")
    with _recognizer_locks[choice]:
        if choice not in _recognizers:
            _recognizers[choice] = EmotionRecognizer(MODEL_SOURCES[choice])
        return _recognizers[choice]


recognizer = recognizer_for(DEFAULT_CHOICE)  # the video and examples use the preselected model (the webcam, its own choice)
# the on-device webcam's runtimes and models (on_device.py), served from this origin; None without npm ci
gr.set_static_paths(on_device.static_paths([recognizer.model_folder]))
ON_DEVICE_FILES = on_device.files(recognizer.model_folder)


def image_file(**kwargs) -> gr.Image:
    """An image input whose upload reaches the handler as its file, unread: ``fer.load_image`` reads
    it, as it does for the CLI and the library, so all of them accept and refuse exactly the same
    files with the same messages (Gradio's own conversion refuses some with its internals in the
    message). Set on the instance: a gr.Image subclass would make Gradio write an app.pyi stub."""
    image = gr.Image(type="filepath", **kwargs)
    image.preprocess = lambda payload: None if payload is None else payload.path
    return image


def video_file(**kwargs) -> gr.File:
    """A video input as its uploaded file's path, read by ``fer.video`` (which says why it refuses a
    file). Not gr.Video: gr.Video plays the upload at once, and a format the browser cannot decode
    (OpenCV's MP4) shows "Video not playable" before the server sees it. And not gr.File's own
    preprocess, which leaves an empty temporary file in Gradio's cache for every call (6.31), outside
    what its cache deletion knows of."""
    file = gr.File(file_types=["video"], **kwargs)
    file.preprocess = lambda payload: None if payload is None else payload.path
    return file


def refusal(message: str) -> gr.Error:
    """An expected refusal (a bad upload, no input, an unknown model): the visitor's message and one
    line in the server log. Gradio would print a traceback for it, which only faults deserve."""
    log.info("refused: %s", message)
    return gr.Error(message, print_exception=False)


def clear_errors(handler):
    """Any failure reaches the visitor as a short message; the details go to the server log only
    (a traceback for faults, one line for refusals)."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except ImageError as err:
            raise refusal(f"Cannot read this image: {err}") from None
        except VideoError as err:
            raise refusal(str(err)) from None
        except OSError as err:
            log.exception("%s failed writing its results", handler.__name__)
            reason = "the server's disk is full" if err.errno == errno.ENOSPC else "the server could not write them"
            # logged above with its traceback; Gradio's own print of it would be a second copy
            raise gr.Error(f"The analysis ran but its results could not be saved: {reason}. Please try again later.",
                           print_exception=False) from None
        except Exception:
            log.exception("%s failed", handler.__name__)
            raise gr.Error("Something went wrong while analysing this input. It has been logged; please try another file.",
                           print_exception=False) from None

    return wrapper


def _confidences(result: ImageResult) -> FaceResult | str:
    """/predict's second output: the main face, which :func:`confidences_output` sends as its
    probabilities and ``uncertain``; or why there is none."""
    return result.main_face or "no face found"


def confidences_output(**kwargs) -> gr.Label:
    """/predict's label output, whose value for a face is Gradio's Label value plus one key,
    ``{"label", "confidences", "uncertain"}``, so API callers get the flag as /analyze gives it. Set on
    the instance, as :func:`image_file` does."""
    label = gr.Label(num_top_classes=7, **kwargs)
    plain = label.postprocess

    def postprocess(value):
        if isinstance(value, FaceResult):
            return {**plain(dict(value.scores)).model_dump(), "uncertain": value.uncertain}
        return plain(value)

    label.postprocess = postprocess
    return label


def _face_label(result: ImageResult, index: int = 0, model: str | None = None) -> gr.Label:
    """The label widget with one face's probabilities, titled with its number on the image and in
    the table (face 1, the largest, unless the visitor picked another), and "unsure" where it is."""
    if not result.faces:
        return gr.Label(value="no face found", label="Main face")
    face = result.faces[index]
    largest = " (the largest)" if index == 0 and len(result.faces) > 1 else ""
    unsure = f": unsure, its top probability is under {_unsure_percent(model)}" if face.uncertain else ""
    return gr.Label(value=dict(face.scores), label=f"Face {index + 1}{largest}{unsure}")


def _unsure_percent(model: str | None = None) -> str:
    threshold = recognizer_for(model).uncertain_below
    return f"{threshold:.0%}" if threshold is not None else "the model's threshold"


def _shown_label(face: FaceResult) -> str:
    """How a face counts in the status line: its emotion, or "unsure"."""
    return "unsure" if face.uncertain else face.label


def _status(result: ImageResult, heat_map: bool, model: str | None = None) -> str:
    """How many faces and how many of each emotion: "3 faces: 2 happy, 1 neutral." """
    if not result.faces:
        return NO_FACE
    if len(result.faces) == 1:
        face = result.faces[0]
        status = f"1 face: {face.label}." if not face.uncertain else f"1 face: unsure (perhaps {face.label}, {face.confidence:.0%})."
    else:
        # the sure emotions by count, then the unsure ones
        counts = sorted(Counter(_shown_label(f) for f in result.faces).items(), key=lambda kv: (kv[0] == "unsure", -kv[1], kv[0]))
        status = (f"{len(result.faces)} faces: {', '.join(f'{n} {label}' for label, n in counts)}. Numbered "
                  "largest first on the image and in the table: select a row, or click a face, for its probabilities.")
    if any(f.uncertain for f in result.faces):  # the legend, where it applies
        status += (f" A label with **?** and a muted box is unsure: its top probability is under {_unsure_percent(model)}, "
                   "so that guess is more likely wrong than right.")
    return status + (" Heat map: Grad-CAM++ of each face's label." if heat_map else "")


def _face_rows(result: ImageResult) -> list[list]:
    return [
        [i, f"{f.label} (unsure)" if f.uncertain else f.label, f"{f.confidence:.0%}", ", ".join(map(str, f.box)), round(f.score, 2)]
        for i, f in enumerate(result.faces, start=1)
    ]


def _analyse(source, tiles: int | None = None, model: str | None = None) -> tuple[np.ndarray, ImageResult]:
    """Every image, whatever the interface, enters through ``fer.load_image``."""
    if source is None:
        raise refusal("Please provide an image.")
    image = load_image(source)
    return image, recognizer_for(model).predict(image, tiles=tiles)


@clear_errors
def predict(path: str | None, model: str = DEFAULT_CHOICE):
    """API ``/predict`` (not an MCP tool: see :func:`api_only`): annotated image and the main
    (largest) face's confidences (with ``uncertain``).

    Args:
        path: the photo (JPEG, PNG, WebP, GIF, BMP or TIFF), as an http(s) URL or an uploaded file.
        model: "Fast" (the default, one CNN) or "Accurate" (an ensemble, a few times slower); any case.
    """
    image, result = _analyse(path, model=model)
    return draw_results(image, result, numbered=True), _confidences(result)


@clear_errors
def annotate(path: str | None, model: str = DEFAULT_CHOICE):
    """API ``/annotate`` (MCP tool ``annotate``): the photo with every face boxed, numbered and
    labelled with its emotion and confidence ("1: happy 87%"; "sad? 41%" and a muted box where unsure).

    Args:
        path: the photo (JPEG, PNG, WebP, GIF, BMP or TIFF), as an http(s) URL or an uploaded file.
        model: "Fast" (the default, one CNN) or "Accurate" (an ensemble, a few times slower); any case.
    """
    image, result = _analyse(path, model=model)
    return draw_results(image, result, numbered=True)


@clear_errors
def analyze(path: str | None, model: str = DEFAULT_CHOICE) -> dict:
    """API ``/analyze`` (MCP tool ``analyze``): every face with box, detection score, label, seven
    probabilities and ``uncertain``.

    Args:
        path: the photo (JPEG, PNG, WebP, GIF, BMP or TIFF), as an http(s) URL or an uploaded file.
        model: "Fast" (the default, one CNN) or "Accurate" (an ensemble, a few times slower); any case.
    """
    return _analyse(path, model=model)[1].to_dict()


@dataclass(frozen=True)
class Shown:
    """An analysed image as its tab shows it, kept for the visitor in ``gr.State``: picking a face
    draws its highlight on this copy, without analysing the image again.

    Kept as JPEG, as the page shows it: Gradio holds a closed tab's state for an hour, and as an
    array a 49-megapixel photo (a 768 KB upload) held 147 MB.
    """

    jpeg: bytes  # numbered boxes, on the heat map if one was asked for
    result: ImageResult
    model: str | None = None  # the choice that made it, whose threshold the "unsure" title names

    @classmethod
    def of(cls, annotated: np.ndarray, result: ImageResult, model: str | None = None) -> "Shown":
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError("the annotated image could not be encoded as JPEG")
        return cls(encoded.tobytes(), result, model)

    @property
    def annotated(self) -> np.ndarray:
        return load_image(self.jpeg)


def _panel(image: np.ndarray, result: ImageResult, heat_map: bool = False, model: str | None = None):
    base = recognizer_for(model).explain(image, result) if heat_map and result.faces else image
    annotated = draw_results(base, result, numbered=True)
    return annotated, _face_label(result, model=model), _face_rows(result), _status(result, heat_map, model), Shown.of(annotated, result, model)


@clear_errors
def show(path: str | None, heat_map: bool = False, model: str | None = None):
    """UI handler: annotated image (optionally with Grad-CAM++), face 1's label, every face's row,
    status, and the result kept for picking a face (:class:`Shown`)."""
    if path is None:
        return None, None, [], "", None
    image, result = _analyse(path, model=model)
    return _panel(image, result, heat_map, model)


NO_PHOTO = "Upload a photo (or paste one), then press **Analyze**; or pick one on the Examples tab."


@clear_errors
def show_upload(path: str | None, heat_map: bool = False, model: str | None = None):
    """The Upload tab: :func:`show`'s outputs, then the analysis to take away as JSON and as CSV.

    One truth on the page: a photo that cannot be read (or none) clears the last one's result, table
    and downloads, and the status line says why, where a raised error left the last photo's results
    (and its downloads) under red error marks."""
    # the label widget back to its own title too: the last photo's "Face 1 (the largest): unsure" stayed
    empty_label = gr.Label(value=None, label="Main face")
    try:
        outputs = show(path, heat_map, model) if path is not None else (None, empty_label, [], NO_PHOTO, None)
    except gr.Error as err:  # an upload refused (not an image, too large, ...): said once, in the status line
        outputs = (None, empty_label, [], f"**{err.message}**", None)
    shown = outputs[-1]
    if shown is None:
        return *outputs, gr.DownloadButton(value=None, visible=False), gr.DownloadButton(value=None, visible=False)
    json_path, csv_path = _write_downloads(shown.result, Path(path).stem, model)
    return *outputs, gr.DownloadButton(value=str(json_path), visible=True), gr.DownloadButton(value=str(csv_path), visible=True)


def _write_downloads(result: ImageResult, name: str, model: str | None) -> tuple[Path, Path]:
    """``NAME_emotions.json`` (what /analyze answers, plus the model and the image's size) and
    ``NAME_emotions.csv`` (a row per face), named after the uploaded file."""
    out = fresh_output_dir()
    about_model = {"name": model or DEFAULT_CHOICE, "origin": recognizer_for(model).model_origin}
    return (result.write_json(out / f"{name}_emotions.json", model=about_model),
            result.write_csv(out / f"{name}_emotions.csv"))


def _pick(shown: Shown | None, index: int | None):
    """One face's probabilities in the label widget and its box highlighted, from the kept result."""
    if shown is None or index is None or not 0 <= index < len(shown.result.faces):
        return gr.skip()  # nothing analysed yet, or a click beside every face
    return highlight_face(shown.annotated, shown.result.faces[index].box), _face_label(shown.result, index, shown.model)


def pick_face_row(shown: Shown | None, evt: gr.SelectData):
    """A cell of the faces table selected: its row's face. The row's first cell is the face's number,
    which stays right when the visitor has sorted the table."""
    return _pick(shown, int(evt.row_value[0]) - 1 if evt.row_value else None)


def pick_face_at(shown: Shown | None, evt: gr.SelectData):
    """A click on the result image (``evt.index``: the pixel, in the image's own size): the face there."""
    return _pick(shown, shown.result.face_at(*evt.index) if shown is not None and evt.index else None)


# the Webcam tab's server mode (live_stream.py); each stream runs the model its page chose
live_streams = LiveStreams(recognizer_for, MODEL_CHOICES, DEFAULT_CHOICE)


def analyse_live_frame(message: dict) -> dict:
    """The live webcam's server function (called by app_webcam.js, not an API endpoint): see
    :meth:`live_stream.LiveStreams.analyse_frame`."""
    return live_streams.analyse_frame(message)


def end_live_stream(message: dict) -> None:
    """Stop pressed: the stream's place is free at once."""
    live_streams.end(message)


_served_model_folders = {recognizer.model_folder}
_served_lock = threading.Lock()


def on_device_files(message: dict) -> dict | None:
    """The on-device webcam's files for ``{"model": choice}``, asked by the page when the visitor
    picks a model other than the preselected one (whose files came with the page): the folder of
    the model the server runs for that choice, so both modes answer with the same weights; its
    model.tflite and config.json are served from then on. None where npm ci was not run or the choice is unknown (the page then says so)."""
    if ON_DEVICE_FILES is None or not isinstance(message, dict) or message.get("model") not in MODEL_CHOICES:
        return None
    folder = recognizer_for(message["model"]).model_folder
    with _served_lock:
        if folder not in _served_model_folders:
            gr.set_static_paths(on_device.model_paths(folder))  # added to the paths Gradio serves
            _served_model_folders.add(folder)
    return on_device.files(folder)


_example_cache: dict[int, tuple] = {}


def example_caption(path: Path) -> str:
    """An example's caption, from its file name ("no_face_coffee.jpg" -> "No face coffee"): the
    gallery shows it under each picture and as its alt text."""
    return path.stem.replace("_", " ").capitalize()


@clear_errors
def show_example(evt: gr.SelectData):
    """Examples are analysed once and then answered from memory, so a click is instant."""
    if evt.index not in _example_cache:
        _example_cache[evt.index] = show(str(EXAMPLES[evt.index]))
    return _example_cache[evt.index]


OUTPUT_ROOT = Path(tempfile.gettempdir()) / "fer-app-results"


def fresh_output_dir() -> Path:
    """A new folder for one analysis's files (a video's results, an upload's downloads). Gradio serves
    copies from its own cache, so ours are only needed until the response is sent: folders older
    than :data:`KEEP_FILES_S` are removed here and by :func:`sweep_outputs_forever`."""
    sweep_outputs()
    return Path(tempfile.mkdtemp(dir=OUTPUT_ROOT))


def sweep_outputs() -> None:
    OUTPUT_ROOT.mkdir(exist_ok=True)
    for old in OUTPUT_ROOT.iterdir():
        try:
            expired = time.time() - old.stat().st_mtime > KEEP_FILES_S
        except FileNotFoundError:  # another request's sweep removed it first
            continue
        if expired:
            shutil.rmtree(old, ignore_errors=True)


def sweep_gradio_cache() -> None:
    """Files in Gradio's cache older than :data:`KEEP_FILES_S`, whoever wrote them. Gradio's own deletion
    (``delete_cache``) covers the files it tracks, and 6.31 does not track all it writes: an MCP
    client's photo, sent as a data URL, was kept until the server stopped. The files the page itself
    serves every visitor (the example gallery's copies: ``keep_in_cache``) stay."""
    cache = Path(gr.utils.get_upload_folder())
    kept = set().union(*(getattr(block, "keep_in_cache", set()) for block in demo.blocks.values()))
    now = time.time()
    for path in list(cache.rglob("*")) if cache.is_dir() else ():  # listed first: folders go as it runs
        try:
            if path.is_file() and str(path) not in kept and now - path.lstat().st_ctime > KEEP_FILES_S:
                path.unlink()
                if path.parent != cache and not any(path.parent.iterdir()):
                    path.parent.rmdir()
        except OSError:  # gone meanwhile (Gradio's own sweep), or a folder filled again
            continue


def sweep_outputs_forever() -> None:
    """Our own result folders, and what Gradio's cache deletion misses, go on the same schedule,
    visitors or not."""
    while True:
        time.sleep(SWEEP_EVERY_S)
        try:
            sweep_outputs()
            sweep_gradio_cache()
        except Exception:  # a folder gone mid-walk, say: the next sweep goes on, the thread lives
            log.exception("sweeping old files failed; trying again in %s s", SWEEP_EVERY_S)


# The video analysis under way in each session, by session: Stop, or the visitor closing the tab, sets
# its event. Gradio's own cancel only stops waiting for the answer; the analysis runs in a thread
# of its own and, unstopped, held the only video slot (concurrency 1) to the last frame.
_video_stops: dict[str, threading.Event] = {}
_video_stops_lock = threading.Lock()
VIDEO_STOPPED = "Stopped before the end; nothing was kept. Analyze again, perhaps every few frames, to see it whole."


@clear_errors
def analyze_video_file(path: str | None, every: int, request: gr.Request = None, progress=gr.Progress()):
    """API ``/analyze_video`` (not an MCP tool: :func:`summarize_video` is): annotated WebM,
    probability-over-time plot, CSV, per-face summary.

    Args:
        path: the video (MP4, WebM, MOV, AVI, MKV; up to FER_MAX_VIDEO_SECONDS, 120 s by default), as an http(s) URL or an uploaded file.
        every: analyse every Nth frame (1 to 30; 5 is a good start).
    """
    if not path:
        raise refusal("Please upload a video.")
    session, stop = _session_of(request), threading.Event()
    with _video_stops_lock:
        _video_stops[session] = stop

    def report(fraction, desc):
        if stop.is_set():
            raise VideoError(VIDEO_STOPPED)  # analyze_video then removes its half-written video
        progress(fraction, desc=desc)

    try:
        out = fresh_output_dir()
        analysis = analyze_video(recognizer, path, every=int(every), annotated=out / "annotated.webm",
                                 max_seconds=MAX_VIDEO_SECONDS, progress=report)
    finally:
        with _video_stops_lock:
            if _video_stops.get(session) is stop:
                del _video_stops[session]
    return str(analysis.annotated_path), analysis.plot(), str(analysis.write_csv(out / "emotions.csv")), analysis.summary()


PREVIEW_SECONDS = 10


def preview_video(path: str | None):
    """A new video (or none): the last one's results leave the page, the video is checked against
    the limits at once, and the visitor sees it. A video the browser cannot play (MPEG-4 Part 2, as
    OpenCV writes MP4) gets a converted preview and a plain note instead of the browser's error."""
    no_results = (None, None, None, None)
    if not path:
        return gr.update(value=None, visible=False), "", *no_results
    try:
        open_video(path, MAX_VIDEO_SECONDS)[0].release()
        if plays_in_browsers(path):
            return gr.update(value=path, visible=True), "", *no_results
        preview = browser_preview(path, fresh_output_dir() / "preview.webm", seconds=PREVIEW_SECONDS)
    except VideoError as err:
        log.info("video refused: %s", err)
        return gr.update(value=None, visible=False), f"**Cannot analyze this video:** {err}", *no_results
    codec = codec_tag(path) or "unknown"
    note = (f"This video's format (codec {codec}) does not play in browsers, so the preview is a converted "
            f"copy of its first {PREVIEW_SECONDS} s. **Analyze video** reads the original, all of it.")
    return gr.update(value=str(preview), visible=True), note, *no_results


@clear_errors
def summarize_video(path: str | None, every: int = 5, progress=gr.Progress()) -> dict:
    """API ``/summarize_video`` (MCP tool ``summarize_video``): each face followed through a short
    video, with the frames it was seen in, its mean probability of each emotion and its label; the
    video's length and frame rate. No files: what an agent can read.

    Args:
        path: the video (MP4, WebM, MOV, AVI, MKV; up to FER_MAX_VIDEO_SECONDS, 120 s by default), as an http(s) URL or an uploaded file.
        every: analyse every Nth frame (1 to 30; 5 is a good start).
    """
    if not path:
        raise refusal("Please upload a video.")
    return analyze_video(recognizer, path, every=int(every), max_seconds=MAX_VIDEO_SECONDS,
                         progress=lambda fraction, desc: progress(fraction, desc=desc)).summary()


def api_only(handler):
    """Kept off the MCP tool list, as an endpoint with several outputs: Gradio 6.31 lists every public
    endpoint as a tool, except functions it marks (``_mcp_type``) as resources or prompts, and gives an
    agent a multi-output answer as one Python repr; ``annotate`` and ``summarize_video`` answer agents."""
    handler._mcp_type = "api only"
    return handler


def stop_video(request: gr.Request = None) -> None:
    """The Video tab's Stop, and a closed tab: end the session's analysis at its next frame."""
    with _video_stops_lock:
        stop = _video_stops.get(_session_of(request))
    if stop is not None:
        stop.set()


def _session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "no session"


LIVE_HTML = """
<div class="fer-live">
  <div class="fer-camera">
    <div class="fer-stage"><video id="webcam-video" autoplay muted playsinline></video><canvas id="webcam-overlay"></canvas></div>
    <div class="fer-controls">
      <button id="webcam-toggle" class="lg primary">Start</button>
      <label>Smoothing (frames averaged per face)
        <input id="webcam-smoothing" type="range" min="1" max="15" step="1" value="5"></label>
      <span id="webcam-smoothing-value">5</span>
    </div>
    <div class="fer-controls" id="webcam-model" role="radiogroup" aria-label="model">
      Model <label><input type="radio" name="fer-model" value="Fast"> Fast</label>
      <label><input type="radio" name="fer-model" value="Accurate"> Accurate</label>
    </div>
    <div class="fer-controls" id="webcam-mode" role="radiogroup" aria-label="where the frames are analysed">
      Analyse <label><input type="radio" name="fer-mode" value="device"> on this device</label>
      <label><input type="radio" name="fer-mode" value="server"> on the server</label>
    </div>
    <p id="webcam-mode-note"></p>
    <p id="webcam-message" role="status"></p>
  </div>
  <div class="fer-readout">
    <h4>Main face</h4><div id="webcam-label"></div>
    <h4>Main face, last ${seconds} s</h4>
    <div id="webcam-timeline"><div class="fer-plot"></div></div>
    <div id="webcam-summary"></div>
  </div>
</div>
"""

LIVE_CSS = """
.fer-live { display: flex; flex-wrap: wrap; gap: 16px; }
.fer-camera { flex: 3 1 360px; }
.fer-readout { flex: 2 1 280px; }
.fer-stage { position: relative; background: var(--block-background-fill); border: 1px solid var(--block-border-color);
  border-radius: var(--block-radius); aspect-ratio: 4 / 3; overflow: hidden; }
.fer-stage video, .fer-stage canvas { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; }
.fer-stage video { transform: scaleX(-1); }
.fer-controls { display: flex; align-items: center; gap: 12px; margin-top: 8px; }
.fer-controls button { min-width: 6em; padding: 6px 16px; border-radius: var(--button-large-radius);
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
.fer-bar { display: grid; grid-template-columns: 5.5em 1fr 3em; align-items: center; gap: 6px; margin: 2px 0; }
.fer-bar.fer-top { font-weight: bold; }
.fer-track { background: var(--block-border-color); border-radius: 4px; height: 12px; overflow: hidden; }
.fer-fill { display: block; height: 100%; width: 0; }
.fer-pct { text-align: right; }
"""


def live_webcam() -> gr.HTML:
    """The Webcam tab: the camera's video with each analysed frame's boxes and labels drawn over it,
    the main face's probabilities, and its timeline. The page's side is app_webcam.js; the server's
    is :func:`analyse_live_frame`, called directly (a Gradio server function) rather than through the
    queue, so two frames can be on their way at once."""
    return gr.HTML(
        "", html_template=LIVE_HTML, css_template=LIVE_CSS, elem_id="webcam",
        js_on_load=(Path(__file__).parent / "app_webcam.js").read_text(),
        server_functions=[analyse_live_frame, end_live_stream, on_device_files],
        seconds=TIMELINE_S, in_flight=LIVE_IN_FLIGHT, colors=EMOTION_COLORS, text_colors=EMOTION_TEXT_COLORS,
        unsure_colors=UNSURE_COLORS, unsure_text_colors=UNSURE_TEXT_COLORS, constraints=WEBCAM_SIZE,
        time_limit=LIVE_TIME_LIMIT_S, placeholder=TIMELINE_PLACEHOLDER,
        # the on-device mode's files (on_device.py; None without npm ci: server mode only), and what
        # each mode's note tells the visitor
        on_device=ON_DEVICE_FILES, default_model=DEFAULT_CHOICE, plot_every=PLOT_EVERY_S,
        device_note="Frames stay in this browser: they are analysed on this device and never sent to the server.",
        server_note=(f"Frames are sent to this server, analysed one by one in memory and dropped; none is stored. "
                     f"At most {LIVE_STREAMS} cameras stream to it at once."),
    )


# for listeners whose newest input must be answered (a photo, a picked face, an example): a trigger
# while the listener runs is answered after it, where Gradio's default, "once", drops it
NEWEST_WINS = "always_last"


def _origin_in_words(origin: str) -> str:
    """Where the models come from, for a visitor: "bundled" names nothing they know."""
    if origin.startswith("bundled"):
        return "the copies shipped with this app (no download needed)"
    return f"`{origin}`"


def model_radio(**kwargs) -> gr.Radio:
    return gr.Radio(list(MODEL_CHOICES), value=DEFAULT_CHOICE, label="Model", info=(
        "Fast: one CNN, about 3 ms a face. Accurate: an ensemble of CNNs, right more often, "
        "a few times slower."), **kwargs)


def result_panel(name: str) -> list:
    """An image's result: annotated image, a face's probabilities, every face's row, the status line
    and the result kept for the visitor (:class:`Shown`), in the order :func:`show` returns them.
    Selecting a row, or clicking a face on the image, shows that face from the kept result."""
    # JPEG: picking a face re-sends the whole image, and a 10-megapixel photo takes 0.08 s as JPEG
    # against 0.7 s as Gradio's default WebP
    image = gr.Image(type="numpy", format="jpeg", label="Result", interactive=False, elem_id=f"{name}-output")
    label = gr.Label(num_top_classes=7, label="Main face", elem_id=f"{name}-label")
    faces = gr.Dataframe(headers=FACE_TABLE_HEADERS, label="All faces: select a row to see that face",
                         interactive=False, elem_id=f"{name}-faces")
    status = gr.Markdown(elem_id=f"{name}-status")
    shown = gr.State(None, time_to_live=KEEP_FILES_S)
    faces.select(pick_face_row, shown, [image, label], api_visibility="private", trigger_mode=NEWEST_WINS)
    image.select(pick_face_at, shown, [image, label], api_visibility="private", trigger_mode=NEWEST_WINS)
    return [image, label, faces, status, shown]


# text/plain, not application/json: Gradio 6.31 base64-decodes any resource whose type is not text/*
@gr.mcp.resource("fer://emotions", mime_type="text/plain")
def emotions() -> str:
    """The seven emotion labels every tool answers with, in the models' output order, and each model's
    threshold: a face whose top probability is under it comes back with uncertain true. As JSON."""
    return json.dumps({"labels": list(recognizer.labels),
                       "uncertain_below": {choice: recognizer_for(choice).uncertain_below for choice in MODEL_CHOICES}})


@gr.mcp.resource("fer://model-card/{model}", mime_type="text/markdown")
def model_card(model: str) -> str:
    """A model's card: what it was trained on, its accuracy, balanced accuracy and each class's recall,
    its decision rule and limits.

    Args:
        model: "Fast" or "Accurate".
    """
    return recognizer_for(model).model_card


def _minutes(seconds: int) -> str:
    return f"{seconds / 60:g} minute{'s' if seconds != 60 else ''}" if seconds >= 60 else f"{seconds} seconds"


# what README's Privacy section says too, in one line on the page
DATA_STATEMENT = (f"Privacy: your photos and videos are analysed on this server and sent nowhere else; they and "
                  f"everything made from them are deleted within {_minutes(KEEP_FILES_S + SWEEP_EVERY_S)}. Nothing is "
                  f"saved in your browser, and no usage analytics are collected.")

# uploads and results live in Gradio's cache, deleted on the KEEP_FILES_S schedule; no usage analytics
with gr.Blocks(title="Facial emotion recognition", delete_cache=(SWEEP_EVERY_S, KEEP_FILES_S),
               analytics_enabled=False) as demo:
    gr.Markdown(
        "# Facial emotion recognition\n"
        "Every face in the image is boxed and labelled with one of seven emotions "
        "(angry, disgust, fear, happy, sad, surprise, neutral). Runs on CPU. "
        f"Models: {_origin_in_words(recognizer.model_origin)}."
    )
    gr.Markdown(DATA_STATEMENT, elem_id="data-statement")
    with gr.Tab("Upload"):
        with gr.Row():
            with gr.Column():
                upload = image_file(sources=["upload", "clipboard"], label="Photo", elem_id="upload-input")
                heat_map = gr.Checkbox(False, label="Why this label? (Grad-CAM++ heat map)")
                model_choice = model_radio(elem_id="upload-model")
                run = gr.Button("Analyze", variant="primary")
            with gr.Column():
                upload_panel = result_panel("upload")
                with gr.Row():  # shown once there is a result
                    json_download = gr.DownloadButton("Download JSON", visible=False, elem_id="upload-json")
                    csv_download = gr.DownloadButton("Download CSV", visible=False, elem_id="upload-csv")
        outputs = [*upload_panel, json_download, csv_download]
        # one listener for every way a photo arrives, is asked again or goes: under Gradio's default
        # trigger_mode ("once") the page dropped a photo uploaded while the last was still analysed,
        # leaving the last one's result and downloads beside it; "always_last" answers the newest.
        # Switching the model or the heat map answers the photo again: a result beside a setting it
        # was not made with would mislabel it (.input: the visitor's changes, not the page's own)
        gr.on([run.click, upload.upload, upload.clear, model_choice.input, heat_map.input], show_upload,
              [upload, heat_map, model_choice], outputs, api_visibility="private", trigger_mode=NEWEST_WINS,
              concurrency_id=MODEL_QUEUE)
    with gr.Tab("Webcam"):
        live_webcam()
    with gr.Tab("Video"):
        with gr.Row():
            with gr.Column():
                video_in = video_file(label=f"Video (up to {MAX_VIDEO_SECONDS:.0f} s)", elem_id="video-input")
                video_preview = gr.Video(label="Preview", interactive=False, visible=False, elem_id="video-preview")
                video_note = gr.Markdown(elem_id="video-note")
                every = gr.Slider(1, 30, value=5, step=1, label="Analyze every Nth frame")
                with gr.Row():
                    video_run = gr.Button("Analyze video", variant="primary", elem_id="video-run")
                    video_stop = gr.Button("Stop", elem_id="video-stop")
            with gr.Column():
                video_out = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
                video_plot = gr.Plot(label="Emotions over time", elem_id="video-plot")
                video_csv = gr.File(label="CSV: frame, time, face id, box, probabilities", elem_id="video-csv")
                video_summary = gr.JSON(label="Per face", elem_id="video-summary")
        video_outputs = [video_out, video_plot, video_csv, video_summary]
        video_event = video_run.click(api_only(analyze_video_file), [video_in, every], video_outputs,
                                      api_name="analyze_video", concurrency_limit=1, concurrency_id=VIDEO_QUEUE,
                                      api_description="Emotions over time in a short video: the video with every face "
                                                      "boxed and numbered, a plot of each emotion's probability per face, "
                                                      "a CSV of every analysed frame, and each face's summary (frames "
                                                      "seen, mean probabilities, label). every: analyse every Nth frame.")
        video_stop.click(stop_video, None, None, queue=False, cancels=[video_event], api_visibility="private")
        # a new video (or none) takes the last one's results off the page
        video_in.change(preview_video, video_in, [video_preview, video_note, *video_outputs],
                        api_visibility="private", trigger_mode=NEWEST_WINS)
    demo.unload(stop_video)  # a tab closed mid-analysis frees the video slot for the next visitor
    with gr.Tab("Examples"):
        with gr.Row():
            gallery = gr.Gallery(value=[(str(p), example_caption(p)) for p in EXAMPLES], label="Click an example", columns=3, allow_preview=False, elem_id="examples-gallery")
            with gr.Column():
                example_panel = result_panel("example")
        gallery.select(show_example, None, example_panel, api_visibility="private", trigger_mode=NEWEST_WINS,
                       concurrency_id=MODEL_QUEUE)

    # API-only endpoints, invisible in the UI
    with gr.Row(visible=False):
        # labelled: the API page names each parameter and output by its label (else "parameter_45")
        api_in = image_file(label="image")
        # a Dropdown publishes its choices (the API page shows Literal['Fast', 'Accurate']); custom
        # values let any spelling ("accurate") reach recognizer_for, as a Radio's check would refuse it
        api_model = gr.Dropdown(list(MODEL_CHOICES), value=DEFAULT_CHOICE, label="model", allow_custom_value=True)
        # JPEG, not Gradio's default WebP: 0.15 s against 7.7 s to encode an annotated 10-megapixel photo
        api_image = gr.Image(type="numpy", format="jpeg", label="annotated image")
        api_label, api_json = confidences_output(label="main face"), gr.JSON(label="faces")
    api_button = gr.Button(visible=False)
    # the API page shows descriptions as plain text: no markup in them
    api_button.click(api_only(predict), [api_in, api_model], [api_image, api_label], api_name="predict", concurrency_id=MODEL_QUEUE,
                     api_description="The photo with every face boxed and labelled, and the main (largest) face's "
                                     "probabilities with its uncertain flag. model: Fast (default) or Accurate.")
    api_button.click(analyze, [api_in, api_model], api_json, api_name="analyze", concurrency_id=MODEL_QUEUE,
                     api_description="Every face: box, detection score, label, the seven probabilities and uncertain. "
                                     "model: Fast (default) or Accurate.")
    api_button.click(annotate, [api_in, api_model], api_image, api_name="annotate", concurrency_id=MODEL_QUEUE,
                     api_description="The photo with every face boxed, numbered and labelled with its emotion and "
                                     "confidence (a question mark and a muted box where the model is unsure). "
                                     "model: Fast (default) or Accurate.")
    with gr.Row(visible=False):
        api_video = video_file(label="video")
        api_every = gr.Number(5, precision=0, minimum=1, maximum=30, label="every")
        api_video_summary = gr.JSON(label="summary")
    api_button.click(summarize_video, [api_video, api_every], api_video_summary, api_name="summarize_video",
                     concurrency_limit=1, concurrency_id=VIDEO_QUEUE,
                     api_description="Each face followed through a short video: the frames it was seen in, its mean "
                                     "probability of each emotion and its label; the video's length and frame rate. "
                                     "every: analyse every Nth frame (1 to 30).")
    # MCP resources (they are API endpoints too): the label set and each model's card
    gr.api(emotions, api_name="emotions", queue=False)
    gr.api(model_card, api_name="model_card", queue=False)


def warm_example_cache() -> None:
    for i in range(len(EXAMPLES)):
        if i not in _example_cache:
            _example_cache[i] = show(str(EXAMPLES[i]))


if __name__ == "__main__":
    # warm the example cache beside the server's start, not before it: the app answers sooner
    threading.Thread(target=warm_example_cache, daemon=True).start()
    # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
    # one request per worker at once (fer.predictor: one per CPU core by default)
    demo.queue(default_concurrency_limit=recognizer.max_workers)
    threading.Thread(target=sweep_outputs_forever, daemon=True).start()
    # run_history off: since Gradio 6.24 it saves every visitor's photos and results in their browser
    # and lists them at /gradio_api/runs, where the next person at a shared computer would see them.
    # mcp_server: analyze, annotate and summarize_video as Model Context Protocol tools, and the two
    # resources, at /gradio_api/mcp/ (predict and analyze_video are api_only: HTTP endpoints, no tools)
    demo.launch(max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True, enable_monitoring=False,
                run_history=False, mcp_server=True, head=on_device.head(ON_DEVICE_FILES))
