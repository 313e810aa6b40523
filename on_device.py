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
# Every file of node_modules the page may fetch, and no other: the app serves exactly these and
# space.deploy ships exactly these (45 MB of the packages' 80). MediaPipe picks its SIMD build or, in
# a browser without WASM SIMD, the nosimd one (its "module" builds are for forVisionTasks(..., true),
# which web/fer.js does not ask for); LiteRT.js picks its relaxed-SIMD build or the compat one (its
# threaded build needs cross-origin isolation, which Gradio's pages do not have, and its JSPI build an
# option web/fer.js does not set). Each package.json goes too: it names the version and the licence.
NPM_FILES = [NODE_MODULES / name for name in (
    "@mediapipe/tasks-vision/package.json",
    "@mediapipe/tasks-vision/vision_bundle.mjs",
    "@mediapipe/tasks-vision/wasm/vision_wasm_internal.js",
    "@mediapipe/tasks-vision/wasm/vision_wasm_internal.wasm",
    "@mediapipe/tasks-vision/wasm/vision_wasm_nosimd_internal.js",
    "@mediapipe/tasks-vision/wasm/vision_wasm_nosimd_internal.wasm",
    "@litertjs/core/package.json",
    "@litertjs/core/dist/index.js",
    "@litertjs/core/wasm/litert_wasm_internal.js",
    "@litertjs/core/wasm/litert_wasm_internal.wasm",
    "@litertjs/core/wasm/litert_wasm_compat_internal.js",
    "@litertjs/core/wasm/litert_wasm_compat_internal.wasm",
    "@litertjs/wasm-utils/package.json",
    "@litertjs/wasm-utils/dist/index.js",
)]
URL_PREFIX = "/gradio_api/file="


def url(path: Path) -> str:
    """Where Gradio serves ``path`` (a folder under :func:`static_paths`); folders end with "/"."""
    return URL_PREFIX + str(path) + ("/" if path.is_dir() else "")


def missing() -> list[str]:
    """The runtime files not there (``npm ci`` not run), as paths relative to the repository."""
    needed = [*RUNTIME_FILES.values(), *BARE_IMPORTS.values(), *NPM_FILES]
    return [str(p.relative_to(ROOT)) for p in needed if not p.exists()]


def stale(root: Path = ROOT) -> list[str]:
    """The npm packages in ``root`` (the repository) whose installed version is not the lock file's
    (``npm ci`` not run since package-lock.json changed), as "NAME installed X, locked Y"."""
    import json

    lock = root / "package-lock.json"
    if not lock.exists():  # a copy of the app's files alone (a Space's): nothing to compare with
        return []
    locked = json.loads(lock.read_text())["packages"]
    found = []
    for manifest in (root / p.relative_to(ROOT) for p in NPM_FILES if p.name == "package.json"):
        if not manifest.exists():
            continue
        name = manifest.parent.relative_to(root / "node_modules").as_posix()
        installed = json.loads(manifest.read_text())["version"]
        want = locked.get(f"node_modules/{name}", {}).get("version")
        if installed != want:
            found.append(f"{name} installed {installed}, locked {want}")
    return found


def files(model_folder: Path) -> dict[str, str] | None:
    """The URLs ``web/fer.js``'s ``loadRecognizer`` takes, for the model in ``model_folder``; None
    where the npm packages are not installed."""
    if missing():
        return None
    return {**{role: url(path) for role, path in RUNTIME_FILES.items()},
            "model": url(model_folder / "model.tflite"), "config": url(model_folder / "config.json")}


MODEL_FILES = ("model.tflite", "config.json")  # of a model folder, all the page loads


def model_paths(folder: Path) -> list[Path]:
    """What Gradio may serve of a model folder: its LiteRT file and config, not the rest (its card, or
    a run folder's checkpoints and logs), resolved, since Gradio resolves each request's path before
    checking it: a Hub snapshot's files are links into the cache's blobs/, outside the folder."""
    return [(Path(folder) / name).resolve() for name in MODEL_FILES if (Path(folder) / name).exists()]


def static_paths(model_folders: list[Path]) -> list[Path]:
    """What Gradio may serve for the page: :data:`NPM_FILES` (not the rest of node_modules), our JS,
    the detectors and each model folder's :func:`model_paths`."""
    models = {p for folder in model_folders for p in model_paths(folder)}
    return sorted(p for p in {*NPM_FILES, ROOT / "web", DETECTORS, *models} if p.exists())


def head(found: dict[str, str] | None) -> str:
    """The page's ``<head>`` addition: where LiteRT.js finds the package it imports by name, and
    ``window.FER_ON_DEVICE``, the files :func:`files` found (none where npm ci was not run)."""
    import json

    imports = {name: url(path) for name, path in BARE_IMPORTS.items()}
    return (f'<script type="importmap">{json.dumps({"imports": imports})}</script>'
            + (f"<script>window.FER_ON_DEVICE = {json.dumps(found)};</script>" if found else ""))
