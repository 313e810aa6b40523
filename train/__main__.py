"""``python -m train [--config FILE.yaml] [--resume] [--key=value ...]``: train a classifier.

Under TensorFlow, Keras feeds a PyDataset (train/batches.py) through tf.data's generator op, which
sets glibc's M_TRIM_THRESHOLD to 128 KB. That also fixes glibc's mmap threshold, so every tensor
over 128 KB is mapped fresh and freed at each step, and on some machines a third of the training
time goes to page faults (train/EXPERIMENTS.md: 1186 s an epoch against 731 s). So where jemalloc is
installed (Debian: ``apt-get install libjemalloc2``) and no allocator was preloaded, the command runs
itself again under it, large allocations kept for reuse; ``FER_TRAIN_MALLOC=libc`` keeps glibc's.
"""

import ctypes.util
import os
import sys

JEMALLOC_CONF = "oversize_threshold:0,dirty_decay_ms:60000,muzzy_decay_ms:60000"


def jemalloc_environment() -> dict[str, str] | None:
    """The environment to run this command again in under jemalloc, or None to run it as it is."""
    if sys.platform != "linux" or os.environ.get("FER_TRAIN_MALLOC") == "libc" or os.environ.get("LD_PRELOAD"):
        return None
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return None
    library = ctypes.util.find_library("jemalloc")
    if library is None:
        print("train: jemalloc is not installed (apt-get install libjemalloc2): training on glibc's malloc, "
              "which can cost a third of the time in page faults here", file=sys.stderr, flush=True)
        return None
    return dict(os.environ, LD_PRELOAD=library, MALLOC_CONF=os.environ.get("MALLOC_CONF", JEMALLOC_CONF))


if __name__ == "__main__":
    environment = jemalloc_environment()
    if environment is not None:
        os.execve(sys.executable, [sys.executable, "-m", "train", *sys.argv[1:]], environment)
    from train.train import main

    main()
