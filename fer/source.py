"""Where the model comes from: a local folder or a Hugging Face Hub repo, through one function.

``resolve_model(source, revision)`` takes a model name (``fast``, the default, or ``accurate``), a
folder path, ``owner/name`` or ``hf-hub:owner/name`` (like timm), or nothing, in which case
``FER_MODEL`` / ``FER_MODEL_REVISION`` and then ``fast`` apply. A name stands for a Hub repo at a
set revision with a copy bundled in the package; Hub files come through huggingface_hub's cache.
When the Hub cannot give a named model (offline, firewalled, not published yet) its bundled copy,
the same weights, is used instead, and the INFO log says why; the default's is used when
``FER_MODEL`` names another repo the Hub cannot give, with a WARNING, so that the app still starts. A repo the caller named is refused instead: a typed path that does not exist reads as
``owner/name``, and answering it with another model would hide the mistake.

A named model is pinned: the app asks the Hub for the tag ``weights-<12 hex digits>`` of the copy it
ships, a digest of its LiteRT file's sha256 and of the settings in config.json that change answers
(labels, temperature, preprocessing); ``train.push`` gives that tag to the commit it makes. What the
Hub serves by default is then exactly the bundled copy, and the pin moves only when a release ships
other weights or settings. A branch such as
``main`` would hand every running app whatever was pushed last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import (HfHubHTTPError, HTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                    RepositoryNotFoundError, RevisionNotFoundError)

from fer.config import CONFIG_NAME, TFLITE_NAME, ModelConfig

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
BUNDLED_MODEL = ASSETS / "model"
BUNDLED_ACCURATE = ASSETS / "accurate"
# The named models' Hub repos; each is pinned to the tag of its bundled weights (see weights_tag).
DEFAULT_REPO_ID = "fer-project/fer2013-emotion-cnn"
ACCURATE_REPO_ID = "fer-project/fer2013-emotion-ensemble"
HUB_PREFIX = "hf-hub:"
BUNDLED = "bundled"  # FER_MODEL=bundled (or bundled:accurate) skips the Hub altogether
# What the runtime takes from a model repo: the LiteRT file it runs, its config and the model card.
# model.keras stays on the Hub (it is for the training tools; the ensemble's is 20 MB), and so do the
# plots. space.deploy preloads at least these into the Space's cache, so that it starts offline.
HUB_FILES = (CONFIG_NAME, TFLITE_NAME, "README.md")


WEIGHTS_TAG = re.compile(r"weights-[0-9a-f]{12}")


def weights_tag(config: ModelConfig) -> str:
    """The Hub tag of a commit holding this model: a digest of what its answers depend on (the LiteRT
    file's sha256, the labels, temperature, decision rule, uncertainty threshold and preprocessing), so that a copy of it knows which
    revision to ask for without asking the Hub, and a re-export with other settings gets another."""
    recorded = config.metrics.get("tflite", {}).get("sha256")
    if not recorded:  # export records it; a folder without it cannot be pinned, nor checked at load
        raise ValueError(f"its {CONFIG_NAME} records no sha256 of {TFLITE_NAME}: export it again")
    answers = {"tflite_sha256": recorded, "labels": list(config.labels), "temperature": config.temperature,
               "preprocessing": asdict(config.preprocessing)}
    for key in ("class_offsets", "uncertain_below"):  # only where set: the tags of models without them stay
        if getattr(config, key) is not None:
            answers[key] = list(getattr(config, key)) if key == "class_offsets" else getattr(config, key)
    return f"weights-{hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()[:12]}"


@lru_cache(maxsize=None)
def pinned_revision(bundled: Path) -> str:
    """The revision a named model is fetched at: the tag of its bundled copy."""
    return weights_tag(ModelConfig.load(bundled))


@dataclass(frozen=True)
class NamedModel:
    """A model every interface can pick by name: its Hub repo, bundled copy and pinned revision."""

    repo_id: str
    bundled: Path

    @property
    def revision(self) -> str:
        return pinned_revision(self.bundled)


FAST, ACCURATE = "fast", "accurate"
MODELS = {
    FAST: NamedModel(DEFAULT_REPO_ID, BUNDLED_MODEL),  # the default
    ACCURATE: NamedModel(ACCURATE_REPO_ID, BUNDLED_ACCURATE),
}


@dataclass(frozen=True)
class ModelLocation:
    folder: Path
    origin: str  # human-readable: "bundled", a folder path, or "hf-hub:owner/name@commit" (the one downloaded)
    # a named model's bundled copy, which may replace a corrupt or unreachable Hub download of it;
    # None where the user named a repo or folder, whose failures must be reported, not masked
    fallback: Path | None = None


def resolve_model(source: str | Path | None = None, revision: str | None = None) -> ModelLocation:
    """Find the model folder for ``source`` (see module docstring), downloading it if needed."""
    chosen_by_caller = source is not None
    if not chosen_by_caller:  # FER_MODEL_REVISION goes with FER_MODEL, never with a model the caller names
        source = os.environ.get("FER_MODEL") or FAST
        revision = revision or os.environ.get("FER_MODEL_REVISION") or None
    source = str(source)
    if source == BUNDLED or source.startswith(BUNDLED + ":"):  # "bundled:accurate": that model, no Hub
        name = source.partition(":")[2] or FAST
        if name not in MODELS:
            raise FileNotFoundError(f"no bundled model {name!r}; bundled models: {', '.join(MODELS)}")
        return ModelLocation(MODELS[name].bundled, bundled_origin(MODELS[name].bundled))
    if source in MODELS:
        named = MODELS[source]
        return _download(named.repo_id, revision or named.revision, fallback=named.bundled, same_as_fallback=revision is None)
    path = Path(source).expanduser()
    if path.is_dir():
        return ModelLocation(path, str(path))
    if not source.startswith(HUB_PREFIX) and not _looks_like_repo_id(source):
        names = ", ".join(MODELS)
        raise FileNotFoundError(f"model {source!r} is neither a folder nor a Hub repo id (owner/name) nor a model name ({names})")
    repo_id = source.removeprefix(HUB_PREFIX)
    pinned = next((m.revision for m in MODELS.values() if m.repo_id == repo_id), None)
    return _download(repo_id, revision or pinned, fallback=None, offline_fallback=not chosen_by_caller)


def bundled_origin(folder: Path) -> str:
    """How the log and the UI name a bundled copy: ``bundled`` for the default, ``bundled:NAME`` else."""
    name = next(name for name, m in MODELS.items() if m.bundled == folder)
    return BUNDLED if name == FAST else f"{BUNDLED}:{name}"


def _download(repo_id: str, revision: str | None, fallback: Path | None, offline_fallback: bool = True,
              same_as_fallback: bool = False) -> ModelLocation:
    """The snapshot of ``repo_id`` at ``revision``, or ``fallback`` where the Hub cannot give it.

    ``same_as_fallback``: the revision asked for is the pin of the bundled copy (a named model, no
    revision of the caller's), so the copy holds the very weights asked for and using it is logged
    at INFO: a Hub model not published yet, ``HF_HUB_OFFLINE=1`` or a machine without network lose
    the user nothing, and stderr stays quiet. A fallback from anything else the user asked for (a
    repo in ``FER_MODEL``, a revision of their own) is a WARNING: they get another model.
    """
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(HUB_FILES)))
        return ModelLocation(folder, f"{HUB_PREFIX}{repo_id}@{_commit_of(folder, repo_id, revision)}", fallback=fallback)
    except LocalEntryNotFoundError as err:
        # no connection (or offline by choice) and nothing cached: where a bundled copy may stand in
        fallback = fallback or next((m.bundled for m in MODELS.values() if m.repo_id == repo_id), None)
        if fallback is None and not offline_fallback:
            raise FileNotFoundError(
                f"model {repo_id!r} is not a folder here, and as a Hub repo it is not cached and "
                f"{_no_download_reason(err)}") from None
        fallback = fallback or BUNDLED_MODEL
        reason = _no_download_reason(err)
    except HfHubHTTPError as err:
        if fallback is None:  # a repo the user named but that does not exist or is private: say so, don't mask it
            raise
        reason = hub_failure(err)
    asked = f"{repo_id}@{revision}" if revision else repo_id
    if same_as_fallback:
        log.info("%s: %s; using the bundled copy of the same weights (%s)", asked, reason, bundled_origin(fallback))
    else:
        log.warning("%s: %s; using the bundled model (%s) instead", asked, reason, bundled_origin(fallback))
    return ModelLocation(fallback, bundled_origin(fallback))


def _no_download_reason(err: LocalEntryNotFoundError) -> str:
    """Why nothing came from the Hub, in words true to the case: huggingface_hub raises this one error
    for offline mode and for no connection, and its message advises HF_HUB_OFFLINE=0 in both."""
    if hub_constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set, so the Hub is not contacted"
    return f"the Hub cannot be reached at {hub_constants.ENDPOINT}"


def _commit_of(snapshot: Path, repo_id: str, revision: str | None) -> str:
    """The commit a downloaded snapshot holds: its folder in the cache is named after it.

    The origin names this rather than ``revision``: a branch (``main``) moves, so "owner/name@main"
    would not say which weights answered, and fer.batch hands the origin's revision to its actors,
    which must load the very commit the driver resolved, not whatever the branch holds by then.
    """
    commit, requested = snapshot.name, revision or "main"
    if requested != commit:
        log.info("%s@%s is a branch or tag, not a commit: it holds %s", repo_id, requested, commit)
    return commit


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


# What a call to the Hub raises when it fails: the Hub's answer (HfHubHTTPError) and no answer at all
# (a refused connection, a timeout) share HTTPError; offline mode refuses before trying
HUB_ERRORS = (HTTPError, OfflineModeIsEnabled)
NOT_FOUND = (RepositoryNotFoundError, RevisionNotFoundError)


def hub_failure(err: Exception) -> str:
    """One of :data:`HUB_ERRORS` in words: a repo or revision not found, the Hub's own answer (a 503
    is not a missing model), or no connection, naming the endpoint tried."""
    if isinstance(err, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, so the Hub is not contacted"
    if isinstance(err, NOT_FOUND):
        return f"not found on the Hub ({first_line(err)})"
    if isinstance(err, HfHubHTTPError):
        return f"the Hub answered: {first_line(err)}"
    return f"cannot reach the Hub at {hub_constants.ENDPOINT} ({first_line(err)})"
