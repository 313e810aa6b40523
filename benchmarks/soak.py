"""Load and soak of the running app: ``python benchmarks/soak.py [--clients 8] [--requests 500]``.

1. ``--clients`` gradio_client clients each send ``--requests`` ``/analyze`` calls (photos of one,
   two and no faces, in turn): errors, p50/p95 latency, throughput, and the server's RSS at start,
   after a warm-up (``--warm-up`` calls per client), every 5 s and at the end. The clients are lean
   (see :func:`hammer`).
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


def sample_rss(pid: int, done: threading.Event, samples: list[float], every_s: float) -> None:
    while not done.wait(every_s):
        samples.append(rss_mib(pid))


def folder_usage(folder: Path) -> tuple[int, float]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def hammer(url: str, clients: int, requests: int, photos: list[Path] = PHOTOS, lean: bool = True) -> dict:
    """``clients`` threads, each its own gradio_client, ``requests`` /analyze calls each.

    ``lean`` clients skip TLS certificate setup (``ssl_verify=False``; the server is plain HTTP on
    127.0.0.1, so nothing is verified either way). gradio_client makes fresh HTTP clients for every
    call, and by default each loads the CA store: about 100 ms of client CPU a call, which on a
    2-core machine shared with the server measures the clients more than the server.
    """
    from gradio_client import Client, handle_file

    latencies, errors = [], []
    pool = [Client(url, verbose=False, ssl_verify=not lean) for _ in range(clients)]

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
    parser.add_argument("--warm-up", type=int, default=50, help="calls per client before part 1's first RSS "
                        "figure: the second worker, the thread pools and the allocator's arenas fill up")
    parser.add_argument("--seconds", type=float, default=20.0, help="webcam stream length in part 2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fer-soak-"))
    cache = work / "gradio-cache"
    os.environ["GRADIO_TEMP_DIR"] = str(cache)  # the server's uploads and results, counted below
    proc, url = start_app()
    try:
        print(f"machine: {os.cpu_count()} CPU threads (server and clients share them)")
        rss_start = rss_mib(proc.pid)
        warm = hammer(url, args.clients, args.warm_up)
        rss_warm = rss_mib(proc.pid)
        files_warm = folder_usage(cache)
        print(f"\n1. {args.clients} clients x {args.requests} /analyze (after {args.clients} x {args.warm_up} warm-up calls)")
        samples: list[float] = []
        done = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(proc.pid, done, samples, 5.0))
        sampler.start()
        load = hammer(url, args.clients, args.requests)
        done.set()
        sampler.join()
        rss_end = rss_mib(proc.pid)
        print(f"   {load['ok']} answered, {len(load['errors'])} errors, {load['per_s']:.1f} req/s, "
              f"p50 {load['p50_ms']:.0f} ms, p95 {load['p95_ms']:.0f} ms")
        print(f"   server RSS at start {rss_start:.0f} MiB, after warm-up {rss_warm:.0f} MiB, after the soak {rss_end:.0f} MiB "
              f"({100 * (rss_end / rss_warm - 1):+.1f}% since warm-up), peak {peak_rss_mib(proc.pid):.0f} MiB")
        print(f"   RSS every 5 s during the soak (MiB): {' '.join(f'{v:.0f}' for v in samples)}")
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
