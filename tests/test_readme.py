"""Every Python snippet in README.md, run as a reader copies them: top to bottom in one Python process
(later snippets go on from earlier ones, as the README's prose does), in a folder holding the files
they name. The one change is the local app's address, which becomes the test server's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES, ROOT
from videos import face_video

README = ROOT / "README.md"
LOCAL_APP = "http://127.0.0.1:7860/"


def python_snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_readme_has_the_snippets_this_test_expects():
    snippets = python_snippets()
    assert len(snippets) >= 6 and sum(LOCAL_APP in s for s in snippets) == 1, snippets


def test_every_python_snippet_in_readme_runs_as_copied(server, tmp_path):
    pytest.importorskip("ray", reason="README's batch snippet needs requirements-batch.txt")
    shutil.copy(EXAMPLES / "two_faces.jpg", tmp_path / "group.jpg")
    shutil.copy(EXAMPLES / "grace_hopper.jpg", tmp_path / "photo.jpg")
    face_video(tmp_path / "clip.mp4", frames=10)
    (tmp_path / "study").mkdir()
    for name in ("grace_hopper.jpg", "two_faces.jpg"):
        shutil.copy(EXAMPLES / name, tmp_path / "study" / name)
    script = "\n\n".join(python_snippets()).replace(LOCAL_APP, server)
    (tmp_path / "readme_snippets.py").write_text(script)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, "readme_snippets.py"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    # what the snippets say they make is there
    for made in ("clip_fer.webm", "clip.csv", "clip.png", "results.parquet"):
        assert (tmp_path / made).exists(), made
    assert "happy" in run.stdout or "neutral" in run.stdout  # the first snippet's print of the labels
