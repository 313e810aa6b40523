"""Throughput of batch analysis: ``python benchmarks/batch.py [--images 200] [--video-seconds 30] [--workers 1 2]``.

A folder of generated photos (the example photos, resized and flipped, 640 px wide) and one
generated 640x480 30 fps video with a face moving across it go through:

- the plain single-process loop the ``python -m fer`` CLI runs (``predict(load_image(path))`` per
  photo, :func:`fer.video.analyze_video` for the video), model loading timed apart;
- ``fer.batch.analyze_collection`` on local Ray with 1 and 2 actor workers (video in 5 s chunks).

Each configuration runs in its own process, so peak memory is its own. "Start-up" is timed alike
for every configuration, from the moment the parent starts its process to the first photo's
answer: the interpreter, the imports, and for Ray, starting Ray, Ray Data and the actors (each
loads the model). "Wall" adds the work to it; for Ray, "steady" subtracts a later one-photo run's
start-up instead (the rate a long job sees). Peak memory per worker is the highest
VmHWM (peak resident set) of the actor processes, read from /proc while they run (Linux).

Last, the driver's share: how many result rows per second it can join and write to Parquet,
which bounds a cluster however many workers it has.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPAWNED = "FER_BENCH_SPAWNED"  # the parent's clock when it started a child: start-up counts from there


# ------------------------------------------------------------------------------------------------
# Data


def make_images(folder: Path, count: int) -> None:
    from PIL import Image, ImageOps

    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((ROOT / "examples").glob("*.jpg"))
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im = im.resize((640, round(im.height * 640 / im.width)))
            if (i // len(sources)) % 2:
                im = ImageOps.mirror(im)
            im.save(folder / f"photo_{i:05d}.jpg", quality=90)


def make_video(path: Path, seconds: float, fps: float = 30.0, size: tuple[int, int] = (640, 480)) -> int:
    """A portrait gliding left and right over a grey frame (mp4v)."""
    import cv2
    import numpy as np

    w, h = size
    face = cv2.imread(str(ROOT / "examples" / "grace_hopper.jpg"))
    face = cv2.resize(face, (int(face.shape[1] * 0.6 * h / face.shape[0]), int(0.6 * h)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    frames = int(seconds * fps)
    for i in range(frames):
        frame = np.full((h, w, 3), 110, np.uint8)
        x = int((w - face.shape[1]) * (0.5 + 0.5 * np.sin(i / fps)))
        frame[h // 5 : h // 5 + face.shape[0], x : x + face.shape[1]] = face
        writer.write(frame)
    writer.release()
    return frames


# ------------------------------------------------------------------------------------------------
# Children: one configuration each


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def since_spawned() -> float:
    """Seconds since the parent started this process: start-up as a fresh run sees it, the
    interpreter and the imports included, timed the same way for every configuration."""
    return time.time() - float(os.environ[SPAWNED])


def child_plain(data: Path) -> dict:
    from fer import EmotionRecognizer, load_image
    from fer.video import analyze_video

    photos = sorted((data / "images").glob("*.jpg"))
    recognizer = EmotionRecognizer()
    recognizer.predict(load_image(photos[0]))  # the model and detector load on first use
    load = since_spawned()
    start = time.perf_counter()
    for path in photos:
        recognizer.predict(load_image(path))
    images_s = time.perf_counter() - start
    start = time.perf_counter()
    analysis = analyze_video(recognizer, data / "video.mp4", max_seconds=1e9)
    video_s = time.perf_counter() - start
    # wall: as a fresh `python -m fer` run would see it, model loading included
    return {"startup_s": load, "images": len(photos), "images_wall_s": load + images_s, "images_steady_s": images_s,
            "frames": analysis.analysed_frames, "video_wall_s": load + video_s, "video_steady_s": video_s,
            "peak_mib": peak_rss_mib()}


class WorkerMemory(threading.Thread):
    """Polls /proc for Ray Data's actor processes and keeps each one's peak resident set."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peaks: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            for proc in Path("/proc").iterdir():
                try:
                    if proc.name.isdigit() and b"MapWorker" in (proc / "cmdline").read_bytes():
                        for line in (proc / "status").read_text().splitlines():
                            if line.startswith("VmHWM:"):
                                self.peaks[int(proc.name)] = max(self.peaks.get(int(proc.name), 0), int(line.split()[1]) / 1024)
                except OSError:
                    continue  # the process ended between listing and reading


def child_ray(data: Path, workers: int, out: Path) -> dict:
    import logging

    import ray

    from fer.batch import analyze_collection

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    memory = WorkerMemory()
    memory.start()
    photos = sorted((data / "images").glob("*.jpg"))

    def timed(inputs, name, **kwargs):
        start = time.perf_counter()
        summary = analyze_collection(inputs, out / name, workers=workers, **kwargs)
        return summary, time.perf_counter() - start

    timed(photos[:1], "startup")
    startup = since_spawned()  # what a fresh run pays: imports, Ray, Ray Data's set-up, actors, models
    _, restart = timed(photos[1:2], "restart")  # what each later run pays: a new actor pool, models
    images, images_s = timed([data / "images"], "images")
    video, video_s = timed([data / "video.mp4"], "video", chunk_seconds=5)
    memory.stop.set()
    ray.shutdown()
    # wall: as a fresh `python -m fer.batch` run would see it (the first run's start-up, then the work)
    images_work, video_work = images_s - restart, video_s - restart
    return {"startup_s": startup, "images": images.processed, "images_wall_s": startup + images_work,
            "images_steady_s": images_work, "frames": video.frames, "video_wall_s": startup + video_work,
            "video_steady_s": video_work, "peak_mib": max(memory.peaks.values(), default=0.0),
            "driver_peak_mib": peak_rss_mib()}


# ------------------------------------------------------------------------------------------------
# Driver share


def driver_rows_per_s(rows: int = 200_000) -> float:
    """Rows through the driver's streaming join and Parquet writer, with no analysis behind them."""
    import pyarrow as pa

    from fer import batch

    class Fake:  # a video in 20 chunks, one face per frame: the driver's heaviest case per row
        def iter_batches(self, **_):
            per_chunk = rows // 20
            for c in range(20):
                frames = range(c * per_chunk, (c + 1) * per_chunk)
                yield pa.Table.from_pylist([
                    {"path": "/v.mp4", "frame": f, "time_s": f / 30, "face": 1, "x0": 10, "y0": 10, "x1": 90,
                     "y1": 90, "score": 0.9, "label": "happy", **{k: 1 / 7 for k in batch.EMOTIONS},
                     "_chunk": c, "_chunks": 20, "_rows": per_chunk} for f in frames], schema=batch.RAW_SCHEMA)

    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as tmp:
        writer = batch.PartWriter(Path(tmp) / "out.parquet")
        start = time.perf_counter()
        with tqdm(disable=True) as bar:
            batch.stream_to_parts(Fake(), ["/v.mp4"], writer, batch.Summary(), 1, bar)
        writer.flush()
        return rows / (time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------


def run_child(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), FER_MODEL=os.environ.get("FER_MODEL", "bundled"), **{SPAWNED: repr(time.time())})
    proc = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--video-seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", choices=["plain", "ray"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "plain":
        print(json.dumps(child_plain(args.data)))
        return
    if args.child == "ray":
        print(json.dumps(child_ray(args.data, args.workers[0], args.out)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        make_images(data / "images", args.images)
        frames = make_video(data / "video.mp4", args.video_seconds)
        print(f"{args.images} photos 640 px wide; video 640x480, {frames} frames at 30 fps; {os.cpu_count()} CPUs")
        results = {"plain loop (python -m fer)": run_child(["--child", "plain", "--data", str(data)])}
        for n in args.workers:
            results[f"Ray Data, {n} worker{'s' * (n > 1)}"] = run_child(
                ["--child", "ray", "--data", str(data), "--workers", str(n), "--out", str(data / f"out{n}")])
    print("\n| run | start-up s | photos/s (wall) | photos/s (steady) | video frames/s (wall) | frames/s (steady) "
          "| peak MiB per worker |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['startup_s']:.1f} | {r['images'] / r['images_wall_s']:.1f} | "
              f"{r['images'] / r['images_steady_s']:.1f} | {r['frames'] / r['video_wall_s']:.1f} | "
              f"{r['frames'] / r['video_steady_s']:.1f} | {r['peak_mib']:.0f} |")
    drivers = ", ".join(f"{r['driver_peak_mib']:.0f}" for r in results.values() if "driver_peak_mib" in r)
    print(f"\nRay driver peak MiB: {drivers}; driver: {driver_rows_per_s():,.0f} result rows/s joined and "
          "written to Parquet")


if __name__ == "__main__":
    main()
