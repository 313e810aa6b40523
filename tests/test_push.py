"""train.push against the loopback Hub: dry run, token handling, and push -> download -> load -> same predictions."""

import numpy as np
import pytest

from fer.classifier import EmotionClassifier
from fer.source import BUNDLED_MODEL, resolve_model
from test_source import _reload_hub_constants
from hub_server import FakeHub
from train.push import main as push_main

TOKEN = "hf_test_token"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    fake = FakeHub(token=TOKEN)
    server, url = fake.start()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored login from the machine
    monkeypatch.delenv("FER_MODEL", raising=False)
    _reload_hub_constants(monkeypatch, url, tmp_path / "hub-cache")
    yield fake
    server.shutdown()


def test_dry_run_lists_files_and_uploads_nothing(hub, capsys):
    assert push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "model.keras" in out and "config.json" in out and "README.md" in out
    assert hub.repos == {} and not any(r.startswith("POST") for r in hub.requests)


def test_push_download_load_gives_the_same_predictions(hub, capsys):
    assert push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions", "--private"]) == 0
    commit = capsys.readouterr().out.split("commit: ")[1].split()[0]
    assert hub.repos["me/emotions"]["private"] is True
    location = resolve_model("me/emotions", revision=commit)
    assert location.origin == f"hf-hub:me/emotions@{commit}"
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    pushed, original = EmotionClassifier(location.folder), EmotionClassifier(BUNDLED_MODEL)
    assert pushed.runner is not None  # the LiteRT copy came along
    assert np.array_equal(pushed.predict_proba(faces), original.predict_proba(faces))
    # a second push to a branch: the repo exists already, the branch is created
    assert push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions", "--revision", "candidate"]) == 0
    assert "candidate" in hub.repos["me/emotions"]["refs"]


def test_push_without_a_token_is_a_clear_error(hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_TOKEN_PATH", "/nonexistent/token")
    with pytest.raises(SystemExit, match="HF_TOKEN"):
        push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions"])


def test_wrong_token_is_refused_by_the_server(hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    assert push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions"]) == 1
    assert "push failed" in capsys.readouterr().err


def test_refuses_a_folder_that_would_not_load(tmp_path, hub):
    with pytest.raises(SystemExit, match="model.keras"):
        push_main(["--model", str(tmp_path), "--repo-id", "me/emotions"])


def test_refuses_a_folder_without_its_litert_copy(tmp_path, hub):
    import shutil

    folder = shutil.copytree(BUNDLED_MODEL, tmp_path / "model")
    (folder / "model.tflite").unlink()  # what the runtime loads: a clear refusal, not a traceback
    with pytest.raises(SystemExit, match="model.tflite"):
        push_main(["--model", str(folder), "--repo-id", "me/emotions", "--dry-run"])
