"""Gradio Space: the emotion of every face in a photo, a webcam stream, or an example.

UI only: all the work is ``fer.EmotionRecognizer.predict``; the functions here adapt its typed result
to Gradio components. API endpoints (see README): ``/predict`` -> (annotated image, main face's
confidences) and ``/analyze`` -> ``{"faces": [...]}`` as the CLI prints them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
import numpy as np

from fer import EmotionRecognizer, ImageError, ImageResult, load_image

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

EXAMPLES_DIR = Path(__file__).parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.jpg"))
NO_FACE = "No face found. Try a clearer, front-facing photo where the face is at least ~30 px wide."
FACE_TABLE_HEADERS = ["face", "emotion", "confidence", "box (x0, y0, x1, y1)", "detection score"]

recognizer = EmotionRecognizer()  # loaded once, shared by every request


def _confidences(result: ImageResult) -> dict[str, float] | str:
    face = result.main_face
    return dict(face.scores) if face else "no face found"


def _face_rows(result: ImageResult) -> list[list]:
    return [
        [i, f.label, f"{f.confidence:.0%}", ", ".join(map(str, f.box)), round(f.score, 2)]
        for i, f in enumerate(result.faces, start=1)
    ]


def _run(image: np.ndarray | None, tiles: int | None = None) -> tuple[np.ndarray | None, ImageResult | None]:
    if image is None:
        return None, None
    try:
        result = recognizer.predict(image, tiles=tiles)
    except ImageError as err:
        raise gr.Error(f"Cannot read this image: {err}") from None
    return result.plot(image), result


def predict(image: np.ndarray | None):
    """API ``/predict``: annotated image and the main (largest) face's confidences."""
    if image is None:
        raise gr.Error("Please provide an image.")
    annotated, result = _run(image)
    return annotated, _confidences(result)


def analyze(image: np.ndarray | None) -> dict:
    """API ``/analyze``: every face with box, detection score, label and seven probabilities."""
    if image is None:
        raise gr.Error("Please provide an image.")
    _, result = _run(image)
    return result.to_dict()


def show(image: np.ndarray | None, tiles: int | None = None):
    """UI handler: annotated image, main face's label, every face's row, and a status line."""
    annotated, result = _run(image, tiles)
    if result is None:
        return None, None, [], ""
    if not result.faces:
        status = NO_FACE
    else:
        status = f"{len(result.faces)} face(s) found; the label shows the largest."
    return annotated, _confidences(result), _face_rows(result), status


def show_webcam(frame: np.ndarray | None):
    # no tiling for live frames: webcam faces are close-ups, and tiling costs 4 more detector passes
    return show(frame, tiles=1)[:2]


def show_example(evt: gr.SelectData):
    return show(load_image(EXAMPLES[evt.index]))


def result_panel():
    label = gr.Label(num_top_classes=7, label="Main face")
    faces = gr.Dataframe(headers=FACE_TABLE_HEADERS, label="All faces", interactive=False)
    status = gr.Markdown()
    return label, faces, status


with gr.Blocks(title="Facial emotion recognition") as demo:
    gr.Markdown(
        "# Facial emotion recognition\n"
        "Every face in the image is boxed and labelled with one of seven emotions "
        "(angry, disgust, fear, happy, sad, surprise, neutral). Runs on CPU; nothing leaves this server. "
        f"Model: `{recognizer.model_origin}`."
    )
    with gr.Tab("Upload"):
        with gr.Row():
            with gr.Column():
                upload = gr.Image(type="numpy", image_mode="RGB", sources=["upload", "clipboard"], label="Photo")
                run = gr.Button("Analyze", variant="primary")
            with gr.Column():
                upload_out = gr.Image(type="numpy", label="Result", interactive=False)
                upload_label, upload_faces, upload_status = result_panel()
        run.click(show, upload, [upload_out, upload_label, upload_faces, upload_status], api_visibility="private")
        upload.upload(show, upload, [upload_out, upload_label, upload_faces, upload_status], api_visibility="private")
    with gr.Tab("Webcam"):
        with gr.Row():
            webcam = gr.Image(type="numpy", sources=["webcam"], streaming=True, label="Webcam")
            with gr.Column():
                webcam_out = gr.Image(type="numpy", label="Live result", interactive=False)
                webcam_label = gr.Label(num_top_classes=7, label="Main face")
        # one frame in flight per visitor, at most 5 visitors at once, 2 minutes per stream
        webcam.stream(
            show_webcam, webcam, [webcam_out, webcam_label],
            stream_every=0.1, time_limit=120, concurrency_limit=5, api_visibility="private",
        )
    with gr.Tab("Examples"):
        with gr.Row():
            gallery = gr.Gallery(value=[str(p) for p in EXAMPLES], label="Click an example", columns=3, allow_preview=False)
            with gr.Column():
                example_out = gr.Image(type="numpy", label="Result", interactive=False)
                example_label, example_faces, example_status = result_panel()
        gallery.select(show_example, None, [example_out, example_label, example_faces, example_status], api_visibility="private")

    # API-only endpoints, invisible in the UI
    with gr.Row(visible=False):
        api_in = gr.Image(type="numpy", image_mode="RGB")
        api_image, api_label, api_json = gr.Image(type="numpy"), gr.Label(), gr.JSON()
    api_button = gr.Button(visible=False)
    api_button.click(predict, api_in, [api_image, api_label], api_name="predict")
    api_button.click(analyze, api_in, api_json, api_name="analyze")


if __name__ == "__main__":
    demo.queue(default_concurrency_limit=2).launch()  # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
