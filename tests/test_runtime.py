"""The runtime's promises: no TensorFlow or Keras at inference, and one recognizer shared by threads."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import EXAMPLES
from fer import EmotionRecognizer, load_image

ROOT = Path(__file__).resolve().parent.parent


def test_inference_imports_neither_tensorflow_nor_keras():
    """Holds where TensorFlow is installed too (this environment has training's packages)."""
    code = ("import sys, fer; fer.EmotionRecognizer().predict('examples/grace_hopper.jpg'); "
            "import fer.gradcam, fer.video, fer.tracking, fer.__main__; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    env = {**os.environ, "FER_MODEL": "bundled", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_matplotlib_waits_for_its_first_use_and_then_works_for_everyone():
    """MediaPipe's drawing helpers import pyplot; the library loads it only when a plot is drawn."""
    code = ("import sys, fer; fer.EmotionRecognizer().predict('examples/grace_hopper.jpg'); "
            "print('matplotlib' in sys.modules); "
            "from mediapipe.tasks.python.vision import drawing_utils; drawing_utils.plt.figure(); "
            "import matplotlib.pyplot as plt; print(drawing_utils.plt.figure is plt.figure is sys.modules['matplotlib.pyplot'].figure)")
    env = {**os.environ, "FER_MODEL": "bundled", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "True"]


def test_threads_share_one_recognizer_and_get_the_single_thread_answers():
    recognizer = EmotionRecognizer(workers=2)
    images = [load_image(EXAMPLES / n) for n in ("grace_hopper.jpg", "two_faces.jpg", "astronaut.jpg", "tilted_portrait.jpg")]
    expected = [recognizer.predict(im).to_dict() for im in images]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(recognizer.predict, images * 6))
    assert [a.to_dict() for a in answers] == expected * 6
    assert recognizer._created <= 2  # never more workers than asked for


def test_a_worker_that_fails_to_start_gives_its_slot_back(monkeypatch):
    import fer.predictor

    recognizer = EmotionRecognizer(workers=2)
    real = fer.predictor._Worker
    monkeypatch.setattr(fer.predictor, "_Worker", lambda *a: (_ for _ in ()).throw(MemoryError("no room")))
    with recognizer._worker():  # the first worker is busy, so a second must be made, and that fails
        with pytest.raises(MemoryError):
            with recognizer._worker():
                pass
    assert recognizer._created == 1
    monkeypatch.setattr(fer.predictor, "_Worker", real)
    with recognizer._worker() as first, recognizer._worker() as second:  # the slot is there again
        assert first is not second and recognizer._created == 2


def test_workers_follow_the_containers_cpu_quota(monkeypatch, tmp_path):
    import fer.predictor
    from fer.predictor import default_workers

    monkeypatch.delenv("FER_WORKERS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)  # the host's cores
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(fer.predictor, "CGROUP_CPU_MAX", cpu_max)
    cpu_max.write_text("150000 100000\n")  # 1.5 cores
    assert default_workers() == 2
    cpu_max.write_text("max 100000\n")  # no quota
    assert default_workers() == 64
    cpu_max.unlink()  # no cgroup v2
    assert default_workers() == 64
    monkeypatch.setenv("FER_WORKERS", "3")
    assert default_workers() == 3
