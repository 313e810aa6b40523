"""The files the page needs to analyse webcam frames on the visitor's device (issue 40), served by the
app from its own origin, never a CDN: MediaPipe Tasks for Web (the BlazeFace models fer/detect.py
runs), LiteRT.js (the model folder's own model.tflite and config.json) and ``web/fer.js``, which
mirrors fer's detection, preprocessing and decision rule step by step.

The npm packages come from ``npm ci`` (package.json and package-lock.json pin them); where they are
not installed, :func:`files` says so and the page stays in server mode.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"
DETECTORS = ROOT / "fer" / "assets" / "face_detection"
# what the page loads, by role: the runtimes' JS and WASM from node_modules, our module, the models
RUNTIME_FILES = {
    "visionModule": NODE_MODULES / "@mediapipe/tasks-vision/vision_bundle.mjs",
    "visionWasm": NODE_MODULES / "@mediapipe/tasks-vision/wasm",
    "litertModule": NODE_MODULES / "@litertjs/core/dist/index.js",
    "litertWasm": NODE_MODULES / "@litertjs/core/wasm",
    "ferModule": ROOT / "web" / "fer.js",
    "shortRange": DETECTORS / "face_detection_short_range.tflite",
    "fullRange": DETECTORS / "face_detection_full_range_sparse.tflite",
}
# LiteRT.js's module imports this package by its bare name: the page's import map says where it is
BARE_IMPORTS = {"@litertjs/wasm-utils": NODE_MODULES / "@litertjs/wasm-utils/dist/index.js"}
URL_PREFIX = "/gradio_api/file="


def url(path: Path) -> str:
    """Where Gradio serves ``path`` (a folder under :func:`static_paths`); folders end with "/"."""
    return URL_PREFIX + str(path) + ("/" if path.is_dir() else "")


def missing() -> list[str]:
    """The runtime files not there (``npm ci`` not run), as paths relative to the repository."""
    needed = [*RUNTIME_FILES.values(), *BARE_IMPORTS.values()]
    return [str(p.relative_to(ROOT)) for p in needed if not p.exists()]


def files(model_folder: Path) -> dict[str, str] | None:
    """The URLs ``web/fer.js``'s ``loadRecognizer`` takes, for the model in ``model_folder``; None
    where the npm packages are not installed."""
    if missing():
        return None
    return {**{role: url(path) for role, path in RUNTIME_FILES.items()},
            "model": url(model_folder / "model.tflite"), "config": url(model_folder / "config.json")}


def static_paths(model_folders: list[Path]) -> list[Path]:
    """What Gradio may serve for the page: exactly these folders (not all of node_modules)."""
    folders = {NODE_MODULES / "@mediapipe/tasks-vision", NODE_MODULES / "@litertjs", ROOT / "web", DETECTORS}
    return sorted(p for p in folders | set(model_folders) if p.exists())


def head(found: dict[str, str] | None) -> str:
    """The page's ``<head>`` addition: where LiteRT.js finds the package it imports by name, and
    ``window.FER_ON_DEVICE``, the files :func:`files` found (none where npm ci was not run)."""
    import json

    imports = {name: url(path) for name, path in BARE_IMPORTS.items()}
    return (f'<script type="importmap">{json.dumps({"imports": imports})}</script>'
            + (f"<script>window.FER_ON_DEVICE = {json.dumps(found)};</script>" if found else ""))
