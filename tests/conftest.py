from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.cbook
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FER_SHARED_DATA", ROOT.parent / "shared" / "data"))
EXAMPLES = ROOT / "examples"

# Tests run offline on the bundled model unless a test points FER_MODEL elsewhere.
os.environ.setdefault("FER_MODEL", "bundled")


def shared(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with the reason when the data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set FER_SHARED_DATA or place it at ../shared/data)")
    return path


@pytest.fixture(scope="session")
def grace_hopper() -> Path:
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="session")
def recognizer():
    from fer import EmotionRecognizer

    return EmotionRecognizer("bundled")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_log(tmp_path_factory) -> Path:
    """The app's stdout and stderr, as its operator would read them."""
    return tmp_path_factory.mktemp("server") / "app.log"


@contextlib.contextmanager
def running_app(log_path: Path, **env: str):
    """``python app.py`` on a free loopback port, with ``env`` added to its environment: its URL."""
    port = _free_port()
    # no GRADIO_ANALYTICS_ENABLED here: the app must turn Gradio's analytics off by itself
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "FER_MODEL": "bundled", **env}
    env.pop("GRADIO_ANALYTICS_ENABLED", None)
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited early with code {proc.returncode}; run `python app.py` to see why")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("app.py did not start listening within 120 s")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(server_log):
    with running_app(server_log) as url:
        yield url
