"""The native libraries' start-up chatter, kept off the user's terminal.

MediaPipe and LiteRT log from C++ straight to file descriptor 2: on every run a LiteRT environment
and its accelerators ("GPU WebGPU") per detector model, XNNPACK per interpreter, 46 warnings that the
bundled full-range detector is sparse, a MediaPipe note on tensor alignment, and the accelerators
again when the models close. Neither library offers a switch from Python (checked for
ai-edge-litert 2.3 and mediapipe 1.2.2): LiteRT's minimum severity (``tflite::MinimalLogger``) reads
no environment variable and its setter is not exported; MediaPipe logs through absl, which ignores
``GLOG_*`` and ``TF_CPP_*``, and its one logging export (``MpSetLoggingCallback``) adds a sink beside
stderr rather than replacing it. So the calls that log (loading a model, its first run, closing it)
run inside :func:`quiet_native_logs`, which points fd 2 at a temporary file for their duration and
then writes back every line that is not known chatter: warnings and errors still reach the user.

``FER_VERBOSE=1``, ``python -m fer --verbose`` or the ``fer`` logger at DEBUG leave stderr alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from typing import Iterator

# Lines dropped from what the native calls print; anything else is written back.
CHATTER = re.compile(
    r"(INFO|VERBOSE): "  # LiteRT / TFLite below WARNING: environment, accelerators, XNNPACK
    r"|I\d{4} "  # absl INFO
    r"|WARNING: Logging before InitGoogle\(\) is written to STDERR"  # absl saying where it logs
    # the bundled full-range detector is a sparse model, once per tensor; tests/test_detect.py checks
    # its detections, so the warning tells the user nothing
    r"|WARNING: \[model_load\.cc:\d+\] Sparsity tensors may not yet be fully supported"
    # MediaPipe copying its own input tensor to LiteRT's alignment: nothing a caller can change
    r"|W\d{4} .*Input tensor memory is not aligned according to LiteRt"
    # OpenCV's FFmpeg writer on VP8 in WebM: every code for VP8 warns and 0 fails, and the file is
    # VP8 all the same
    r"|OpenCV: FFMPEG: tag .* is not supported with codec id"
)
TRUE_WORDS = {"1", "true", "yes", "on"}
LOCK_WAIT_S = 10.0  # models load in tens of milliseconds; many workers starting at once take seconds

# fd 2 belongs to the whole process: one redirection at a time, and a thread already inside one (a
# finaliser the garbage collector runs there, closing a detector) passes through
_lock = threading.RLock()
_depth = 0


def verbose() -> bool:
    """Whether the user asked to see the native libraries' own logs."""
    if os.environ.get("FER_VERBOSE", "").strip().lower() in TRUE_WORDS:
        return True
    return logging.getLogger("fer").isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Run the block with the native libraries' chatter on fd 2 dropped and their warnings kept.

    Hold it only around native calls that log (it serialises them): lines other threads print
    meanwhile are delayed to its end, not lost.
    """
    global _depth
    # a thread that waits too long may be one the holder waits for (a finaliser the garbage collector
    # runs in MediaPipe's worker thread): it goes through unfiltered rather than deadlock
    if verbose() or not _lock.acquire(timeout=LOCK_WAIT_S):
        yield
        return
    try:
        if _depth:
            yield
            return
        _depth += 1
        with tempfile.TemporaryFile() as sink:
            try:
                with _fd2_redirected_to(sink.fileno()):
                    yield
            finally:
                _depth -= 1
                sink.seek(0)
                _write_back(sink.read().decode(errors="replace"))
    finally:
        _lock.release()


@contextlib.contextmanager
def _fd2_redirected_to(fd: int) -> Iterator[None]:
    _flush_python_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (a detached daemon): nothing to keep quiet
        yield
        return
    os.dup2(fd, 2)
    try:
        yield
    finally:
        _flush_python_stderr()  # what Python code printed meanwhile belongs to the capture
        os.dup2(saved, 2)
        os.close(saved)


def _flush_python_stderr() -> None:
    if sys.stderr is not None:
        with contextlib.suppress(Exception):
            sys.stderr.flush()


def _write_back(text: str) -> None:
    kept = [line for line in text.splitlines(keepends=True) if line.strip() and not CHATTER.match(line)]
    if kept and sys.stderr is not None:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
