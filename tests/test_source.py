"""Model sources: folders, the bundled copy, and the Hub through a loopback server answering as the Hub."""

import json
import logging
import re
import socket
from dataclasses import replace

import pytest

from fer.classifier import EmotionClassifier
from fer.config import CONFIG_NAME, TFLITE_NAME, WEIGHTS_NAME, ModelConfig
from fer.source import (
    ACCURATE_REPO_ID,
    BUNDLED,
    BUNDLED_ACCURATE,
    BUNDLED_MODEL,
    DEFAULT_REPO_ID,
    HUB_FILES,
    MODELS,
    pinned_revision,
    resolve_model,
    weights_tag,
)
from hub_server import FakeHub


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback Hub holding a copy of the bundled model, with huggingface_hub pointed at it."""
    fake = FakeHub()
    server, url = fake.start()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("FER_MODEL", raising=False)
    _reload_hub_constants(monkeypatch, url, tmp_path / "hub-cache")
    yield fake
    server.shutdown()


def _reload_hub_constants(monkeypatch, endpoint, cache):
    # huggingface_hub reads HF_ENDPOINT and the cache folder once, at import
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "ENDPOINT", endpoint)
    monkeypatch.setattr(c, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)


def model_files(**changes) -> dict[str, bytes]:
    files = {name: (BUNDLED_MODEL / name).read_bytes() for name in (WEIGHTS_NAME, TFLITE_NAME, CONFIG_NAME)}
    files["README.md"] = b"# card\n"
    files.update(changes)
    return files


def test_local_folder_and_bundled(monkeypatch):
    monkeypatch.delenv("FER_MODEL", raising=False)
    assert resolve_model(str(BUNDLED_MODEL)).folder == BUNDLED_MODEL
    assert resolve_model(BUNDLED).folder == BUNDLED_MODEL
    monkeypatch.setenv("FER_MODEL", BUNDLED)
    assert resolve_model().origin == BUNDLED


def test_nonsense_source_is_an_error():
    with pytest.raises(FileNotFoundError, match="neither a folder nor a Hub repo"):
        resolve_model("./no/such/folder/here")


def test_downloads_from_the_hub_at_a_pinned_revision(hub):
    first = hub.add_commit("someone/emotions", model_files())
    hub.add_commit("someone/emotions", model_files(**{"README.md": b"# newer card\n"}))
    pinned = resolve_model("hf-hub:someone/emotions", revision=first)
    assert pinned.origin == f"hf-hub:someone/emotions@{first}"
    assert (pinned.folder / "README.md").read_bytes() == b"# card\n"
    latest = resolve_model("someone/emotions")
    assert (latest.folder / "README.md").read_bytes() == b"# newer card\n"
    assert EmotionClassifier(latest.folder).labels  # a loadable model
    assert any(r.startswith("GET /someone/emotions/resolve/") for r in hub.requests)


def test_env_vars_choose_repo_and_revision(hub, monkeypatch):
    first = hub.add_commit("someone/emotions", model_files())
    hub.add_commit("someone/emotions", model_files(**{"README.md": b"# v2\n"}))
    accurate = hub.add_commit(ACCURATE_REPO_ID, model_files(), branch=MODELS["accurate"].revision)
    monkeypatch.setenv("FER_MODEL", "someone/emotions")
    monkeypatch.setenv("FER_MODEL_REVISION", first)
    assert resolve_model().origin == f"hf-hub:someone/emotions@{first}"
    # the revision goes with FER_MODEL only: the app's "Accurate" choice names its own model, at its pin
    assert resolve_model("accurate").origin == f"hf-hub:{ACCURATE_REPO_ID}@{accurate}"
    assert resolve_model("accurate", revision=accurate).origin == f"hf-hub:{ACCURATE_REPO_ID}@{accurate}"


def test_a_branch_is_reported_as_the_commit_it_held(hub, caplog):
    """``main`` moves: the origin (shown in the app, recorded by fer.batch and handed to its actors)
    names the commit that was downloaded, so that it says which weights answered and loads them again."""
    hub.add_commit("someone/emotions", model_files())
    latest = hub.add_commit("someone/emotions", model_files(**{"README.md": b"# v2\n"}))
    with caplog.at_level(logging.INFO, logger="fer.source"):
        location = resolve_model("someone/emotions")
    assert location.origin == f"hf-hub:someone/emotions@{latest}"
    assert "someone/emotions@main is a branch or tag" in caplog.text and latest in caplog.text
    again = resolve_model(location.origin.rpartition("@")[0], revision=location.origin.rpartition("@")[2])
    assert again.folder == location.folder


def test_only_what_the_runtime_loads_is_downloaded(hub):
    """model.keras (15 MB for the ensemble), plots and other notes stay on the Hub."""
    extra = {"plots/per_class.png": b"\x89PNG...", "NOTES.md": b"# notes\n"}
    commit = hub.add_commit("someone/emotions", model_files(**extra))
    folder = resolve_model("someone/emotions", revision=commit).folder
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == sorted(HUB_FILES)
    assert not any(WEIGHTS_NAME in r or "NOTES.md" in r or "plots/" in r for r in hub.requests)
    assert EmotionClassifier(folder).labels


@pytest.mark.parametrize("pinned", [True, False], ids=["commit", "branch"])
def test_cached_model_loads_offline(hub, monkeypatch, pinned):
    commit = hub.add_commit("someone/emotions", model_files())
    revision = commit if pinned else None  # None: main, found offline through the cache's refs/main
    online = resolve_model("someone/emotions", revision=revision)
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    asked = len(hub.requests)
    offline = resolve_model("someone/emotions", revision=revision)
    assert (offline.folder, offline.origin) == (online.folder, f"hf-hub:someone/emotions@{commit}")
    assert len(hub.requests) == asked  # from the cache alone


def test_unknown_repo_named_by_the_user_is_an_error(hub):
    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        resolve_model("someone/missing")


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_default_model_falls_back_quietly_when_the_hub_lacks_it(hub, caplog):
    # not published yet: the bundled copy is the pinned revision's weights, so nothing the user asked
    # for failed; INFO (off stderr) says why, and a 404 is called not found, not "unreachable"
    with caplog.at_level(logging.INFO, logger="fer.source"):
        location = resolve_model()
    assert location.origin == BUNDLED
    assert DEFAULT_REPO_ID in caplog.text and "not found on the Hub" in caplog.text and "same weights" in caplog.text
    assert "cannot be reached" not in caplog.text and _warnings(caplog) == []


def test_unreachable_hub_falls_back_to_bundled(hub, monkeypatch, caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    _reload_hub_constants(monkeypatch, closed, "/nonexistent-cache")
    with caplog.at_level(logging.INFO, logger="fer.source"):
        location = resolve_model("fast")
    assert location.origin == BUNDLED
    assert f"the Hub cannot be reached at {closed}" in caplog.text and _warnings(caplog) == []
    # each named model stands in with its own bundled copy: "Accurate" never answered by the fast one
    accurate = resolve_model("accurate")
    assert (accurate.folder, accurate.origin) == (BUNDLED_ACCURATE, "bundled:accurate")
    # the app's FER_MODEL: it still starts, on the bundled model, and warns: that is another model
    monkeypatch.setenv("FER_MODEL", "someone/emotions")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fer.source"):
        assert resolve_model().origin == BUNDLED
    assert _warnings(caplog) == [f"someone/emotions: the Hub cannot be reached at {closed}; using the bundled model (bundled) instead"]
    # so does a revision of the user's own for a named model: the bundled copy is not that revision
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fer.source"):
        assert resolve_model("fast", revision="v2").origin == BUNDLED
    assert len(_warnings(caplog)) == 1 and f"{DEFAULT_REPO_ID}@v2" in _warnings(caplog)[0]
    # a repo (or a mistyped folder) the caller names is refused, not answered by another model
    with pytest.raises(FileNotFoundError, match="'runs/typo' is not a folder here.*Hub cannot be reached"):
        resolve_model("runs/typo")


def test_offline_by_choice_says_so_and_nothing_else(hub, monkeypatch, caplog):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with caplog.at_level(logging.INFO, logger="fer.source"):
        assert resolve_model().origin == BUNDLED
    assert "HF_HUB_OFFLINE is set, so the Hub is not contacted" in caplog.text
    assert "HF_HUB_OFFLINE=0" not in caplog.text and _warnings(caplog) == []
    assert hub.requests == []


def test_models_are_picked_by_name(hub, monkeypatch):
    commit = hub.add_commit(ACCURATE_REPO_ID, model_files(), branch=MODELS["accurate"].revision)
    accurate = resolve_model("accurate")
    assert accurate.origin == f"hf-hub:{ACCURATE_REPO_ID}@{commit}" and accurate.fallback == BUNDLED_ACCURATE
    assert any(r.startswith(f"GET /{ACCURATE_REPO_ID}/resolve/") for r in hub.requests)
    assert resolve_model("accurate", revision=commit).origin == f"hf-hub:{ACCURATE_REPO_ID}@{commit}"
    monkeypatch.setenv("FER_MODEL", "accurate")
    assert resolve_model().origin == accurate.origin
    # "fast" is the default; the Hub lacks it here, so its bundled copy stands in
    assert resolve_model("fast").folder == BUNDLED_MODEL


def test_a_named_model_falls_back_to_its_own_bundled_copy(hub, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="fer.source"):
        location = resolve_model("accurate")  # the loopback Hub does not hold it
    assert (location.folder, location.origin) == (BUNDLED_ACCURATE, "bundled:accurate")
    assert ACCURATE_REPO_ID in caplog.text
    assert resolve_model("bundled:accurate").folder == BUNDLED_ACCURATE  # no Hub at all
    with pytest.raises(FileNotFoundError, match="no bundled model 'huge'"):
        resolve_model("bundled:huge")


def test_named_models_are_pinned_to_the_tag_of_their_bundled_weights(hub, caplog):
    """What train.push tags: the app gets the weights it ships, not whatever was pushed to main since."""
    for name, model in MODELS.items():
        assert model.revision == weights_tag(ModelConfig.load(model.bundled))
        assert re.fullmatch(r"weights-[0-9a-f]{12}", model.revision)
        # the tag follows what the answers depend on: other weights or another temperature, another tag
        config = ModelConfig.load(model.bundled)
        other_weights = replace(config, metrics={**config.metrics, "tflite": {"sha256": "0" * 64}})
        for changed in (other_weights, replace(config, temperature=config.temperature + 0.5)):
            assert weights_tag(changed) != model.revision
    assert MODELS["fast"].revision != MODELS["accurate"].revision
    pinned = hub.add_commit(DEFAULT_REPO_ID, model_files(), branch=MODELS["fast"].revision)
    hub.add_commit(DEFAULT_REPO_ID, model_files(**{"README.md": b"# pushed later\n"}))  # main moves on
    location = resolve_model()
    assert location.origin == f"hf-hub:{DEFAULT_REPO_ID}@{pinned}"
    assert (location.folder / "README.md").read_bytes() == b"# card\n"
    # named by its repo id, the default repo keeps its pin too
    assert resolve_model(DEFAULT_REPO_ID).origin == location.origin


def test_the_tag_follows_the_settings_that_change_answers_not_only_the_weights():
    """A re-export of the same weights with another temperature or framing is another model."""
    config = ModelConfig.load(BUNDLED_MODEL)
    same = ModelConfig.load(BUNDLED_MODEL)
    same.training = {"note": "provenance does not change answers"}
    assert weights_tag(same) == weights_tag(config)
    for change in ({"temperature": config.temperature * 1.1},
                   {"preprocessing": replace(config.preprocessing, crop_scale=1.25)}):
        assert weights_tag(replace(config, **change)) != weights_tag(config)


def test_a_bundled_copy_without_its_litert_sha256_cannot_be_pinned(tmp_path):
    config = json.loads((BUNDLED_MODEL / CONFIG_NAME).read_text())
    del config["metrics"]["tflite"]["sha256"]
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="records no sha256 of model.tflite"):
        pinned_revision(tmp_path)
