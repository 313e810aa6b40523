"""Gradio Space: the emotion of every face in a photo, a webcam stream, a video, or an example.

UI only: the work is ``fer.EmotionRecognizer.predict`` (and ``fer.video.analyze_video``); the
functions here adapt typed results to Gradio components. Named API endpoints (see README):
``/predict`` -> (annotated image, main face's confidences), ``/analyze`` -> ``{"faces": [...]}``,
``/analyze_video`` -> (annotated video, plot, CSV, summary).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import shutil
import tempfile
import threading
import time
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
    """
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**31))
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "100")
    if "MALLOC_ARENA_MAX" not in os.environ:
        try:
            ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX from glibc's malloc.h
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
            pass


tune_server_process()

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from fer import EmotionRecognizer, ImageError, ImageResult, load_image  # noqa: E402
from fer.tracking import FaceTracker  # noqa: E402
from fer.video import VideoError, analyze_video  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logging.captureWarnings(True)  # Pillow's notes on odd files ("Corrupt EXIF data") go to the log, not stderr

EXAMPLES_DIR = Path(__file__).parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.jpg"))
NO_FACE = "No face found. Try a clearer, front-facing photo where the face is at least ~30 px wide."
FACE_TABLE_HEADERS = ["face", "emotion", "confidence", "box (x0, y0, x1, y1)", "detection score"]
MAX_VIDEO_SECONDS = float(os.environ.get("FER_MAX_VIDEO_SECONDS", 120))

MAX_UPLOAD_MB = int(os.environ.get("FER_MAX_UPLOAD_MB", 50))
log = logging.getLogger("app")

recognizer = EmotionRecognizer()  # loaded once, shared by every request (one worker per core)


def image_file(**kwargs) -> gr.Image:
    """An image input whose upload reaches the handler as its file, unread: ``fer.load_image`` reads
    it, as it does for the CLI and the library, so all of them accept and refuse exactly the same
    files with the same messages (Gradio's own conversion refuses some with its internals in the
    message). Set on the instance: a gr.Image subclass would make Gradio write an app.pyi stub."""
    image = gr.Image(type="filepath", **kwargs)
    image.preprocess = lambda payload: None if payload is None else payload.path
    return image


def clear_errors(handler):
    """Any failure reaches the visitor as a short message; the details go to the server log only."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except ImageError as err:
            raise gr.Error(f"Cannot read this image: {err}") from None
        except VideoError as err:
            raise gr.Error(str(err)) from None
        except OSError as err:
            log.exception("%s failed writing its results", handler.__name__)
            reason = "the server's disk is full" if err.errno == errno.ENOSPC else "the server could not write them"
            raise gr.Error(f"The analysis ran but its results could not be saved: {reason}. Please try again later.") from None
        except Exception:
            log.exception("%s failed", handler.__name__)
            raise gr.Error("Something went wrong while analysing this input. It has been logged; please try another file.") from None

    return wrapper


def _confidences(result: ImageResult) -> dict[str, float] | str:
    face = result.main_face
    return dict(face.scores) if face else "no face found"


def _main_face_label(result: ImageResult, scores) -> gr.Label:
    """The label widget, titled with the face it shows: the largest, number 1 on the image and table."""
    title = "Face 1 (the largest)" if len(result.faces) > 1 else "Face 1" if result.faces else "Main face"
    return gr.Label(value=scores, label=title)


def _face_rows(result: ImageResult) -> list[list]:
    return [
        [i, f.label, f"{f.confidence:.0%}", ", ".join(map(str, f.box)), round(f.score, 2)]
        for i, f in enumerate(result.faces, start=1)
    ]


def _analyse(source, tiles: int | None = None) -> tuple[np.ndarray, ImageResult]:
    """Every image, whatever the interface, enters through ``fer.load_image``."""
    if source is None:
        raise gr.Error("Please provide an image.")
    image = load_image(source)
    return image, recognizer.predict(image, tiles=tiles)


@clear_errors
def predict(path: str | None):
    """API ``/predict``: annotated image and the main (largest) face's confidences."""
    image, result = _analyse(path)
    return result.plot(image, numbered=True), _confidences(result)


@clear_errors
def analyze(path: str | None) -> dict:
    """API ``/analyze``: every face with box, detection score, label and seven probabilities."""
    return _analyse(path)[1].to_dict()


def _panel(image: np.ndarray, result: ImageResult, heat_map: bool = False):
    base = recognizer.explain(image, result) if heat_map and result.faces else image
    if not result.faces:
        status = NO_FACE
    else:
        status = f"{len(result.faces)} face(s) found, numbered largest first on the image and in the table."
        if heat_map:
            status += " Heat map: Grad-CAM++ of each face's label."
    return result.plot(base, numbered=True), _main_face_label(result, _confidences(result)), _face_rows(result), status


@clear_errors
def show(path: str | None, heat_map: bool = False):
    """UI handler: annotated image (optionally with Grad-CAM++), main face's label, every face's row, status."""
    if path is None:
        return None, None, [], ""
    image, result = _analyse(path)
    return _panel(image, result, heat_map)


@clear_errors
def show_webcam(frame: np.ndarray | None, tracker: FaceTracker | None, window: int):
    """One live frame: no tiling (webcam faces are close-ups), labels smoothed per tracked face."""
    if frame is None:
        return None, None, tracker
    if tracker is None:
        tracker = FaceTracker(window=int(window))
    tracker.set_window(int(window))
    frame, result = _analyse(frame, tiles=1)
    smoothed = ImageResult([t.face for t in tracker.update(result)], result.size)
    return smoothed.plot(frame), _confidences(smoothed), tracker


_example_cache: dict[int, tuple] = {}


@clear_errors
def show_example(evt: gr.SelectData):
    """Examples are analysed once and then answered from memory, so a click is instant."""
    if evt.index not in _example_cache:
        _example_cache[evt.index] = show(str(EXAMPLES[evt.index]))
    return _example_cache[evt.index]


OUTPUT_ROOT = Path(tempfile.gettempdir()) / "fer-app-results"
OUTPUT_MAX_AGE_S = 3600


def fresh_output_dir() -> Path:
    """A new folder for one video's results. Gradio serves copies from its own cache, so ours are
    only needed until the response is sent: folders older than an hour are removed here."""
    OUTPUT_ROOT.mkdir(exist_ok=True)
    for old in OUTPUT_ROOT.iterdir():
        if time.time() - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=OUTPUT_ROOT))


@clear_errors
def analyze_video_file(path: str | None, every: int, progress=gr.Progress()):
    """API ``/analyze_video``: annotated WebM, probability-over-time plot, CSV, per-face summary."""
    if not path:
        raise gr.Error("Please upload a video.")
    out = fresh_output_dir()
    analysis = analyze_video(recognizer, path, every=int(every), annotated=out / "annotated.webm",
                             max_seconds=MAX_VIDEO_SECONDS, progress=lambda f, d: progress(f, desc=d))
    return str(analysis.annotated_path), analysis.plot(), str(analysis.write_csv(out / "emotions.csv")), analysis.summary()


def result_panel(name: str):
    label = gr.Label(num_top_classes=7, label="Main face", elem_id=f"{name}-label")
    faces = gr.Dataframe(headers=FACE_TABLE_HEADERS, label="All faces", interactive=False, elem_id=f"{name}-faces")
    status = gr.Markdown(elem_id=f"{name}-status")
    return label, faces, status


# uploads and results live in Gradio's cache; files older than a day are deleted every hour
with gr.Blocks(title="Facial emotion recognition", delete_cache=(3600, 86400)) as demo:
    gr.Markdown(
        "# Facial emotion recognition\n"
        "Every face in the image is boxed and labelled with one of seven emotions "
        "(angry, disgust, fear, happy, sad, surprise, neutral). Runs on CPU; nothing leaves this server. "
        f"Model: `{recognizer.model_origin}`."
    )
    with gr.Tab("Upload"):
        with gr.Row():
            with gr.Column():
                upload = image_file(sources=["upload", "clipboard"], label="Photo", elem_id="upload-input")
                heat_map = gr.Checkbox(False, label="Why this label? (Grad-CAM++ heat map)")
                run = gr.Button("Analyze", variant="primary")
            with gr.Column():
                upload_out = gr.Image(type="numpy", label="Result", interactive=False, elem_id="upload-output")
                upload_label, upload_faces, upload_status = result_panel("upload")
        outputs = [upload_out, upload_label, upload_faces, upload_status]
        run.click(show, [upload, heat_map], outputs, api_visibility="private")
        upload.upload(show, [upload, heat_map], outputs, api_visibility="private")
    with gr.Tab("Webcam"):
        with gr.Row():
            with gr.Column():
                webcam = gr.Image(type="numpy", sources=["webcam"], streaming=True, label="Webcam", elem_id="webcam-input")
                window = gr.Slider(1, 15, value=5, step=1, label="Smoothing (frames averaged per face)")
            with gr.Column():
                webcam_out = gr.Image(type="numpy", label="Live result", interactive=False, format="jpeg", elem_id="webcam-output")
                webcam_label = gr.Label(num_top_classes=7, label="Main face", elem_id="webcam-label")
        tracker_state = gr.State(None)
        # a frame every 50 ms (analysis takes ~5 ms); a stream ends after 2 minutes and at most
        # 2 run at once (2 CPU cores), so one visitor cannot hold the Space
        webcam.stream(
            show_webcam, [webcam, tracker_state, window], [webcam_out, webcam_label, tracker_state],
            stream_every=0.05, time_limit=120, concurrency_limit=2, api_visibility="private",
        )
    with gr.Tab("Video"):
        with gr.Row():
            with gr.Column():
                video_in = gr.Video(sources=["upload"], label=f"Video (up to {MAX_VIDEO_SECONDS:.0f} s)", elem_id="video-input")
                every = gr.Slider(1, 30, value=5, step=1, label="Analyse every Nth frame")
                video_run = gr.Button("Analyze video", variant="primary", elem_id="video-run")
            with gr.Column():
                video_out = gr.Video(label="Annotated video", interactive=False, elem_id="video-output")
                video_plot = gr.Plot(label="Emotions over time", elem_id="video-plot")
                video_csv = gr.File(label="CSV: frame, time, face id, box, probabilities", elem_id="video-csv")
                video_summary = gr.JSON(label="Per face")
        video_run.click(analyze_video_file, [video_in, every], [video_out, video_plot, video_csv, video_summary],
                        api_name="analyze_video", concurrency_limit=1)
    with gr.Tab("Examples"):
        with gr.Row():
            gallery = gr.Gallery(value=[str(p) for p in EXAMPLES], label="Click an example", columns=3, allow_preview=False, elem_id="examples-gallery")
            with gr.Column():
                example_out = gr.Image(type="numpy", label="Result", interactive=False, elem_id="example-output")
                example_label, example_faces, example_status = result_panel("example")
        gallery.select(show_example, None, [example_out, example_label, example_faces, example_status], api_visibility="private")

    # API-only endpoints, invisible in the UI
    with gr.Row(visible=False):
        api_in = image_file()
        api_image, api_label, api_json = gr.Image(type="numpy"), gr.Label(), gr.JSON()
    api_button = gr.Button(visible=False)
    api_button.click(predict, api_in, [api_image, api_label], api_name="predict")
    api_button.click(analyze, api_in, api_json, api_name="analyze")


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
    demo.launch(max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=True, enable_monitoring=False)
