"""Webcam round trip in a real browser: ``python benchmarks/webcam_fps.py [--seconds 20]``.

Starts ``python app.py``, opens the Webcam tab in headless Chromium whose fake camera plays a
640x480 clip of one face, presses Record, and counts the annotated frames that come back into the
page per second (frames sent by the browser, analysed, drawn and shown: the whole round trip).
For comparison, in the same run: the request/response API (``/predict`` through gradio_client),
the way a client without streaming would poll frames.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def start_app(root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """``python app.py`` from ``root`` on a free port, returned once it answers HTTP."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    env.setdefault("FER_MODEL", "bundled")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).read(1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{root}/app.py did not answer")


def browser_fps(url: str, seconds: float) -> tuple[float, int]:
    from playwright.sync_api import sync_playwright

    from test_browser import fake_camera_video

    camera = fake_camera_video(Path(tempfile.mkdtemp()) / "face.y4m", frames=100)
    chromium = os.environ.get("FER_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={camera}"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#upload-input", timeout=120_000)
        page.get_by_role("tab", name="Webcam").click()
        page.get_by_text("Click to Access Webcam").click()
        # count every new annotated frame shown: check the output image's source on each repaint
        page.evaluate("""() => { window.__frames = 0; let last = null; const tick = () => {
            const img = document.querySelector('#webcam-output img');
            if (img && img.src && img.src !== last) { last = img.src; window.__frames++; }
            requestAnimationFrame(tick); }; requestAnimationFrame(tick); }""")
        page.locator("#webcam-input").get_by_role("button", name="capture photo").click()
        page.wait_for_selector("#webcam-output img", timeout=120_000)
        time.sleep(2)  # let the stream settle
        start_frames, start = page.evaluate("window.__frames"), time.perf_counter()
        time.sleep(seconds)
        frames = page.evaluate("window.__frames") - start_frames
        elapsed = time.perf_counter() - start
        browser.close()
    return frames / elapsed, frames


def api_fps(url: str, requests: int) -> float:
    import cv2
    from gradio_client import Client, handle_file

    from benchmarks.latency import webcam_frame

    path = Path(tempfile.mkdtemp()) / "frame.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(webcam_frame(), cv2.COLOR_RGB2BGR))
    client = Client(url, verbose=False)
    client.predict(handle_file(str(path)), api_name="/predict")
    start = time.perf_counter()
    for _ in range(requests):
        client.predict(handle_file(str(path)), api_name="/predict")
    return requests / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    proc, url = start_app()
    try:
        fps, frames = browser_fps(url, args.seconds)
        print(f"machine: {os.cpu_count()} CPU threads (browser, app and analysis share them)")
        print(f"webcam stream in Chromium, 640x480, 1 face: {fps:5.1f} annotated frames/s ({frames} in {args.seconds:.0f} s)")
        print(f"peer: request/response /predict via gradio_client: {api_fps(url, args.requests):5.1f} frames/s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
