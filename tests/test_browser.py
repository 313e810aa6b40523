"""End to end in a real browser: headless Chromium (Debian's package) driven by Playwright against
``python app.py`` on 127.0.0.1. Screenshots of every step go to ``artifacts/screenshots/``.

The webcam test feeds Chromium's fake camera a Y4M video built from a redistributable face photo.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import EXAMPLES, ROOT
from test_app import assert_csv_matches
from videos import face_video, two_face_video

CHROMIUM = os.environ.get("FER_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("FER_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
TIMEOUT_MS = 90_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FER_CHROMIUM)", allow_module_level=True)


def fake_camera_video(path: Path, frames: int = 30, fps: int = 30) -> Path:
    """A 640x480 Y4M clip of the Grace Hopper portrait swaying sideways, for
    --use-file-for-fake-video-capture, filmed at ``fps`` as a webcam does (Chromium plays it at that
    rate). Every frame differs, as a real camera's do (sensor noise): the face moves, and a corner
    square changes shade, so no two frames in a row are the same where the sway turns."""
    face = cv2.imread(str(EXAMPLES / "grace_hopper.jpg"))
    face = cv2.resize(face, (int(face.shape[1] * 400 / face.shape[0]), 400))
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            frame = np.full((480, 640, 3), 90, np.uint8)
            x = 150 + int(40 * np.sin(2 * np.pi * i / frames))
            frame[40:440, x : x + face.shape[1]] = face
            frame[-16:, :16] = i * 67 % 256
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module: its sync API refuses a second one running beside it."""
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def page(server, playwright, tmp_path_factory):  # server: the app on a loopback port (conftest.py)
    camera = fake_camera_video(tmp_path_factory.mktemp("camera") / "face.y4m")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
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


def _table(page, panel: str) -> list[list[str]]:
    """The faces table's cells, row by row, as the page shows them."""
    rows = []
    while page.locator(f"#{panel}-faces [data-testid=cell-{len(rows)}-0]").count():
        rows.append([page.locator(f"#{panel}-faces [data-testid=cell-{len(rows)}-{col}]").inner_text().strip()
                     for col in range(5)])
    return rows


def _label_lines(page, panel: str) -> list[str]:
    return [line.strip() for line in page.locator(f"#{panel}-label").inner_text().splitlines() if line.strip()]


def test_upload_a_group_photo_counts_its_emotions(page):
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload-input input[type=file]").set_input_files(str(EXAMPLES / "two_faces.jpg"))
    sync_api.expect(page.locator("#upload-status")).to_contain_text("2 faces: ", timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#upload-output img")).to_be_visible()
    assert any(e in _label_text(page, "#upload-label") for e in EMOTIONS)
    assert _label_lines(page, "upload")[0].startswith("Face 1 (the largest)")  # ": unsure, ..." where it is
    # "2 faces: 1 happy, 1 neutral." says what the table lists
    counted = re.match(r"2 faces: (.*?)\.", page.locator("#upload-status").inner_text()).group(1)
    assert Counter({label: int(n) for n, label in (part.split(" ") for part in counted.split(", "))}) == Counter(
        "unsure" if row[1].endswith("(unsure)") else row[1] for row in _table(page, "upload"))
    page.screenshot(path=str(SCREENSHOTS / "1-upload.png"), full_page=True)


def test_the_page_says_what_it_keeps_and_keeps_no_run_history(page, server):
    import httpx

    statement = page.locator("#data-statement").inner_text()
    assert statement.startswith("Privacy:") and "deleted within" in statement and "analytics" in statement
    footer = page.locator("footer").inner_text()
    assert "Runs" not in footer and "Use via API" in footer  # the run-history link is gone, the API page stays
    assert httpx.get(server + "gradio_api/runs", timeout=30).status_code == 404
    assert page.evaluate("Object.keys(localStorage).filter(k => /run|history/i.test(k))") == []
    page.locator("#data-statement").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "16-data-statement.png"))


def test_pick_a_face_in_the_table_or_on_the_image(page):
    rows = _table(page, "upload")
    page.locator("#upload-faces [data-testid=cell-1-1]").click()  # row 2
    sync_api.expect(page.locator("#upload-label")).to_contain_text("Face 2", timeout=TIMEOUT_MS)
    title, top = _label_lines(page, "upload")[:2]
    assert title.startswith("Face 2") and top == rows[1][1].removesuffix(" (unsure)")  # face 2's probabilities, its emotion on top
    page.screenshot(path=str(SCREENSHOTS / "5-pick-face.png"), full_page=True)
    # a click inside face 1's box on the image picks face 1 back
    x0, y0, x1, y1 = (int(v) for v in rows[0][3].split(", "))
    image = page.locator("#upload-output img")
    width, height, shown_w, shown_h = image.evaluate("i => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]")
    scale = min(shown_w / width, shown_h / height)  # the picture is fitted inside the element, centred
    image.click(position={"x": (shown_w - width * scale) / 2 + (x0 + x1) / 2 * scale,
                          "y": (shown_h - height * scale) / 2 + (y0 + y1) / 2 * scale})
    sync_api.expect(page.locator("#upload-label")).to_contain_text("Face 1 (the largest)", timeout=TIMEOUT_MS)
    assert _label_lines(page, "upload")[1] == rows[0][1].removesuffix(" (unsure)")


def test_download_json_and_csv_match_the_api(page, server):
    from gradio_client import Client, handle_file

    analysis = Client(server, verbose=False).predict(handle_file(str(EXAMPLES / "two_faces.jpg")), api_name="/analyze")
    with page.expect_download() as json_download:
        page.locator("#upload-json").click()
    with page.expect_download() as csv_download:
        page.locator("#upload-csv").click()
    assert json_download.value.suggested_filename == "two_faces_emotions.json"
    assert csv_download.value.suggested_filename == "two_faces_emotions.csv"
    written = json.loads(Path(json_download.value.path()).read_text())
    assert written["faces"] == analysis["faces"] and written["model"]["name"] == "Fast"
    height, width = cv2.imread(str(EXAMPLES / "two_faces.jpg")).shape[:2]
    assert written["image"] == {"width": width, "height": height}
    assert_csv_matches(Path(csv_download.value.path()).read_text(), analysis)
    page.locator("#upload-json").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "6-downloads.png"), full_page=True)


def test_switching_the_model_answers_the_photo_again(page, server):
    """A result beside a model choice it was not made with would mislabel it, and so would its downloads."""
    from gradio_client import Client, handle_file

    fast_label = page.locator("#upload-label").inner_text()
    page.locator("#upload-model").get_by_label("Accurate").check()
    sync_api.expect(page.locator("#upload-label")).not_to_have_text(fast_label, timeout=TIMEOUT_MS)
    analysis = Client(server, verbose=False).predict(handle_file(str(EXAMPLES / "two_faces.jpg")), "Accurate",
                                                     api_name="/analyze")
    with page.expect_download() as json_download:
        page.locator("#upload-json").click()
    written = json.loads(Path(json_download.value.path()).read_text())
    assert written["model"]["name"] == "Accurate" and written["faces"] == analysis["faces"]
    page.locator("#upload-model").get_by_label("Fast").check()  # back, and the Fast result with it
    sync_api.expect(page.locator("#upload-label")).to_have_text(fast_label, timeout=TIMEOUT_MS)


def test_click_an_example_and_pick_a_face(page):
    page.get_by_role("tab", name="Examples").click()
    page.locator("#examples-gallery img[src*='two_faces']").click()
    sync_api.expect(page.locator("#example-output img")).to_be_visible(timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#example-status")).to_contain_text("2 faces: ", timeout=TIMEOUT_MS)
    page.locator("#example-faces [data-testid=cell-1-0]").click()
    sync_api.expect(page.locator("#example-label")).to_contain_text("Face 2", timeout=TIMEOUT_MS)
    assert _label_lines(page, "example")[1] == _table(page, "example")[1][1]
    page.screenshot(path=str(SCREENSHOTS / "2-example.png"), full_page=True)


SEND_COUNTER = """() => { window.__sent = 0; if (window.__counting) return; window.__counting = true;
    const fetch = window.fetch;
    window.fetch = (url, init) => { if (String(init?.body).includes('"analyse_live_frame"')) window.__sent++;
                                    return fetch(url, init); }; }"""


def test_webcam_streams_annotated_frames(page):
    """On this device, the default where the app serves its on-device files (npm ci): boxes, labels,
    bars and timeline as in server mode, and no frame sent to the server."""
    page.get_by_role("tab", name="Webcam").click()
    assert page.locator("#webcam-mode input[value=device]").is_checked()
    assert page.locator("#webcam-mode-note").inner_text().startswith("Frames stay in this browser")
    page.evaluate(SEND_COUNTER)  # every frame the page sends for analysis, counted from here on
    page.locator("#webcam-toggle").click()  # "Start"
    page.wait_for_function("() => +document.querySelector('#webcam-overlay').dataset.frame >= 10", timeout=TIMEOUT_MS)
    assert page.locator("#webcam-toggle").inner_text() == "Stop" and page.locator("#webcam-message").inner_text() == ""
    assert page.evaluate("document.querySelector('#webcam-video').videoWidth") == 640  # the camera plays in the page
    top = page.locator("#webcam-label .fer-top")  # the main face's highest probability, in bold
    sync_api.expect(top).to_have_count(1, timeout=TIMEOUT_MS)
    assert top.get_attribute("data-emotion") in EMOTIONS and top.locator(".fer-pct").inner_text().endswith("%")
    # the box and its label are drawn over the mirrored video, mirrored too: the leftmost painted
    # pixel sits at width - x1, not at x0 (waiting for a frame where the face is off-centre, as the
    # fake camera's face sways, so that the two differ)
    page.wait_for_function("""() => { const c = document.querySelector('#webcam-overlay');
        const boxes = JSON.parse(c.dataset.boxes || '[]'); if (boxes.length !== 1) return false;
        const [x0, , x1] = boxes[0], mirrored = c.width - x1; if (Math.abs(mirrored - x0) < 20) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let left = c.width;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) left = Math.min(left, ((i - 3) / 4) % c.width);
        return Math.abs(left - mirrored) <= 4; }""", timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "3-webcam.png"), full_page=True)
    assert page.evaluate("window.__sent") == 0  # analysed here: no frame went to the server


def test_webcam_runs_the_accurate_model_on_device_when_chosen(page):
    """The model choice, as on the Upload tab: picking Accurate while streaming restarts the stream
    with the accurate ensemble's own files (the folder the server runs for it), still on the device."""
    assert page.locator("#webcam-model input[value=Fast]").is_checked()  # the preselected model
    page.evaluate(SEND_COUNTER)
    page.locator("#webcam-model input[value=Accurate]").check()
    # the stream restarts at frame 1: count from there
    page.evaluate("document.querySelector('#webcam-overlay').dataset.frame = '0'")
    page.wait_for_function("() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/accurate/model.tflite'))",
                           timeout=TIMEOUT_MS)
    page.wait_for_function("() => +document.querySelector('#webcam-overlay').dataset.frame >= 10", timeout=TIMEOUT_MS)
    assert page.locator("#webcam-toggle").inner_text() == "Stop" and page.locator("#webcam-message").inner_text() == ""
    sync_api.expect(page.locator("#webcam-label .fer-top")).to_have_count(1, timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "18-webcam-accurate-on-device.png"), full_page=True)
    assert page.evaluate("window.__sent") == 0
    page.locator("#webcam-model input[value=Fast]").check()  # back to the default, streaming, for the tests below
    page.evaluate("document.querySelector('#webcam-overlay').dataset.frame = '0'")
    page.wait_for_function("() => +document.querySelector('#webcam-overlay').dataset.frame >= 5", timeout=TIMEOUT_MS)


SUMMARY = rf"\b({'|'.join(EMOTIONS)}) \d+% of the last (\d+) s$"  # "happy 62% of the last 30 s"


def _timeline_seconds(page) -> int:
    match = re.search(SUMMARY, page.locator("#webcam-summary").inner_text().strip())
    assert match, page.locator("#webcam-summary").inner_text()
    return int(match.group(2))


def test_webcam_timeline_resets_when_stopped_and_grows_while_streaming(page):
    toggle = page.locator("#webcam-toggle")
    toggle.click()  # "Stop" the stream the test above started
    sync_api.expect(page.locator("#webcam-timeline")).to_contain_text("appear here", timeout=TIMEOUT_MS)
    assert page.locator("#webcam-timeline polyline").count() == 0 and toggle.inner_text() == "Start"
    assert page.locator("#webcam-summary").inner_text() == "" and page.locator("#webcam-label .fer-top").count() == 0
    page.locator("#webcam-mode input[value=server]").check()  # the server mode from here on
    assert page.locator("#webcam-mode-note").inner_text().startswith("Frames are sent to this server")
    toggle.click()  # "Start" again: a fresh timeline
    sync_api.expect(page.locator("#webcam-timeline polyline")).to_have_count(7, timeout=TIMEOUT_MS)  # one per emotion
    sync_api.expect(page.locator("#webcam-summary")).to_contain_text("of the last", timeout=TIMEOUT_MS)
    start = _timeline_seconds(page)
    page.wait_for_function(f"() => +(/of the last (\\d+) s/.exec(document.querySelector('#webcam-summary').innerText)"
                           f" || [0, 0])[1] >= {start + 3}", timeout=TIMEOUT_MS)  # 3 s more of the same face
    assert start + 3 <= _timeline_seconds(page) <= 30
    page.screenshot(path=str(SCREENSHOTS / "7-webcam-timeline.png"), full_page=True)
    page.evaluate(SEND_COUNTER)  # every frame the page sends for analysis, counted from here on
    page.wait_for_function("() => window.__sent >= 3", timeout=TIMEOUT_MS)
    toggle.click()  # "Stop": the video test below has the machine to itself
    page.wait_for_timeout(200)
    sent = page.evaluate("window.__sent")
    page.wait_for_timeout(1000)
    assert toggle.inner_text() == "Start" and page.evaluate("window.__sent") == sent  # nothing more is sent
    assert page.evaluate("document.querySelector('#webcam-video').srcObject") is None  # the camera is let go


def test_leaving_the_webcam_tab_stops_its_stream(page):
    """Gradio keeps a tab that is left loaded, only hidden: the stream must not go on sending frames
    (holding one of the server's places) with nobody watching."""
    page.get_by_role("tab", name="Webcam").click()
    toggle = page.locator("#webcam-toggle")
    toggle.click()  # "Start"
    sync_api.expect(toggle).to_have_text("Stop", timeout=TIMEOUT_MS)
    page.wait_for_function("() => +document.querySelector('#webcam-overlay').dataset.frame >= 1", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Upload").click()
    page.get_by_role("tab", name="Webcam").click()
    sync_api.expect(page.locator("#webcam-message")).to_have_text(
        "Paused while the Webcam tab was hidden; press Start to go on.", timeout=TIMEOUT_MS)
    assert toggle.inner_text() == "Start" and page.evaluate("document.querySelector('#webcam-video').srcObject") is None


def _upload_video(page, path: Path) -> None:
    """As a visitor does: Clear the last video first, where there is one (gr.File then shows that file)."""
    clear = page.locator("#video-input").get_by_role("button", name="Clear")
    if clear.count():
        clear.click()
    page.locator("#video-input input[type=file]").set_input_files(str(path))


def test_upload_a_video_and_get_plot_and_csv(page, tmp_path):
    page.get_by_role("tab", name="Video").click()
    video = face_video(tmp_path / "clip.webm", frames=10)
    _upload_video(page, video)
    page.locator("#video-run").click()
    sync_api.expect(page.locator("#video-csv")).to_contain_text(".csv", timeout=TIMEOUT_MS)  # shown as "emotions .csv"
    sync_api.expect(page.locator("#video-plot img, #video-plot svg, #video-plot canvas").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "4-video.png"), full_page=True)


def test_an_opencv_mp4_with_two_faces_previews_without_error_and_numbers_match_the_plot(page, tmp_path):
    """MPEG-4 Part 2, as OpenCV writes MP4: Chromium cannot play it, so the page shows a converted
    preview and a note, never "Video not playable"; the analysis names the two faces 1 and 2, as the
    annotated video draws them (tests/test_video.py checks the drawn numbers against the CSV)."""
    page.get_by_role("tab", name="Video").click()
    _upload_video(page, two_face_video(tmp_path / "two.mp4"))
    sync_api.expect(page.locator("#video-note")).to_contain_text("does not play in browsers", timeout=TIMEOUT_MS)
    preview = page.locator("#video-preview video")
    sync_api.expect(preview).to_be_visible()
    page.wait_for_function("document.querySelector('#video-preview video').readyState >= 2", timeout=TIMEOUT_MS)
    assert preview.evaluate("v => v.error") is None and preview.evaluate("v => v.videoWidth") > 0
    assert "not playable" not in page.inner_text("body").lower() and page.locator(".toast-body").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "10-video-mp4-preview.png"), full_page=True)
    page.locator("#video-run").click()
    sync_api.expect(page.locator("#video-csv")).to_contain_text(".csv", timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#video-output video")).to_be_visible()
    summary = page.locator("#video-summary")
    sync_api.expect(summary).to_contain_text("tracks", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#video-output video').readyState >= 2", timeout=TIMEOUT_MS)
    assert page.locator("#video-output video").evaluate("v => v.error") is None
    page.locator("#video-plot").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "11-video-two-faces.png"), full_page=True)
    text = summary.inner_text()
    assert re.search(r'"?1"?\s*:', text) and re.search(r'"?2"?\s*:', text), text  # faces 1 and 2, as on the video
    # a file that is no video is refused at once, with the reason, and the last results go
    (tmp_path / "notes.mp4").write_text("not a video")
    _upload_video(page, tmp_path / "notes.mp4")
    sync_api.expect(page.locator("#video-note")).to_contain_text("Cannot analyze this video", timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#video-output video")).to_have_count(0)
    sync_api.expect(page.locator("#video-preview video")).to_have_count(0)


def _face_crop(folder: Path) -> Path:
    """The Grace Hopper portrait cut down to her face: a face filling the frame."""
    from fer import EmotionRecognizer

    image = cv2.imread(str(EXAMPLES / "grace_hopper.jpg"))
    x0, y0, x1, y1 = EmotionRecognizer("bundled").predict(str(EXAMPLES / "grace_hopper.jpg")).faces[0].box
    pad = (x1 - x0) // 10
    path = folder / "face_filling.jpg"
    cv2.imwrite(str(path), image[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad])
    return path


def _crowd(folder: Path) -> Path:
    """Eight people in two rows, packed: the example faces at several sizes on one grey canvas."""
    faces = []
    for name in ("grace_hopper.jpg", "astronaut.jpg", "tilted_portrait.jpg", "two_faces.jpg"):
        faces.append(cv2.imread(str(EXAMPLES / name)))
    canvas = np.full((520, 1200, 3), 110, np.uint8)
    for i in range(8):
        face = faces[i % len(faces)]
        h = 230 - 20 * (i % 3)
        face = cv2.resize(face, (int(face.shape[1] * h / face.shape[0]), h))[:, :280]
        x, y = 10 + (i % 4) * 295, 10 + (i // 4) * 255
        canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
    path = folder / "crowd.jpg"
    cv2.imwrite(str(path), canvas)
    return path


def _label_boxes(photo: Path) -> tuple[list, tuple[int, int]]:
    """Where the app draws each face's label on ``photo``: fer.draw's placement, as the app uses it."""
    from fer import EmotionRecognizer, load_image
    from fer.draw import place_labels

    image = load_image(str(photo))
    result = EmotionRecognizer("bundled").predict(image)
    size = (image.shape[1], image.shape[0])
    return place_labels(result.faces, size, numbers=range(1, len(result.faces) + 1)), size


def test_a_face_filling_portrait_and_a_crowd_get_labels_inside_the_image_and_apart(page, tmp_path):
    page.get_by_role("tab", name="Upload").click()
    for photo, shot in ((_face_crop(tmp_path), "12-face-filling.png"), (_crowd(tmp_path), "13-crowd.png")):
        labels, (width, height) = _label_boxes(photo)
        page.locator("#upload-input input[type=file]").set_input_files(str(photo))
        sync_api.expect(page.locator("#upload-status")).to_contain_text(
            f"{len(labels)} face{'s' if len(labels) > 1 else ''}", timeout=TIMEOUT_MS)
        image = page.locator("#upload-output img")
        sync_api.expect(image).to_be_visible()
        assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [width, height]  # nothing cropped off
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
        for i, a in enumerate(labels):
            x0, y0, x1, y1 = a.rect
            assert 0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height, (photo.name, a)
            for b in labels[i + 1 :]:
                assert min(x1, b.rect[2]) <= max(x0, b.rect[0]) or min(y1, b.rect[3]) <= max(y0, b.rect[1]), (a, b)
    assert len(labels) >= 6  # the crowd's faces were found, so the check above meant something


def test_a_bad_upload_after_a_good_one_leaves_nothing_of_the_good_one(page, tmp_path):
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload-input input[type=file]").set_input_files(str(EXAMPLES / "two_faces.jpg"))
    sync_api.expect(page.locator("#upload-status")).to_contain_text("2 faces", timeout=TIMEOUT_MS)
    sync_api.expect(page.locator("#upload-json")).to_be_visible()
    (tmp_path / "notes.jpg").write_text("a text file renamed .jpg")
    page.locator("#upload-input input[type=file]").set_input_files(str(tmp_path / "notes.jpg"))
    sync_api.expect(page.locator("#upload-status")).to_contain_text("Cannot read this image", timeout=TIMEOUT_MS)
    for gone in ("#upload-json", "#upload-csv", "#upload-output img"):
        sync_api.expect(page.locator(gone)).to_be_hidden()
    assert _table(page, "upload") == [] and page.locator(".toast-body").count() == 0
    assert "2 faces" not in page.locator("#upload-status").inner_text()
    assert "Face 1" not in page.locator("#upload-label").inner_text()  # the label widget's title is its own again
    page.screenshot(path=str(SCREENSHOTS / "14-bad-upload-after-good.png"), full_page=True)


def _photo_with_an_unsure_face(folder: Path) -> Path:
    """The first of the example photos, then blurred copies of them, in which the bundled fast model
    (the app's default here) flags a face as unsure: found by the library, so the test follows the
    model's threshold and weights instead of assuming which face is unsure."""
    from fer import EmotionRecognizer

    recognizer = EmotionRecognizer("bundled")
    for sigma in (0, 2, 4, 6):
        for path in sorted(EXAMPLES.glob("*.jpg")):
            image = cv2.imread(str(path))
            if sigma:
                image = cv2.GaussianBlur(image, (0, 0), sigma)
            candidate = folder / f"{path.stem}_blur{sigma}.jpg"
            cv2.imwrite(str(candidate), image)
            result = recognizer.predict(str(candidate))
            if any(face.uncertain for face in result.faces):
                return candidate, result
    pytest.fail("no example photo, sharp or blurred, has a face the model is unsure of")


def test_an_unsure_face_is_shown_as_unsure(page, tmp_path):
    """A face whose top probability is under the model's threshold: "unsure" in the status line with
    the legend, "(unsure)" in the table, and the label widget's title says so when it is picked."""
    photo, expected = _photo_with_an_unsure_face(tmp_path)
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload-input input[type=file]").set_input_files(str(photo))
    status = page.locator("#upload-status")
    sync_api.expect(status).to_contain_text("unsure", timeout=TIMEOUT_MS)
    sync_api.expect(status).to_contain_text("more likely wrong than right")
    n = len(expected.faces)  # the table has this photo's rows, not the last one's
    sync_api.expect(page.locator(f"#upload-faces [data-testid=cell-{n - 1}-4]")).to_be_visible()
    sync_api.expect(page.locator(f"#upload-faces [data-testid=cell-{n}-0]")).to_have_count(0)
    rows = _table(page, "upload")
    assert [row[1].endswith("(unsure)") for row in rows] == [face.uncertain for face in expected.faces]
    unsure = [row for row in rows if row[1].endswith("(unsure)")]
    assert unsure, rows
    page.locator(f"#upload-faces [data-testid=cell-{rows.index(unsure[0])}-0]").click()
    sync_api.expect(page.locator("#upload-label")).to_contain_text("unsure", timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "8-unsure.png"), full_page=True)


def test_chromium_stock_fake_camera_pattern_gets_no_face(server, playwright):
    """Chromium's own fake camera (a green field, a timer, a sweeping disc; no face) once got a box
    "neutral 31%" and a summary of a face that was never there (tests/test_detect.py holds a frame)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", "--disable-background-networking",
        "--disable-component-update", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Webcam").click()
        # every analysed frame's boxes, as the overlay records them
        page.evaluate("""() => { window.__boxes = []; const c = document.querySelector('#webcam-overlay');
            new MutationObserver(() => window.__boxes.push(JSON.parse(c.dataset.boxes || '[]').length))
                .observe(c, {attributes: true, attributeFilter: ['data-boxes']}); }""")
        page.locator("#webcam-toggle").click()  # "Start"
        page.wait_for_function("() => +document.querySelector('#webcam-overlay').dataset.frame >= 20", timeout=TIMEOUT_MS)
        page.screenshot(path=str(SCREENSHOTS / "15-fake-camera-pattern.png"), full_page=True)
        boxes = page.evaluate("window.__boxes")
        assert len(boxes) >= 10 and max(boxes) == 0, boxes
        assert page.locator("#webcam-label .fer-top").count() == 0
        page.locator("#webcam-toggle").click()  # "Stop"
    finally:
        browser.close()


def test_webcam_falls_back_to_the_server_when_the_on_device_files_cannot_load(server, playwright, tmp_path):
    camera = fake_camera_video(tmp_path / "face.y4m")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", "--disable-background-networking",
        "--disable-component-update", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}"])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*tasks-vision*/**", lambda route: route.abort())  # MediaPipe's files never arrive
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Webcam").click()
        assert page.locator("#webcam-mode input[value=device]").is_checked()
        page.evaluate(SEND_COUNTER)
        page.locator("#webcam-toggle").click()  # "Start"
        sync_api.expect(page.locator("#webcam-message")).to_contain_text("could not start", timeout=TIMEOUT_MS)
        said = page.locator("#webcam-message").inner_text()
        assert "the frames go to the server instead" in said and "/" not in said  # no URL or server path
        assert page.locator("#webcam-mode input[value=server]").is_checked()
        assert page.locator("#webcam-mode-note").inner_text().startswith("Frames are sent to this server")
        # and the webcam works as before: frames annotated, by the server
        page.wait_for_function("() => +document.querySelector('#webcam-overlay').dataset.frame >= 5", timeout=TIMEOUT_MS)
        sync_api.expect(page.locator("#webcam-label .fer-top")).to_have_count(1, timeout=TIMEOUT_MS)
        assert page.evaluate("window.__sent") >= 5
        page.screenshot(path=str(SCREENSHOTS / "17-webcam-fallback.png"), full_page=True)
        page.locator("#webcam-toggle").click()  # "Stop"
    finally:
        browser.close()
