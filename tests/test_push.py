"""train.push against the loopback Hub: dry run, token handling, and push -> download -> load -> same predictions."""

import json
import shutil

import numpy as np
import pytest

from fer.classifier import EmotionClassifier
from fer.source import BUNDLED_MODEL, MODELS, resolve_model
from test_deploy import answering  # noqa: F401 (a fixture)
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
    out = capsys.readouterr().out
    commit = out.split("commit: ")[1].split()[0]
    assert hub.repos["me/emotions"]["private"] is True
    location = resolve_model("me/emotions", revision=commit)
    assert location.origin == f"hf-hub:me/emotions@{commit}"
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    pushed, original = EmotionClassifier(location.folder), EmotionClassifier(BUNDLED_MODEL)
    assert pushed.runner is not None  # the LiteRT copy came along
    assert np.array_equal(pushed.predict_proba(faces), original.predict_proba(faces))
    # the commit is tagged after its weights: the revision fer.source pins for a bundled copy of them
    tag = MODELS["fast"].revision
    assert f"tag: {tag}" in out and hub.repos["me/emotions"]["refs"][tag] == commit
    assert resolve_model("me/emotions", revision=tag).origin == location.origin
    # a second push to a branch: the repo exists already, the branch is created; the same weights
    # keep the tag where it was
    assert push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions", "--revision", "candidate"]) == 0
    assert "candidate" in hub.repos["me/emotions"]["refs"]
    assert hub.repos["me/emotions"]["refs"][tag] == commit


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


def test_a_hub_that_cannot_be_reached_is_said_in_a_line(answering, capsys):
    url = answering(None)
    assert push_main(["--model", str(BUNDLED_MODEL), "--repo-id", "me/emotions"]) == 1  # was a traceback
    assert f"push failed: cannot reach the Hub at {url}" in capsys.readouterr().err


def test_refuses_a_folder_that_would_not_load(tmp_path, hub):
    with pytest.raises(SystemExit, match="model.keras"):
        push_main(["--model", str(tmp_path), "--repo-id", "me/emotions"])


def test_refuses_a_folder_without_its_litert_copy(tmp_path, hub):
    folder = shutil.copytree(BUNDLED_MODEL, tmp_path / "model")
    (folder / "model.tflite").unlink()  # what the runtime loads: a clear refusal, not a traceback
    with pytest.raises(SystemExit, match="model.tflite"):
        push_main(["--model", str(folder), "--repo-id", "me/emotions", "--dry-run"])


def test_pushes_exactly_the_files_the_dry_run_lists(tmp_path, hub, capsys):
    """Junk at any depth stays out of the repo, in the listing and in the commit alike."""
    folder = shutil.copytree(BUNDLED_MODEL, tmp_path / "model")
    junk = ["plots/.DS_Store", ".DS_Store", "plots/.ipynb_checkpoints/per_class-checkpoint.png",
            ".cache/huggingface/download/model.tflite.metadata", "__pycache__/x.cpython-311.pyc"]
    for rel in junk:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"junk")
    expected = sorted(p.relative_to(BUNDLED_MODEL).as_posix() for p in BUNDLED_MODEL.rglob("*") if p.is_file())
    assert "plots/per_class.png" in expected  # the model card's figures go with it

    assert push_main(["--model", str(folder), "--repo-id", "me/emotions", "--dry-run"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert listed == expected
    assert push_main(["--model", str(folder), "--repo-id", "me/emotions"]) == 0
    commit = capsys.readouterr().out.split("commit: ")[1].split()[0]
    pushed = set(hub.files("me/emotions", commit)) - {".gitattributes"}  # the Hub's own, from create_repo
    assert sorted(pushed) == expected


def test_refuses_keras_weights_that_are_not_the_ones_its_config_records(tmp_path, hub):
    """model.keras replaced after export (a checkpoint copied over it): the LiteRT file still loads,
    but the repo would hold two different models under one config."""
    folder = shutil.copytree(BUNDLED_MODEL, tmp_path / "model")
    (folder / "model.keras").write_bytes((folder / "model.keras").read_bytes() + b"\0")
    with pytest.raises(SystemExit, match="model.keras does not match the sha256 in its config.json"):
        push_main(["--model", str(folder), "--repo-id", "me/emotions", "--dry-run"])


def test_refuses_a_config_without_the_litert_sha256(tmp_path, hub):
    """Without it the runtime would load a corrupt download of model.tflite unchecked."""
    folder = shutil.copytree(BUNDLED_MODEL, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    del config["metrics"]["tflite"]["sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="records no sha256 of model.tflite"):
        push_main(["--model", str(folder), "--repo-id", "me/emotions", "--dry-run"])
