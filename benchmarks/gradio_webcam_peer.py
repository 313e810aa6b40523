"""The peer of ``benchmarks/webcam_fps.py``: Gradio's own streaming webcam, the way Gradio's docs and
demos stream a webcam (``gr.Image(sources=["webcam"], streaming=True)`` and ``.stream``), around the
same recognizer, model and camera size as the app; each frame comes back annotated by
``fer.draw.draw_results``. Run by the benchmark as ``python benchmarks/gradio_webcam_peer.py``
(``GRADIO_SERVER_PORT`` and ``FER_MODEL`` from the environment)."""

import os
import sys
from pathlib import Path

import gradio as gr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer import EmotionRecognizer, draw_results  # noqa: E402

recognizer = EmotionRecognizer(os.environ.get("FER_MODEL", "bundled"))


def annotate(frame):
    return None if frame is None else draw_results(frame, recognizer.predict(frame, tiles=1))


with gr.Blocks() as demo:
    camera = gr.Image(sources=["webcam"], streaming=True, elem_id="webcam-input",
                      webcam_options=gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
    shown = gr.Image(elem_id="webcam-output")
    # sampled every 25 ms, faster than the camera films: Gradio sends the next frame once the last is answered
    camera.stream(annotate, camera, shown, stream_every=0.025, concurrency_limit=2, show_progress="hidden")

if __name__ == "__main__":
    demo.launch()
