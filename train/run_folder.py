"""What a training run folder (``runs/NAME``) holds, for the modules that write it and those that read it.

``train.train`` writes these files, ``train.experiments`` and ``train.export`` read them; the names
live here, below all three, so that none of them has to import another for a file name.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHECKPOINT = "checkpoint.keras"  # the whole training model with its optimiser state, every epoch
STATE = "state.json"  # epoch, best epoch, early-stopping counter, seconds trained, hardware
BEST = "best.keras"  # the best classifier on the validation split, float32
CONFIG_FILE = "train_config.yaml"  # the run's TrainConfig; on --resume it wins over the command line
LOG = "log.csv"  # one row of metrics per epoch (keras.callbacks.CSVLogger)
STOP = "STOP"  # an empty file a user creates: the run ends after the epoch under way; --resume continues it
SPENT = "time_budget_spent"  # state.json: the budget (minutes) a run has used up, so --resume has nothing to do


@contextmanager
def written_beside(path: Path) -> Iterator[Path]:
    """A sibling of ``path`` to write its new content to (``NAME.partial.SUFFIX``, the suffix kept for
    savers that check it), moved over ``path`` only once written: a process killed mid-save, as every
    run is at a session's end, leaves the previous file whole, so ``--resume`` still loads it."""
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def cpu_flags() -> set[str]:
    """The instruction-set flags of this CPU (Linux ``/proc/cpuinfo``); empty where they cannot be read."""
    try:
        found = re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        return set()
    return set(found.group(1).split()) if found else set()


def native_bfloat16(flags: set[str] | None = None) -> bool:
    """Whether the CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX). Elsewhere TensorFlow emulates
    it: on an AVX2 EPYC here, mixed_bfloat16 had not finished its first epoch after 13 minutes."""
    return bool((cpu_flags() if flags is None else flags) & {"avx512_bf16", "amx_bf16"})


def vector_unit(flags: set[str] | None = None) -> str:
    """The widest vector instructions of the CPU, which set its training speed: machines lent to this
    project have differed (AVX-512 with BF16 in some sessions, AVX2 alone in others)."""
    flags = cpu_flags() if flags is None else flags
    if "avx512f" in flags:
        return "AVX-512 BF16" if native_bfloat16(flags) else "AVX-512"
    return "AVX2" if "avx2" in flags else ""


def accelerator_kind() -> str:
    """The accelerator Keras trains on (its device kind, e.g. the GPU's model), or "" on the CPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return device.device_kind if device.platform != "cpu" else ""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else ""
    return ""


def hardware() -> str:
    """The machine a run trains on, as recorded in its ``state.json`` and model card."""
    import keras  # here: reading a run folder's file names needs no Keras

    accelerator = f", {kind}" if (kind := accelerator_kind()) else ""
    unit = f" ({vector_unit()})" if vector_unit() else ""
    return (f"{platform.processor() or platform.machine()}{unit}, {os.cpu_count()} CPU threads{accelerator}, "
            f"keras {keras.__version__} ({keras.backend.backend()})")


def source_commit() -> str | None:
    """The git commit the code and the shipped model folders were at when a run started (None outside
    a git checkout): a run that reads ``fer/assets/...`` names that version in its model card, since
    later exports replace those folders."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None

