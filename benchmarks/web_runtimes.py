"""The on-device classifier's web runtime, measured: ``python benchmarks/web_runtimes.py [--rounds 3] [--runs 300]``.

Issue 40 asks which runtime the page runs the classifier in: LiteRT.js (``@litertjs/core``, the app's
choice, on the model folder's own ``model.tflite``) or ONNX Runtime Web (``onnxruntime-web``, on an
ONNX copy made here from that same file by tf2onnx, as the page would have to ship). For each
bundled model (fast, accurate) and each runtime, in headless Chromium on this machine, a fresh
browser context per round (nothing cached):

- **load**: from importing the runtime's module to a compiled model, the runtime's WASM and the
  model fetched from a local server (what a visitor waits for, past the detector);
- **ms a face**: the median time of one 48x48 face through the model (batch one, as the page runs
  it), over ``--runs`` faces after 20 of warm-up;
- **downloaded**: the bytes the page fetched for it (module, WASM, model), from the browser's own
  resource timing;
- **agreement**: the largest difference between the two runtimes' logits on the same faces, so the
  comparison is of one model, not two.

Both run on WASM, one thread, no cross-origin isolation, as the app serves its page (Gradio sends no
COOP/COEP headers, so neither runtime may start threads there). ONNX Runtime Web is installed for
this benchmark alone (``benchmarks/web_runtimes/package.json`` and its lock file, ``npm ci`` there);
the app never serves it. Needs tf2onnx (requirements-dev.txt) with TensorFlow (requirements-train.txt),
and playwright with Chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import on_device  # noqa: E402

HERE = ROOT / "benchmarks" / "web_runtimes"
ORT_DIST = HERE / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM = os.environ.get("FER_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
MODELS = {"fast": ROOT / "fer" / "assets" / "model", "accurate": ROOT / "fer" / "assets" / "accurate"}

# The page: one runtime, one model, timed; the same pseudo-random faces for both runtimes
PAGE_JS = """
async ({runtime, module, wasm, model, runs, faces}) => {
  const size = 48;
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const inputs = Array.from({length: faces}, () => Float32Array.from({length: size * size}, random));
  const started = performance.now();
  let infer;
  if (runtime === "litert") {
    const litert = await import(module);
    await litert.loadLiteRt(wasm);
    const compiled = await litert.loadAndCompile(model, {accelerator: "wasm"});
    const at = compiled.getOutputDetails().findIndex((o) => o.shape.length === 2);
    infer = async (x) => {
      const input = new litert.Tensor(x, [1, size, size, 1]);
      const outputs = await compiled.run(input);
      const logits = Array.from(outputs[at].toTypedArray());
      input.delete();
      outputs.forEach((t) => t.delete());
      return logits;
    };
  } else {
    const ort = await import(module);
    ort.env.wasm.wasmPaths = wasm;
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(model, {executionProviders: ["wasm"]});
    infer = async (x) => {
      const outputs = await session.run({[session.inputNames[0]]: new ort.Tensor("float32", x, [1, size, size, 1])});
      const logits = Object.values(outputs).find((t) => t.dims.length === 2);
      return Array.from(logits.data);
    };
  }
  const loadMs = performance.now() - started;
  const logits = [];
  for (const x of inputs) logits.push(await infer(x));
  for (let i = 0; i < 20; i++) await infer(inputs[i % faces]);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await infer(inputs[i % faces]);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const bytes = performance.getEntriesByType("resource").reduce((s, e) => s + (e.encodedBodySize || 0), 0);
  return {loadMs, msPerFace: times[Math.floor(times.length / 2)], bytes, logits};
}
"""


def to_onnx(tflite: Path, out: Path) -> Path:
    """An ONNX copy of ``tflite`` (tf2onnx, opset 17): what the page would ship to run ONNX Runtime Web."""
    from tf2onnx import convert

    convert.from_tflite(str(tflite), opset=17, output_path=str(out))
    return out


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """A static server of ``directory`` on 127.0.0.1 (plain headers: no cross-origin isolation)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def measure(browser, base: str, runtime: str, files: dict, runs: int, faces: int) -> dict:
    context = browser.new_context()  # nothing cached from the last round
    try:
        page = context.new_page()
        page.goto(f"{base}/page.html")
        return page.evaluate(PAGE_JS, {"runtime": runtime, **{k: base + v for k, v in files.items()}, "runs": runs, "faces": faces})
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh browser contexts per runtime and model")
    parser.add_argument("--runs", type=int, default=300, help="timed faces per round")
    parser.add_argument("--faces", type=int, default=16, help="distinct faces whose logits are compared")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    if on_device.missing():
        raise SystemExit(f"npm ci first (missing: {', '.join(on_device.missing())})")
    if not ORT_DIST.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        site = Path(tmp)
        # one origin for everything, as the app serves it: the repository's files linked in
        (site / "node_modules").symlink_to(ROOT / "node_modules")
        (site / "ort").symlink_to(ORT_DIST)
        (site / "fer").symlink_to(ROOT / "fer")
        imports = {name: "/" + str(path.relative_to(ROOT)) for name, path in on_device.BARE_IMPORTS.items()}
        (site / "page.html").write_text(f'<!doctype html><script type="importmap">{json.dumps({"imports": imports})}</script>')
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        version, rows = browser.version, []
        with serve(site) as base:
            for name in args.models:
                folder = MODELS[name]
                onnx = to_onnx(folder / "model.tflite", site / f"{name}.onnx")
                files = {
                    "litert": {"module": "/" + str(on_device.RUNTIME_FILES["litertModule"].relative_to(ROOT)),
                               "wasm": "/" + str(on_device.RUNTIME_FILES["litertWasm"].relative_to(ROOT)) + "/",
                               "model": "/" + str((folder / "model.tflite").relative_to(ROOT))},
                    "onnxruntime-web": {"module": "/ort/ort.wasm.min.mjs", "wasm": "/ort/", "model": f"/{onnx.name}"},
                }
                results = {runtime: [measure(browser, base, runtime.split("-")[0], f, args.runs, args.faces)
                                     for _ in range(args.rounds)] for runtime, f in files.items()}
                a, b = (results[r][0]["logits"] for r in files)
                diff = max(abs(x - y) for fa, fb in zip(a, b) for x, y in zip(fa, fb))
                for runtime, rounds in results.items():
                    rows.append((name, runtime, statistics.median(r["loadMs"] for r in rounds) / 1000,
                                 statistics.median(r["msPerFace"] for r in rounds),
                                 statistics.median(r["bytes"] for r in rounds) / 1e6, diff,
                                 [round(r["msPerFace"], 2) for r in rounds]))
        browser.close()
    print(f"Chromium {version}, WASM, one thread; medians of {args.rounds} fresh contexts, {args.runs} faces each")
    print("| model | runtime | load (s) | ms a face | downloaded (MB) | largest logit difference | ms a face, each round |")
    print("|---|---|---|---|---|---|---|")
    for name, runtime, load, ms, mb, diff, each in rows:
        print(f"| {name} | {runtime} | {load:.2f} | {ms:.2f} | {mb:.1f} | {diff:.2g} | {each} |")


if __name__ == "__main__":
    main()
