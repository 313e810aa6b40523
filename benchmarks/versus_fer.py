"""This project against the `fer` package (25.10.3), side by side in one run: ``python benchmarks/versus_fer.py``.

1. End to end, one thread each, in separate processes pinned to one core: a 640x480 photo with one
   face, a 3-face group photo and a webcam frame (our webcam path: no tiling), medians over repeats;
   plus each process's time from start to its first answer and its peak RSS. The sides take turns,
   ``--rounds`` times: medians over the rounds, and each round's ratio.
2. ``python app.py``: seconds from launch to the first HTTP answer; ``/analyze`` requests per second
   under 8 concurrent gradio_client clients, lean (``ssl_verify=False``: see ``soak.hammer``) and
   default, with the server's CPU time a request; the server's peak RSS after them. ``--before DIR``
   runs the same against another checkout (e.g. ``git worktree add /tmp/before <commit>``) for a ratio:
   both servers run side by side and take turns, ``--rounds`` times, so that the machine's drift
   falls on both alike; medians, and the ratio of each round, are printed.

The peer runs in its own virtual environment (``--peer-python``, default ``.peer-venv/bin/python``):
    python3 -m venv .peer-venv && .peer-venv/bin/pip install --no-deps fer==25.10.3 \\
      && .peer-venv/bin/pip install tensorflow-cpu==2.21.0 "opencv-python-headless<5" pandas pillow requests tqdm
and is skipped, with a message, where it is missing. Nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("FER_SHARED_DATA", ROOT.parent / "shared" / "data"))
ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "FER_WORKERS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "CUDA_VISIBLE_DEVICES": ""}
# our side times the shipped fast model, never a Hub download of whatever `main` holds
OURS = {"FER_MODEL": "bundled", "HF_HUB_OFFLINE": "1"}

# Each side's worker runs in a fresh process: time to first answer counts the imports and model loading.
WORKER = r'''
import json, os, resource, statistics, sys, time
start = float(os.environ["BENCH_START"])
os.sched_setaffinity(0, {int(os.environ["BENCH_CORE"])})
import cv2
images = json.loads(os.environ["BENCH_IMAGES"])
repeat = int(os.environ["BENCH_REPEAT"])
arrays = {name: cv2.imread(path) for name, path in images.items()}  # BGR, decoded once
if os.environ["BENCH_SIDE"] == "ours":
    from fer import EmotionRecognizer
    recognizer = EmotionRecognizer()
    rgb = {name: cv2.cvtColor(a, cv2.COLOR_BGR2RGB) for name, a in arrays.items()}
    calls = {name: (lambda im=im, webcam=name.startswith("webcam"): recognizer.predict(im, tiles=1 if webcam else None))
             for name, im in rgb.items()}
    faces = lambda name: len(calls[name]().faces)
else:
    from fer.fer import FER
    detector = FER()
    calls = {name: (lambda im=im: detector.detect_emotions(im)) for name, im in arrays.items()}
    faces = lambda name: len(calls[name]())
first_name = next(iter(calls))
faces(first_name)
first_answer = time.time() - start
out = {"first_answer_s": first_answer, "ms": {}, "faces": {}}
for name, call in calls.items():
    out["faces"][name] = faces(name)
    for _ in range(3):
        call()
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); call(); times.append((time.perf_counter() - t) * 1000)
    out["ms"][name] = statistics.median(times)
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["tensorflow_imported"] = "tensorflow" in sys.modules
print("BENCH" + json.dumps(out))
'''


def test_images(folder: Path) -> dict[str, str]:
    """The one-face photo and webcam frame (640x480, the same picture) and a 3-face group photo."""
    import cv2

    from benchmarks.latency import webcam_frame

    frame = cv2.cvtColor(webcam_frame(), cv2.COLOR_RGB2BGR)
    images = {"one-face photo 640x480": folder / "one_face.png"}
    cv2.imwrite(str(images["one-face photo 640x480"]), frame)
    group = SHARED / "scenes" / "dlib" / "2008_001322.jpg"
    if group.is_file():
        images["group photo, 3 faces"] = group
    else:
        print(f"{group} absent: the group photo is examples/two_faces.jpg instead", file=sys.stderr)
        images["group photo, 2 faces"] = ROOT / "examples" / "two_faces.jpg"
    images["webcam frame 640x480"] = images["one-face photo 640x480"]
    return {name: str(path) for name, path in images.items()}


def run_side(side: str, python: str, images: dict[str, str], repeat: int, core: int) -> dict | None:
    script = Path(tempfile.mkdtemp()) / "worker.py"  # outside the repository: the peer imports its own `fer`
    script.write_text(WORKER)
    env = {**os.environ, **ONE_THREAD, "BENCH_SIDE": side, "BENCH_IMAGES": json.dumps(images),
           "BENCH_REPEAT": str(repeat), "BENCH_CORE": str(core), "BENCH_START": repr(time.time())}
    if side == "ours":
        env.update(OURS, PYTHONPATH=str(ROOT))
    else:
        env.pop("PYTHONPATH", None)
    done = subprocess.run([python, str(script)], cwd=script.parent if side != "ours" else ROOT, env=env,
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH")]
    if done.returncode != 0 or not lines:
        print(f"   {side}: failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:] or ''}")
        return None
    return json.loads(lines[-1][5:])


def median_of(runs: list[dict], *keys: str) -> float:
    """The median over ``runs`` of ``run[keys[0]][keys[1]]...``."""
    return statistics.median(functools.reduce(operator.getitem, keys, run) for run in runs)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch(root: Path) -> tuple:
    """``python app.py`` in ``root``: (process, url, seconds from launch to its first HTTP answer)."""
    from benchmarks.webcam_fps import start_app

    start = time.time()
    server, url = start_app(root)
    return server, url, time.time() - start


def burst(server, url: str, image: str, clients: int, requests_each: int, lean: bool) -> dict:
    """``clients`` x ``requests_each`` /analyze calls: throughput, p50, errors, server CPU a request."""
    from benchmarks.soak import hammer  # here: soak imports this module's neighbours

    cpu_before = cpu_seconds(server.pid)
    load = hammer(url, clients, requests_each, [Path(image)], lean=lean)
    return {"per_s": load["per_s"], "errors": len(load["errors"]), "p50_ms": load["p50_ms"],
            "server_cpu_ms": 1000 * (cpu_seconds(server.pid) - cpu_before) / max(1, load["ok"])}


def app_figures(roots: dict[str, Path], image: str, clients: int, requests_each: int, rounds: int) -> dict:
    """Each checkout's ``python app.py``, launched one after the other and then kept running side by
    side: time to first HTTP answer, then ``rounds`` rounds in which every server in turn gets a burst
    of lean and of default clients, so the machine's drift (large here) falls on all alike; peak RSS."""
    from benchmarks.soak import hammer, peak_rss_mib

    servers = {}
    try:
        for name, root in roots.items():
            servers[name] = launch(root)
        figures = {name: {"first_http_s": first, "lean": [], "default": []} for name, (_, _, first) in servers.items()}
        for server, url, _ in servers.values():
            hammer(url, clients, 2, [Path(image)])  # warm-up: every worker and client started
        for _ in range(rounds):
            for kind in ("lean", "default"):
                for name, (server, url, _) in servers.items():
                    figures[name][kind].append(burst(server, url, image, clients, requests_each, kind == "lean"))
        for name, (server, _, _) in servers.items():
            figures[name]["server_peak_rss_mib"] = peak_rss_mib(server.pid)
        return figures
    finally:
        for server, _, _ in servers.values():
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-python", default=str(ROOT / ".peer-venv" / "bin" / "python"))
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="per client, in each burst")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each side in part 1, and bursts per server and "
                        "kind of client in part 2; medians printed")
    parser.add_argument("--before", type=Path, help="another checkout whose app.py to measure too")
    parser.add_argument("--skip-app", action="store_true")
    args = parser.parse_args()

    images = test_images(Path(tempfile.mkdtemp()))
    from train.run_folder import vector_unit  # the machines lent here differ: AVX-512 in some sessions, AVX2 in others

    print(f"machine: {os.cpu_count()} CPU threads ({vector_unit() or 'vector unit unknown'}); each side one thread, pinned to core 0, in its own process")
    peer_here = Path(args.peer_python).exists()
    if not peer_here:
        print(f"   peer skipped: no {args.peer_python} (see this script's docstring to install it)")
    # the two sides take turns, --rounds times, so that the machine's drift falls on both alike
    runs = {"ours": [], "peer": []}
    for _ in range(args.rounds):
        runs["ours"].append(run_side("ours", sys.executable, images, args.repeat, 0))
        if peer_here:
            runs["peer"].append(run_side("peer", args.peer_python, images, max(5, args.repeat // 5), 0))
    ours, peer = runs["ours"], runs["peer"] if peer_here and all(runs["peer"]) else None
    if not all(ours):
        raise SystemExit("our side failed: see above")
    print(f"\n1. end to end, one thread ({args.rounds} rounds, the sides taking turns: medians; faces found)")
    for name in images:
        line = f"   {name:<28} ours {median_of(ours, 'ms', name):7.1f} ms ({ours[0]['faces'][name]} faces)"
        if peer:
            ratios = [p["ms"][name] / o["ms"][name] for o, p in zip(ours, peer)]
            line += (f"   fer {median_of(peer, 'ms', name):7.1f} ms ({peer[0]['faces'][name]} faces)   "
                     f"{statistics.median(ratios):5.1f}x faster (rounds: {', '.join(f'{r:.1f}' for r in ratios)})")
        print(line)
    for key, label in (("first_answer_s", "first answer after process start (s)"), ("peak_rss_mib", "peak RSS (MiB)")):
        line = f"   {label:<40} ours {median_of(ours, key):7.2f}"
        if peer:
            line += f"   fer {median_of(peer, key):7.2f}"
        print(line)
    print(f"   TensorFlow imported by our process: {any(run['tensorflow_imported'] for run in ours)}")
    if args.skip_app:
        return
    print(f"\n2. python app.py: launch to first HTTP answer; /analyze, {args.rounds} rounds of {args.clients} clients "
          f"x {args.requests} requests (medians; the servers take turns)")
    roots = {"this checkout": ROOT, **({f"before ({args.before})": args.before} if args.before else {})}
    rows = app_figures(roots, images["one-face photo 640x480"], args.clients, args.requests, args.rounds)
    for name, r in rows.items():
        print(f"   {name:<40} first HTTP {r['first_http_s']:5.1f} s   server peak RSS {r['server_peak_rss_mib']:.0f} MiB")
        for kind in ("lean", "default"):
            k = r[kind]
            each = ", ".join(f"{b['per_s']:.1f}" for b in k)
            print(f"      {kind + ' clients':<16} /analyze {median_of(k, 'per_s'):6.1f} req/s (p50 {median_of(k, 'p50_ms'):.0f} ms, "
                  f"{sum(b['errors'] for b in k)} errors), server CPU {median_of(k, 'server_cpu_ms'):.1f} ms a request; "
                  f"rounds: {each} req/s")
    if args.before:
        now, before = rows["this checkout"], rows[f"before ({args.before})"]
        for kind in ("lean", "default"):
            ratios = [a["per_s"] / b["per_s"] for a, b in zip(now[kind], before[kind])]
            cpu = [b["server_cpu_ms"] / a["server_cpu_ms"] for a, b in zip(now[kind], before[kind])]
            print(f"   throughput ratio, {kind} clients: median {statistics.median(ratios):.2f}x (rounds: "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}); server CPU a request: {statistics.median(cpu):.2f}x less")


if __name__ == "__main__":
    main()
