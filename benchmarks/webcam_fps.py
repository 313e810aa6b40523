"""Webcam round trip in a real browser: ``python benchmarks/webcam_fps.py [--seconds 20] [--rounds 3] [--streams 2] [--model Accurate]``.

Starts ``python app.py``, opens the Webcam tab in headless Chromium whose fake camera plays a
640x480 clip of one face at 30 frames/s (as webcams film; every frame differs, as a real camera's
do), presses Start, and counts the annotated frames that come back into the page per second: each
new frame number the page draws over the video is one camera frame sent by the browser, analysed
and drawn (the whole round trip); two answers drawn within one repaint count once. Alongside: the
server's CPU time per annotated frame over the same seconds, and ``--streams N`` visitors streaming
at once (the app's server mode serves two; on the device, any number). Each round measures the app's
Webcam tab analysing on the device (web/fer.js in the page: the server only serves the page) and on
the server. The peer, in the same run and taking turns with the app for
``--rounds`` rounds (a fresh browser each): Gradio's own streaming webcam around the same recognizer
(``benchmarks/gradio_webcam_peer.py``), each annotated image it shows counted once; medians and the
ratio of each round are printed. Last, the request/response API (``/predict`` through
gradio_client), the way a client without the page would poll frames. ``FER_APP_LOG=FILE`` keeps the
app's log.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def start_app(root: Path = ROOT, script: str = "app.py") -> tuple[subprocess.Popen, str]:
    """``python SCRIPT`` (the app) from ``root`` on a free port, returned once it answers HTTP."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    env.setdefault("FER_MODEL", "bundled")
    proc = subprocess.Popen([sys.executable, script], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=open(os.environ.get("FER_APP_LOG", os.devnull), "w"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).read(1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{root}/{script} did not answer")


class ServerCpu:
    """CPU seconds (user + system) a process spends inside a ``with`` block, read from /proc: the
    figure "server CPU per annotated frame" divides by. None where /proc is missing (macOS)."""

    def __init__(self, pid: int):
        self.pid, self.seconds = pid, None

    def _cpu_seconds(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def __enter__(self):
        self._start = self._cpu_seconds()
        return self

    def __exit__(self, *exc):
        end = self._cpu_seconds()
        self.seconds = None if end is None or self._start is None else end - self._start


# counts every new annotated frame shown: the overlay's frame number (app_webcam.js sets it as it
# draws an answer over the video), checked on each repaint, so two answers within one repaint count once
COUNT_FRAMES_JS = """() => { window.__frames = 0; let last = null; const tick = () => {
    const frame = document.querySelector('#webcam-overlay')?.dataset.frame;
    if (frame && frame !== last) { last = frame; window.__frames++; }
    requestAnimationFrame(tick); }; requestAnimationFrame(tick); }"""


# the peer's count: every new annotated image Gradio's output component shows (its source)
COUNT_PEER_FRAMES_JS = """() => { window.__frames = 0; let last = null; const tick = () => {
    const src = document.querySelector('#webcam-output img')?.getAttribute('src');
    if (src && src !== last) { last = src; window.__frames++; }
    requestAnimationFrame(tick); }; requestAnimationFrame(tick); }"""


def browser_streams(url: str, seconds: float, streams: int = 1, window=None, peer: bool = False,
                    mode: str = "server", model: str = "Fast") -> list[float]:
    """Annotated frames per second that reach each of ``streams`` pages (separate visitors) streaming
    at once, counted over the same ``seconds``; ``window`` (a context manager) wraps that interval.
    ``peer``: the page is :mod:`benchmarks.gradio_webcam_peer`'s; ``mode``: the app's Webcam tab
    analysing "device" (in the page) or "server"; ``model``: its model choice, "Fast" or "Accurate"."""
    from playwright.sync_api import sync_playwright

    from test_browser import fake_camera_video

    camera = fake_camera_video(Path(tempfile.mkdtemp()) / "face.y4m", frames=100)
    chromium = os.environ.get("FER_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={camera}"])
        pages = [_start_peer_stream(browser, url) if peer else _start_stream(browser, url, mode, model) for _ in range(streams)]
        time.sleep(2)  # let the streams settle
        start_frames, start = [page.evaluate("window.__frames") for page in pages], time.perf_counter()
        with window or contextlib.nullcontext():
            time.sleep(seconds)
            frames = [page.evaluate("window.__frames") - before for page, before in zip(pages, start_frames)]
            elapsed = time.perf_counter() - start
        browser.close()
    return [n / elapsed for n in frames]


def _start_stream(browser, url: str, mode: str = "server", model: str = "Fast"):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})  # a context of its own: a visitor
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#upload-input", timeout=120_000)
    page.get_by_role("tab", name="Webcam").click()
    choice = page.locator(f"#webcam-mode input[value={mode}]")
    if choice.is_disabled():
        raise SystemExit(f"the Webcam tab cannot analyse on the {mode} here (npm ci not run?)")
    choice.check()
    page.locator(f"#webcam-model input[value={model}]").check()
    page.evaluate(COUNT_FRAMES_JS)
    page.locator("#webcam-toggle").click()  # "Start"
    # the first annotated frame, or the server's "try again" (it streams for two visitors at once)
    page.wait_for_function("() => document.querySelector('#webcam-overlay')?.dataset.frame"
                           " || document.querySelector('#webcam-message')?.textContent.includes('try again')", timeout=120_000)
    return page


def _start_peer_stream(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Click to Access Webcam").click(timeout=120_000)
    page.evaluate(COUNT_PEER_FRAMES_JS)
    page.locator("#webcam-input").get_by_role("button", name="capture photo").click()  # "Record"
    page.wait_for_selector("#webcam-output img", timeout=120_000)
    return page


def browser_fps(url: str, seconds: float, window=None) -> tuple[float, int]:
    """One stream's annotated frames per second and how many that was."""
    fps = browser_streams(url, seconds, 1, window)[0]
    return fps, round(fps * seconds)


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
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each round's count")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with a fresh browser; medians are printed")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--streams", type=int, default=1, help="visitors streaming at once (the app serves 2)")
    parser.add_argument("--model", default="Fast", choices=["Fast", "Accurate"], help="the app's model (the Webcam tab's choice)")
    args = parser.parse_args()
    proc, url = start_app()
    peer_proc, peer_url = start_app(script="benchmarks/gradio_webcam_peer.py")
    try:
        print(f"machine: {os.cpu_count()} CPU threads (browser, app and analysis share them); "
              f"the app ({args.model} model) and Gradio's streaming webcam (the peer, fast model) take turns, {args.rounds} rounds")
        sides = {"app on device": (proc, url, False, "device"), "app on server": (proc, url, False, "server"),
                 "peer": (peer_proc, peer_url, True, "server")}
        fps = {side: [] for side in sides}
        server_ms = {side: [] for side in sides}
        for round_ in range(1, args.rounds + 1):
            for side, (server, address, peer, mode) in sides.items():
                cpu = ServerCpu(server.pid)
                rates = browser_streams(address, args.seconds, args.streams, window=cpu, peer=peer, mode=mode, model=args.model)
                ms = 1000 * cpu.seconds / (sum(rates) * args.seconds) if cpu.seconds is not None and sum(rates) else float("nan")
                fps[side].append(rates)
                server_ms[side].append(ms)
                print(f"round {round_}, {side}: " + ", ".join(f"{r:.1f}" for r in rates) + " annotated frames/s"
                      + (" (one per stream)" if len(rates) > 1 else "") + f"; server CPU {ms:.1f} ms per annotated frame")
        for side, name in (("app on device", "the app, on the device"), ("app on server", "the app, on the server"),
                           ("peer", "peer: Gradio's streaming webcam")):
            for i in range(args.streams):
                which = f" (stream {i + 1} of {args.streams})" if args.streams > 1 else ""
                print(f"{name}, Chromium, 640x480, 1 face{which}: {statistics.median(r[i] for r in fps[side]):5.1f} "
                      f"annotated frames/s (median of {args.rounds} rounds of {args.seconds:.0f} s)")
            print(f"{name}: server CPU {statistics.median(server_ms[side]):5.1f} ms per annotated frame (median)")
        for side in ("app on device", "app on server"):
            ratios = [sum(a) / sum(b) for a, b in zip(fps[side], fps["peer"]) if sum(b)]
            if ratios:
                print(f"the {side} shows {statistics.median(ratios):.1f}x the peer's frames/s (rounds: "
                      + ", ".join(f"{r:.1f}" for r in ratios) + ")")
        print(f"request/response /predict via gradio_client: {api_fps(url, args.requests):5.1f} frames/s")
    finally:
        for server in (proc, peer_proc):
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
