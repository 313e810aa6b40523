"""End to end in a real browser: headless Chromium (Debian's package) driven by Playwright against
``python app.py`` on 127.0.0.1. Screenshots of every step go to ``artifacts/screenshots/``.

The webcam test feeds Chromium's fake camera a Y4M video built from a redistributable face photo.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import EXAMPLES, ROOT
from videos import face_video

CHROMIUM = os.environ.get("FER_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("FER_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
TIMEOUT_MS = 90_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FER_CHROMIUM)", allow_module_level=True)


def fake_camera_video(path: Path, frames: int = 30) -> Path:
    """A 640x480 Y4M clip of the Grace Hopper portrait swaying sideways, for
    --use-file-for-fake-video-capture (it moves so that every frame, and its result, differs)."""
    face = cv2.imread(str(EXAMPLES / "grace_hopper.jpg"))
    face = cv2.resize(face, (int(face.shape[1] * 400 / face.shape[0]), 400))
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for i in range(frames):
            frame = np.full((480, 640, 3), 90, np.uint8)
            x = 150 + int(40 * np.sin(2 * np.pi * i / frames))
            frame[40:440, x : x + face.shape[1]] = face
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):  # server: the app on a loopback port (conftest.py)
    camera = fake_camera_video(tmp_path_factory.mktemp("camera") / "face.y4m")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",  # no calls out of this machine
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={camera}",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server, wait_until="domcontentloaded")
        page.wait_for_selector("#upload-input")
        yield page
        browser.close()


def _label_text(page, selector: str) -> str:
    label = page.locator(selector)
    sync_api.expect(label).to_contain_text("%", timeout=TIMEOUT_MS)
    return label.inner_text().lower()


def test_upload_a_photo(page):
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload-input input[type=file]").set_input_files(str(EXAMPLES / "two_faces.jpg"))
    sync_api.expect(page.locator("#upload-status")).to_contain_text("2 face(s) found", timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#upload-output img")).to_be_visible()
    assert any(e in _label_text(page, "#upload-label") for e in EMOTIONS)
    page.screenshot(path=str(SCREENSHOTS / "1-upload.png"), full_page=True)


def test_click_an_example(page):
    page.get_by_role("tab", name="Examples").click()
    page.locator("#examples-gallery img").first.click()
    sync_api.expect(page.locator("#example-output img")).to_be_visible(timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#example-status")).to_contain_text("face", timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "2-example.png"), full_page=True)


def test_webcam_streams_annotated_frames(page):
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#webcam-input").get_by_role("button", name="capture photo").click()  # "Record": starts streaming
    sync_api.expect(page.locator("#webcam-output img")).to_be_visible(timeout=TIMEOUT_MS)
    assert any(e in _label_text(page, "#webcam-label") for e in EMOTIONS)
    page.screenshot(path=str(SCREENSHOTS / "3-webcam.png"), full_page=True)


def test_upload_a_video_and_get_plot_and_csv(page, tmp_path):
    page.get_by_role("tab", name="Video").click()
    video = face_video(tmp_path / "clip.webm", frames=10)
    page.locator("#video-input input[type=file]").set_input_files(str(video))
    page.locator("#video-run").click()
    sync_api.expect(page.locator("#video-csv")).to_contain_text(".csv", timeout=TIMEOUT_MS)  # shown as "emotions .csv"
    sync_api.expect(page.locator("#video-plot img, #video-plot svg, #video-plot canvas").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "4-video.png"), full_page=True)
