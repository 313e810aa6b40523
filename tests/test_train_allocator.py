"""``python -m train`` runs itself again under jemalloc where it can (train/__main__.py): glibc's
malloc, once TensorFlow's generator op has set its trim threshold, maps and faults in every large
tensor afresh at each step."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from train.__main__ import JEMALLOC_CONF, jemalloc_environment

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def plain_env(monkeypatch):
    for key in ("LD_PRELOAD", "FER_TRAIN_MALLOC", "KERAS_BACKEND", "MALLOC_CONF"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libjemalloc.so.2" if name == "jemalloc" else None)
    return monkeypatch


def test_jemalloc_is_preloaded_with_large_allocations_kept(plain_env):
    env = jemalloc_environment()
    assert env["LD_PRELOAD"] == "libjemalloc.so.2" and env["MALLOC_CONF"] == JEMALLOC_CONF
    assert "oversize_threshold:0" in JEMALLOC_CONF  # else jemalloc returns >8 MB tensors at once, as glibc does
    assert {k: v for k, v in env.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")} == dict(os.environ)


def test_own_malloc_conf_is_kept(plain_env):
    plain_env.setenv("MALLOC_CONF", "narenas:1")
    assert jemalloc_environment()["MALLOC_CONF"] == "narenas:1"


@pytest.mark.parametrize("key, value", [("LD_PRELOAD", "libtcmalloc.so.4"), ("FER_TRAIN_MALLOC", "libc"), ("KERAS_BACKEND", "jax")])
def test_left_alone_when_told_or_already_preloaded_or_not_tensorflow(plain_env, key, value):
    plain_env.setenv(key, value)
    assert jemalloc_environment() is None


def test_without_jemalloc_it_says_how_to_get_it(plain_env, capsys):
    plain_env.setattr(ctypes.util, "find_library", lambda name: None)
    assert jemalloc_environment() is None
    assert "apt-get install libjemalloc2" in capsys.readouterr().err


def test_the_command_still_answers_after_running_itself_again():
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FER_TRAIN_MALLOC", "KERAS_BACKEND")}
    done = subprocess.run([sys.executable, "-m", "train", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: python -m train" in done.stdout
