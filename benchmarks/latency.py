"""Speed of the inference paths, on this machine, in one run: ``python benchmarks/latency.py [--model DIR]``.

1. Classifier latency for one face on one CPU core: the LiteRT copy the runtime runs, against a
   direct Keras call and ``model.predict()`` per face (the pattern of peers such as the ``fer`` package),
   where training's Keras is installed; without ``--model``, the fast default and the accurate option
   (``bundled`` and ``bundled:accurate``) both.
2. Webcam frames: a 640x480 frame with one face through the whole pipeline the webcam tab runs
   (detection without tiling, crop, classify, smoothing, drawing), in frames per second, against
   the photo path (with the tiled detection pass); and detection alone with and without its padded
   second pass (a face-less frame, a face-crop photo), which looks again where the first found none.
3. The HTTP round trip through ``python app.py`` and gradio_client (``/predict``), frames per second.
Also prints the process's peak memory once the model, detector and app are loaded.

Timings are medians over repeated runs after a warm-up; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median_ms(fn, repeat: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def webcam_frame():
    import cv2
    import numpy as np

    face = cv2.cvtColor(cv2.imread(str(ROOT / "examples" / "grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    face = cv2.resize(face, (int(face.shape[1] * 400 / face.shape[0]), 400))
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[40:440, 150 : 150 + face.shape[1]] = face
    return frame


def litert_face_ms(model: str, repeat: int) -> float:
    """Median ms of one face through a model's LiteRT copy, as the runtime runs it."""
    import numpy as np

    from fer.classifier import EmotionClassifier
    from fer.source import resolve_model

    classifier = EmotionClassifier(resolve_model(model).folder)
    face = np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    return median_ms(lambda: classifier.predict_proba(face), repeat)


def classifier_latency(model: str | None, repeat: int) -> list[tuple[str, float]]:
    import numpy as np

    from fer.classifier import EmotionClassifier
    from fer.source import resolve_model

    folder = resolve_model(model).folder
    classifier = EmotionClassifier(folder)
    face = np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    rows = [("EmotionClassifier.predict_proba (LiteRT, the runtime's path)", litert_face_ms(str(folder), repeat))]
    try:  # the training environment's Keras, for comparison; the runtime never loads it
        import tensorflow as tf
        import keras
    except ImportError:
        print("   (no TensorFlow/Keras here: the Keras rows are skipped)")
        return rows
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras_model = keras.models.load_model(folder / "model.keras", compile=False)
    x = classifier.inputs(face)
    rows += [
        ("peer pattern: keras model.predict() per face", median_ms(lambda: keras_model.predict(x, verbose=0), repeat // 4)),
        ("direct Keras call", median_ms(lambda: keras_model(x, training=False), repeat)),
    ]
    return rows


def pipeline_fps(model: str | None, repeat: int) -> list[tuple[str, float]]:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("FER_MODEL", model or "bundled")
    import app

    frame = webcam_frame()
    import live_stream

    live = live_stream.LiveStream.of(app.recognizer, 5)
    frames = iter(range(1, 1 << 30))

    def webcam_step():
        live_stream.live_answer(live, frame, next(frames), 5)

    webcam_ms = median_ms(webcam_step, repeat)
    photo_ms = median_ms(lambda: app.show(frame), repeat)
    return [("webcam frame 640x480, 1 face (no tiling, tracking, smoothing)", webcam_ms),
            ("photo path on the same frame (tiled detection)", photo_ms)]


def face_crop():
    """A photo that is itself a face crop (the face fills it), as many of faces-in-the-wild's are."""
    import cv2

    face = cv2.cvtColor(cv2.imread(str(ROOT / "examples" / "grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    return cv2.resize(face[120:340, 150:370], (350, 350))


def detection_ms(repeat: int) -> list[tuple[str, float, float]]:
    """Median ms of detection alone, without and with the padded second pass, on a webcam frame with
    a face, a face-less webcam frame (where the pass runs every frame) and a face-crop photo."""
    import numpy as np

    from fer.detect import FaceDetector

    cases = [("webcam frame 640x480, 1 face (tiles=1)", webcam_frame(), 1),
             ("webcam frame 640x480, no face (tiles=1)", np.full((480, 640, 3), 90, np.uint8), 1),
             ("photo 350x350 that is a face crop (tiles=2)", face_crop(), 2)]
    detectors = FaceDetector(retry_padded=False), FaceDetector(retry_padded=True)
    rows = [(name, *(median_ms(lambda d=d: d.detect(image, tiles), repeat) for d in detectors)) for name, image, tiles in cases]
    for d in detectors:
        d.close()
    return rows


def http_round_trip(model: str | None, repeat: int) -> float:
    import cv2
    from gradio_client import Client, handle_file

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), FER_MODEL=model or "bundled", GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        path = Path(tempfile.mkdtemp()) / "frame.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(webcam_frame(), cv2.COLOR_RGB2BGR))
        return median_ms(lambda: client.predict(handle_file(str(path)), api_name="/predict"), repeat, warmup=3)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or Hub repo (default: bundled)")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    from train.run_folder import vector_unit  # the machines lent here differ: AVX-512 in some sessions, AVX2 in others

    print(f"machine: {os.cpu_count()} CPU threads ({vector_unit() or 'vector unit unknown'}); classifier pinned to 1 core")
    print("\n1. classifier, one 48x48 face, one core (median ms)")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rows = classifier_latency(args.model, args.repeat)
    for name, ms in rows:
        print(f"   {name:<60} {ms:7.2f} ms")
    if len(rows) > 1:
        print(f"   speed-up of our path over the peer pattern: {rows[1][1] / rows[0][1]:.1f}x")
    if args.model is None:
        accurate_ms = litert_face_ms("bundled:accurate", args.repeat)
        print(f"   {'accurate option (bundled:accurate, LiteRT)':<60} {accurate_ms:7.2f} ms")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count())))
    print("\n2. whole pipeline, in process, all cores (median ms, frames per second)")
    for name, ms in pipeline_fps(args.model, max(20, args.repeat // 4)):
        print(f"   {name:<60} {ms:7.1f} ms  {1000 / ms:6.1f} fps")
    print("\n   face detection alone (median ms): without / with the padded second pass (fer/detect.py)")
    for name, without, with_ in detection_ms(max(20, args.repeat // 4)):
        print(f"   {name:<60} {without:7.1f} / {with_:5.1f} ms")
    import resource

    print(f"\n   peak memory of this process (model, detector, app loaded): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.skip_http:
        ms = http_round_trip(args.model, max(10, args.repeat // 10))
        print("\n3. HTTP round trip, gradio_client -> python app.py /predict, 640x480 JPEG (median)")
        print(f"   {'/predict (tiled detection, annotated image back)':<60} {ms:7.1f} ms  {1000 / ms:6.1f} fps")


if __name__ == "__main__":
    main()
