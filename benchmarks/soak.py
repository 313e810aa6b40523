"""Load and soak of the running app: ``python benchmarks/soak.py [--clients 8] [--requests 500]``.

1. ``--clients`` gradio_client clients each send ``--requests`` ``/analyze`` calls (photos of one,
   two and no faces, in turn): errors, p50/p95 latency, throughput, and the server's RSS after a
   warm-up and at the end.
2. Then, at the same time: the webcam stream in headless Chromium (fake camera), a video upload to
   ``/analyze_video`` and the clients again: errors and annotated webcam frames per second.
3. The server's temporary files (Gradio's cache, set to a fresh folder) before and after.
Figures are printed; nothing is asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.webcam_fps import browser_fps, start_app  # noqa: E402

PHOTOS = [ROOT / "examples" / n for n in ("grace_hopper.jpg", "two_faces.jpg", "no_face_coffee.jpg")]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_usage(folder: Path) -> tuple[int, float]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def hammer(url: str, clients: int, requests: int, photos: list[Path] = PHOTOS) -> dict:
    """``clients`` threads, each its own gradio_client, ``requests`` /analyze calls each."""
    from gradio_client import Client, handle_file

    latencies, errors = [], []
    pool = [Client(url, verbose=False) for _ in range(clients)]

    def run(client, offset):
        for i in range(requests):
            start = time.perf_counter()
            try:
                client.predict(handle_file(str(photos[(i + offset) % len(photos)])), api_name="/analyze")
                latencies.append(time.perf_counter() - start)
            except Exception as err:  # counted: the figure is the number of errors
                errors.append(repr(err)[:200])

    threads = [threading.Thread(target=run, args=(c, k)) for k, c in enumerate(pool)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [float("nan")] * 19
    return {"ok": len(latencies), "errors": errors, "per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"), "p95_ms": 1000 * q[18]}


def video_upload(url: str, folder: Path) -> str:
    from gradio_client import Client, handle_file

    from videos import face_video

    video = face_video(folder / "soak.mp4", frames=60)
    try:
        out = Client(url, verbose=False).predict(handle_file(str(video)), 2, api_name="/analyze_video")
        return f"ok ({out[3]['analysed_frames']} frames analysed)"
    except Exception as err:
        return f"error: {repr(err)[:200]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="per client, in part 1")
    parser.add_argument("--seconds", type=float, default=20.0, help="webcam stream length in part 2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fer-soak-"))
    cache = work / "gradio-cache"
    os.environ["GRADIO_TEMP_DIR"] = str(cache)  # the server's uploads and results, counted below
    proc, url = start_app()
    try:
        print(f"machine: {os.cpu_count()} CPU threads (server and clients share them)")
        warm = hammer(url, args.clients, 10)
        rss_warm = rss_mib(proc.pid)
        files_warm = folder_usage(cache)
        print(f"\n1. {args.clients} clients x {args.requests} /analyze (after {args.clients} x 10 warm-up calls)")
        load = hammer(url, args.clients, args.requests)
        rss_end = rss_mib(proc.pid)
        print(f"   {load['ok']} answered, {len(load['errors'])} errors, {load['per_s']:.1f} req/s, "
              f"p50 {load['p50_ms']:.0f} ms, p95 {load['p95_ms']:.0f} ms")
        print(f"   server RSS after warm-up {rss_warm:.0f} MiB, after the soak {rss_end:.0f} MiB "
              f"({100 * (rss_end / rss_warm - 1):+.1f}%), peak {peak_rss_mib(proc.pid):.0f} MiB")
        for e in sorted(set(load["errors"] + warm["errors"]))[:5]:
            print(f"   error: {e}")

        print(f"\n2. at once: webcam stream ({args.seconds:.0f} s in Chromium), a video upload, {args.clients} clients x 50 /analyze")
        results: dict = {}
        threads = [
            threading.Thread(target=lambda: results.update(webcam=browser_fps(url, args.seconds))),
            threading.Thread(target=lambda: results.update(video=video_upload(url, work))),
            threading.Thread(target=lambda: results.update(load=hammer(url, args.clients, 50))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fps, frames = results.get("webcam", (float("nan"), 0))
        mixed = results["load"]
        print(f"   webcam: {fps:.1f} annotated frames/s ({frames} frames); video: {results['video']}")
        print(f"   /analyze: {mixed['ok']} answered, {len(mixed['errors'])} errors, p50 {mixed['p50_ms']:.0f} ms, p95 {mixed['p95_ms']:.0f} ms")
        files_end = folder_usage(cache)
        print(f"\n3. server temporary files (Gradio cache): {files_warm[0]} files / {files_warm[1]:.1f} MiB after warm-up, "
              f"{files_end[0]} files / {files_end[1]:.1f} MiB at the end; uploads are stored once per content "
              f"(hashed) and files older than a day are deleted hourly (app.py delete_cache)")
        print(f"   server RSS at the end {rss_mib(proc.pid):.0f} MiB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
