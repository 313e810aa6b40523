"""The on-device pipeline (web/fer.js: MediaPipe Tasks for Web + LiteRT.js, served by the app) gives
the library's answers: the same images through it in headless Chromium and through
``EmotionRecognizer.predict(image, tiles=1)`` (the live path it mirrors) find the same faces, boxes
within 5% of the face's size, the same labels on at least 97% of faces and probabilities within 0.03
(0.06 for an image the browser shrinks before analysing it, as the library does, by its own filter)."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

import on_device
from conftest import EXAMPLES

CHROMIUM = os.environ.get("FER_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set FER_CHROMIUM)", allow_module_level=True)
if on_device.missing():
    pytest.skip(f"the on-device runtimes are not installed (npm ci): {on_device.missing()[0]}", allow_module_level=True)


SHRUNK = "large_group"  # the one image past MAX_ANALYSIS_PIXELS


def made_images() -> dict[str, np.ndarray]:
    """The examples, and images made from them that move the detector and the crop: a face filling
    the frame, a tilted head, a dark and a bright copy, a mirrored group, a small face, a crowd, and a
    group too large to analyse at its own size."""
    images = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in sorted(EXAMPLES.glob("*.jpg"))}
    grace = images["grace_hopper"]
    h, w = grace.shape[:2]
    images["face_filling"] = np.ascontiguousarray(grace[40:260, 180:380])
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), 18, 1.0)
    images["tilted_18"] = cv2.warpAffine(grace, rotation, (w, h), borderMode=cv2.BORDER_REFLECT)
    images["dark"] = (grace * 0.35).astype(np.uint8)
    images["bright"] = np.clip(grace.astype(int) + 70, 0, 255).astype(np.uint8)
    images["mirrored_group"] = np.ascontiguousarray(images["two_faces"][:, ::-1])
    images["small"] = cv2.resize(grace, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    crowd = np.full((420, 1000, 3), 110, np.uint8)
    for i, name in enumerate(("grace_hopper", "astronaut", "tilted_portrait", "grace_hopper")):
        face = cv2.resize(images[name], (230, int(images[name].shape[0] * 230 / images[name].shape[1])))[:400]
        crowd[10 : 10 + face.shape[0], 10 + i * 245 : 240 + i * 245] = face
    images["crowd"] = crowd
    # past MAX_ANALYSIS_PIXELS (5.2 MP): analysed shrunk, its boxes must still be in its own pixels
    images[SHRUNK] = cv2.resize(images["two_faces"], None, fx=4.5, fy=4.5, interpolation=cv2.INTER_CUBIC)
    return images


def png_url(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")  # lossless: the page sees the pixels Python does
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _run_readme_snippet(page, image_url: str) -> list[dict]:
    """README's JavaScript snippet as written, in the page, with one <img> in it: its ``faces``."""
    from test_readme import README

    [snippet] = re.findall(r"^```js\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    page.evaluate("""async (src) => { document.querySelectorAll("img").forEach((i) => i.remove());
        const image = document.createElement("img"); image.src = src; await image.decode();
        document.body.prepend(image); }""", image_url)
    return page.evaluate(f"async () => {{ {snippet}\n return faces; }}")


def _iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


# A browser without WASM SIMD, as far as the runtimes can tell: both pick their build by instantiating
# a tiny probe module that uses SIMD (opcode prefix 0xfd), so failing those probes alone sends them to
# their fallback builds (MediaPipe's nosimd, LiteRT.js's compat), while every real module still loads.
NO_WASM_SIMD = """(() => { const instantiate = WebAssembly.instantiate;
    WebAssembly.instantiate = function (source, ...rest) {
        const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : ArrayBuffer.isView(source) ? source : null;
        if (bytes && bytes.byteLength < 512 && bytes.includes(0xfd))
            return Promise.reject(new WebAssembly.CompileError("no WASM SIMD in this browser (test)"));
        return instantiate.call(this, source, ...rest);
    }; })();"""


def _on_device_answers(server, files, images, init_script=None, readme_image=None):
    """Each image of ``images`` through web/fer.js in a page of the app: ``(answers, load_ms, fetched,
    readme_faces)``, ``fetched`` the URLs of the app's that the page requested, ``readme_faces`` the
    faces README's snippet gives on ``readme_image`` (None where not asked)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            if init_script:
                page.add_init_script(init_script)
            fetched = []
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(server, wait_until="domcontentloaded")
            page.wait_for_function("window.FER_ON_DEVICE !== undefined")  # Gradio adds the head once loaded
            assert page.evaluate("window.FER_ON_DEVICE") == files  # what the app puts in the page's head
            load_ms = page.evaluate("""async (files) => { const m = await import(files.ferModule);
                window.fer = await m.loadRecognizer(files); return window.fer.loadMs; }""", files)
            readme_faces = None if readme_image is None else _run_readme_snippet(page, png_url(readme_image))
            answers = {name: page.evaluate("""async (src) => { const image = new Image(); image.src = src;
                await image.decode(); return await window.fer.analyze(image); }""", png_url(rgb))
                       for name, rgb in images.items()}
        finally:
            browser.close()
    return answers, load_ms, fetched, readme_faces


def _wasm_fetched(fetched: list[str]) -> set[str]:
    return {u.rsplit("/", 1)[1] for u in fetched if u.endswith(".wasm")}


def test_the_page_gets_the_librarys_answers_on_device(server, recognizer):
    files = on_device.files(recognizer.model_folder)
    images = made_images()
    answers, load_ms, fetched, readme_faces = _on_device_answers(server, files, images, readme_image=images["two_faces"])
    print(f"on device: loaded in {load_ms:.0f} ms")
    assert load_ms > 0
    assert _wasm_fetched(fetched) == {"vision_wasm_internal.wasm", "litert_wasm_internal.wasm"}  # the SIMD builds
    assert readme_faces == answers["two_faces"]["faces"]  # README's snippet, as copied, gives the same
    _assert_same_answers(recognizer, images, answers)


def test_a_browser_without_wasm_simd_gets_the_same_answers_from_the_fallback_builds(server, recognizer):
    """The nosimd and compat builds the app serves (on_device.NPM_FILES) load and agree with the library."""
    images = {name: rgb for name, rgb in made_images().items() if name in ("two_faces", "face_filling", "crowd")}
    answers, _, fetched, _ = _on_device_answers(server, on_device.files(recognizer.model_folder), images, NO_WASM_SIMD)
    assert _wasm_fetched(fetched) == {"vision_wasm_nosimd_internal.wasm", "litert_wasm_compat_internal.wasm"}
    _assert_same_answers(recognizer, images, answers, min_faces=5)


def _assert_same_answers(recognizer, images, answers, min_faces=14):
    """The page's ``answers`` against ``EmotionRecognizer.predict(image, tiles=1)`` on each image: the
    same faces, boxes within 5% of the face's size, labels, probabilities and the unsure flag."""
    labels_equal, faces, worst_p, worst_at = 0, 0, 0.0, None
    for name, rgb in images.items():
        expected = recognizer.predict(rgb, tiles=1).faces
        got = answers[name]["faces"]
        assert answers[name]["size"] == [rgb.shape[1], rgb.shape[0]], name
        assert len(got) == len(expected), (name, [f.box for f in expected], [g["box"] for g in got])
        for face in expected:
            match = max(got, key=lambda g: _iou(g["box"], face.box))
            size = max(face.box[2] - face.box[0], face.box[3] - face.box[1])
            assert max(abs(a - b) for a, b in zip(match["box"], face.box)) <= 0.05 * size, (name, face.box, match["box"])
            gap = max(abs(match["scores"][k] - v) for k, v in face.scores.items())
            if name == SHRUNK:  # the canvas's shrink is not cv2's INTER_AREA: its crops differ by a few levels
                assert gap <= 0.06, (name, gap)
            elif gap > worst_p:
                worst_p, worst_at = gap, name
            labels_equal += match["label"] == face.label
            faces += 1
            assert match["uncertain"] == face.uncertain or abs(max(face.scores.values()) - recognizer.uncertain_below) < 0.03
    print(f"on device: {faces} faces, labels equal on {labels_equal}, probabilities within {worst_p:.4f}")
    assert faces >= min_faces and labels_equal / faces >= 0.97, (labels_equal, faces)
    assert worst_p <= 0.03, (worst_p, worst_at)


def _frames(count: int = 40) -> list[list[dict]]:
    """Faces over ``count`` frames as analyze() gives them: two people crossing, one of them missed
    for three frames, a third arriving halfway; each frame's probabilities drawn at random."""
    rng = np.random.default_rng(7)
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    frames = []
    for t in range(count):
        boxes = [(40 + 9 * t, 60, 140 + 9 * t, 160), (420 - 9 * t, 70, 515 - 9 * t, 165)]
        if 12 <= t < 15:
            boxes.pop(0)
        if t >= 20:
            boxes.append((250, 300, 330, 380))
        faces = []
        for box in boxes:
            p = rng.dirichlet(np.ones(7))
            faces.append({"box": list(box), "score": 0.9, "label": labels[int(p.argmax())],
                          "scores": dict(zip(labels, map(float, p))), "uncertain": bool(p.max() < 0.46)})
        frames.append(faces)
    return frames


def _in_app_page(server: str, module: str, script: str, argument):
    """``script`` (an async function of ``[url, argument]``) run in a page of the app in Chromium, where
    ``url`` is the app's own URL of ``web/MODULE``; its result."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(server, wait_until="domcontentloaded")
            page.wait_for_function("window.FER_ON_DEVICE !== undefined")
            url = page.evaluate("window.FER_ON_DEVICE.ferModule").replace("/fer.js", f"/{module}")
            return page.evaluate(script, [url, argument])
        finally:
            browser.close()


def test_the_pages_tracker_and_timeline_follow_faces_as_fer_tracking_does(server):
    from fer.results import FaceResult, ImageResult
    from fer.tracking import EmotionTimeline, FaceTracker

    frames = _frames()
    tracker, timeline = FaceTracker(window=4, uncertain_below=0.46), EmotionTimeline(seconds=2.0)
    expected = []
    for t, faces in enumerate(frames):
        tracked = tracker.update(ImageResult([FaceResult(box=tuple(f["box"]), score=f["score"], label=f["label"],
                                                         scores=f["scores"], uncertain=f["uncertain"]) for f in faces],
                                             (640, 480)))
        timeline.add(t / 10, tracked)
        expected.append([(x.id, x.face.label, x.face.uncertain, list(x.face.scores.values())) for x in tracked])
    label, share, seconds = timeline.most_seen(len(frames) / 10)
    got, seen = _in_app_page(server, "tracking.js", """async ([url, frames]) => { const m = await import(url);
        const tracker = new m.FaceTracker({window: 4, uncertainBelow: 0.46}), timeline = new m.EmotionTimeline(2);
        const out = frames.map((faces, t) => { const tracked = tracker.update(faces); timeline.add(t / 10, tracked);
            return tracked.map((x) => [x.id, x.face.label, x.face.uncertain, Object.values(x.face.scores)]); });
        return [out, timeline.mostSeen(frames.length / 10)]; }""", frames)
    assert [[(i, lab, u) for i, lab, u, _ in f] for f in got] == [[(i, lab, u) for i, lab, u, _ in f] for f in expected]
    assert np.allclose([p for f in got for *_, p in f], [p for f in expected for *_, p in f], atol=1e-9)
    assert {i for f in expected for i, *_ in f} == {1, 2, 3}  # the crossing and the gap kept two ids, a third came
    assert seen[0] == label and seen[1] == pytest.approx(share) and seen[2] == pytest.approx(seconds)


def _layouts() -> list[tuple[str, tuple[int, int], list[dict]]]:
    """Frames where the rules pick different places: a webcam close-up (above), a face filling the
    frame (no room above or below: inside the box, clear of the eyes), two people side by side with
    one close to the top, and a row of small faces under a tall one."""
    def face(box, label="happy", p=0.8, uncertain=False, eyes=True, eye_height=0.4):
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        keypoints = [[x0 + 0.3 * w, y0 + eye_height * h], [x0 + 0.7 * w, y0 + eye_height * h]] if eyes else []
        return {"box": list(box), "score": 0.9, "label": label, "uncertain": uncertain, "keypoints": keypoints,
                "scores": {label: p, "sad": round(1 - p, 4)}}

    return [
        ("close-up", (640, 480), [face((220, 120, 420, 360))]),
        ("face filling the frame", (480, 480), [face((10, 0, 470, 480), "surprise", 0.97)]),
        ("no keypoints, filling", (480, 480), [face((10, 0, 470, 480), "sad", 0.41, uncertain=True, eyes=False)]),
        # cut off at the brows: inside its top edge would cover the eyes, so inside its bottom edge
        ("eyes at the top edge", (480, 480), [face((10, 0, 470, 480), "fear", 0.7, eye_height=0.05)]),
        # confidence 0.625: Python rounds the half to even (62%), as the page must
        ("a 1280x720 frame, near the top", (1280, 720), [face((500, 30, 800, 400), "happy", 0.625)]),
        ("two side by side", (640, 480), [face((40, 8, 300, 300), "neutral", 0.55), face((330, 120, 560, 350), "angry", 0.6)]),
        ("a tall face over a row", (800, 600), [face((300, 30, 500, 300))]
         + [face((20 + i * 130, 380, 120 + i * 130, 480), "sad", 0.5 + i / 20) for i in range(6)]),
    ]


def test_the_pages_labels_go_where_fer_draw_places_them(server):
    """web/labels.js (on-device mode's label placement) against fer.draw.place_labels on the same
    faces: the same place by the same rule, the same font size. The fonts differ (the browser's
    against Pillow's DejaVu Sans), so the text widths may differ by a few pixels."""
    from fer.draw import place_labels
    from fer.results import FaceResult

    cases = _layouts()
    got = _in_app_page(server, "labels.js", """async ([url, cases]) => { const m = await import(url);
        const ctx = document.createElement("canvas").getContext("2d");
        return cases.map(([, size, faces]) => m.placeLabels(faces, size, (text, s) => m.inkSize(ctx, text, s))); }""", cases)
    assert [len(placed) for placed in got] == [len(faces) for _, _, faces in cases]
    for (name, size, faces), placed in zip(cases, got):
        expected = place_labels([FaceResult(box=tuple(f["box"]), score=f["score"], label=f["label"], scores=f["scores"],
                                            uncertain=f["uncertain"], keypoints=tuple(map(tuple, f["keypoints"])))
                                 for f in faces], size)
        for i, (js, py) in enumerate(zip(placed, expected)):
            assert js["text"] == py.text and abs(js["fontSize"] - py.font_size) <= 1, (name, i)
            (jx0, jy0, jx1, jy1), (px0, py0, px1, py1) = js["rect"], py.rect
            # the same row (the same rule): the edge next to the box within a pixel, the height by the fonts alone
            assert min(abs(jy0 - py0), abs(jy1 - py1)) <= 1 and abs((jy1 - jy0) - (py1 - py0)) <= 3, (name, i, js["rect"], py.rect)
            # aligned with the same edge of the box, the widths apart by the fonts alone
            assert min(abs(jx0 - px0), abs(jx1 - px1)) <= 3 and abs((jx1 - jx0) - (px1 - px0)) <= 0.2 * (px1 - px0), (
                name, i, js["rect"], py.rect)
            assert 0 <= jx0 and 0 <= jy0 and jx1 <= size[0] and jy1 <= size[1]
    for case in (1, 2):  # a face filling the frame: its label inside the box, clear of its eyes (at 40%)
        x0, y0, x1, y1 = got[case][0]["rect"]
        assert y1 < 0.3 * 480 or y0 > 0.55 * 480
    assert got[3][0]["rect"][1] > 0.8 * 480  # the eyes at its top edge: the label at the bottom
