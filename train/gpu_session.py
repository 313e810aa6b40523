"""One accelerator session: teachers in parallel, then students distilled from the best teacher ensemble.

    KERAS_BACKEND=jax python -m train.gpu_session --data FER2013.csv --ferplus FERPLUS.csv --runs DIR

Phase 1 trains every ``train/configs/gpu_teacher_*.yaml`` (and the plain student baseline) at once on one
accelerator, each a separate ``python -m train`` process with a wall-clock budget (``time_budget_min``
in its config), since one small CNN leaves most of the GPU idle. Phase 2 picks the teacher ensemble
greedily on PublicTest (the validation split; PrivateTest is never seen) and trains every
``train/configs/gpu_student_*.yaml`` against it. Each run folder is a normal training run; this module
only schedules them and packs what must travel back (float16 copies of large weights, logs).
``python -m train.gpu_session --restore FILE.npz OUT.keras`` turns a float16 copy back into a model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

CONFIGS = Path(__file__).parent / "configs"
PHASE1 = sorted(CONFIGS.glob("gpu_teacher_*.yaml")) + [CONFIGS / "gpu_student_scratch.yaml"]
PHASE2 = sorted(CONFIGS.glob("gpu_student_kd*.yaml"))
MAX_TEACHERS = 4


def launch(config: Path, runs: Path, data: str, ferplus: str, extra: list[str]) -> subprocess.Popen:
    out = runs / config.stem
    log = open(runs / f"{config.stem}.log", "w")
    command = [sys.executable, "-m", "train", "--config", str(config), f"--out={out}", f"--data={data}", f"--ferplus={ferplus}", *extra]
    print(" ".join(command), flush=True)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_all(processes: dict[str, subprocess.Popen]) -> None:
    for name, process in processes.items():
        print(f"{name}: exit {process.wait()}", flush=True)


def publictest_logits(model_path: Path, data: str) -> tuple[np.ndarray, np.ndarray]:
    import keras

    from train.data import load_split

    val = load_split(data, "PublicTest")
    model = keras.models.load_model(model_path, compile=False)
    x = val.images[..., None].astype("float32") / 255.0
    logits = np.concatenate([np.asarray(model(x[i : i + 1024], training=False)) for i in range(0, len(x), 1024)])
    return logits, val.labels


def pick_teachers(runs: Path, names: list[str], data: str) -> list[str]:
    """Greedy forward selection of the ensemble (mean logits) with the best PublicTest accuracy."""
    logits, labels = {}, None
    for name in names:
        best = runs / name / "best.keras"
        if best.is_file():
            logits[name], labels = publictest_logits(best, data)
            print(f"{name}: PublicTest {np.mean(logits[name].argmax(1) == labels):.4f}", flush=True)
    chosen: list[str] = []
    best_accuracy = 0.0
    while len(chosen) < MAX_TEACHERS:
        scores = {
            name: float(np.mean(np.mean([logits[n] for n in chosen + [name]], axis=0).argmax(1) == labels))
            for name in logits if name not in chosen
        }
        if not scores:
            break
        name, accuracy = max(scores.items(), key=lambda item: item[1])
        if accuracy <= best_accuracy:
            break
        chosen.append(name)
        best_accuracy = accuracy
        print(f"ensemble {chosen}: PublicTest {accuracy:.4f}", flush=True)
    return chosen


def half_copy(model_path: Path, destination: Path) -> None:
    """The model's config and float16 weights in one .npz (half the size of a .keras, for transfer)."""
    import keras

    model = keras.models.load_model(model_path, compile=False)
    arrays = {f"w{i:03d}": np.asarray(w).astype(np.float16) for i, w in enumerate(model.get_weights())}
    np.savez_compressed(destination, config=json.dumps(keras.saving.serialize_keras_object(model)), **arrays)


def restore(npz: Path, destination: Path) -> None:
    import keras

    with np.load(npz) as f:
        model = keras.saving.deserialize_keras_object(json.loads(str(f["config"])))
        model.set_weights([f[k].astype(np.float32) for k in sorted(k for k in f.files if k.startswith("w"))])
    model.save(destination)


def pack_logs(runs: Path, destination: Path) -> None:
    """Every run's config, state, log and results plus the session's logs, in one tar.gz."""
    with tarfile.open(destination, "w:gz") as tar:
        for path in sorted(runs.rglob("*")):
            if path.is_file() and path.suffix in (".yaml", ".json", ".csv", ".log"):
                tar.add(path, arcname=str(path.relative_to(runs.parent)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.gpu_session", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="FER2013 CSV with Training and PublicTest rows")
    parser.add_argument("--ferplus", help="FER+ votes CSV")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--export", type=Path, help="folder for float16 copies of the teachers")
    parser.add_argument("--restore", nargs=2, type=Path, metavar=("NPZ", "KERAS"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key in every run (a rehearsal on a CPU: --set time_budget_min=0.2)")
    args = parser.parse_args(argv)
    if args.restore:
        restore(*args.restore)
        return
    args.runs.mkdir(parents=True, exist_ok=True)
    start = time.time()

    extra = [f"--{kv}" for kv in args.set]
    phase1 = {c.stem: launch(c, args.runs, args.data, args.ferplus, extra) for c in PHASE1}
    wait_all(phase1)
    print(f"phase 1 done after {time.time() - start:.0f} s", flush=True)
    teachers = pick_teachers(args.runs, [c.stem for c in PHASE1 if "teacher" in c.stem], args.data)
    (args.runs / "teachers.json").write_text(json.dumps(teachers))
    paths = "[" + ", ".join(str(args.runs / t / "best.keras") for t in teachers) + "]"
    phase2 = {c.stem: launch(c, args.runs, args.data, args.ferplus, [*extra, f"--teachers={paths}"]) for c in PHASE2}
    if args.export:  # while phase 2 trains: the teachers' float16 copies for the trip back
        args.export.mkdir(parents=True, exist_ok=True)
        for c in PHASE1:
            if (args.runs / c.stem / "best.keras").is_file():
                half_copy(args.runs / c.stem / "best.keras", args.export / f"{c.stem}.npz")
        (args.export / "phase1.done").write_text("")
    wait_all(phase2)
    print(f"phase 2 done after {time.time() - start:.0f} s", flush=True)
    pack_logs(args.runs, args.runs.parent / "logs.tar.gz")
    (args.runs / "session.done").write_text("")


if __name__ == "__main__":
    main()
