"""Where the model comes from: a local folder or a Hugging Face Hub repo, through one function.

``resolve_model(source, revision)`` takes a folder path, ``owner/name`` or ``hf-hub:owner/name``
(like timm), or nothing, in which case ``FER_MODEL`` / ``FER_MODEL_REVISION`` and then the defaults
below apply. Hub files come through huggingface_hub's cache, pinned to a revision. When the Hub cannot
be reached (offline, firewalled) the model bundled in the package is used instead, and the log says so.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from fer.config import CONFIG_NAME, TFLITE_NAME, WEIGHTS_NAME

log = logging.getLogger(__name__)

BUNDLED_MODEL = Path(__file__).parent / "assets" / "model"
# The app's default model on the Hub. `python -m train.push` prints the commit to pin here.
DEFAULT_REPO_ID = "fer-project/fer2013-emotion-cnn"
DEFAULT_REVISION = "main"
HUB_PREFIX = "hf-hub:"
BUNDLED = "bundled"  # FER_MODEL=bundled skips the Hub altogether


@dataclass(frozen=True)
class ModelLocation:
    folder: Path
    origin: str  # human-readable: "bundled", a folder path, or "hf-hub:owner/name@revision"
    default: bool = False  # the Hub default nobody asked for by name: the bundled copy may replace it


def resolve_model(source: str | Path | None = None, revision: str | None = None) -> ModelLocation:
    """Find the model folder for ``source`` (see module docstring), downloading it if needed."""
    explicit = source is not None or bool(os.environ.get("FER_MODEL"))
    source = str(source if source is not None else os.environ.get("FER_MODEL") or HUB_PREFIX + DEFAULT_REPO_ID)
    revision = revision or os.environ.get("FER_MODEL_REVISION") or None
    if source == BUNDLED:
        return ModelLocation(BUNDLED_MODEL, BUNDLED)
    path = Path(source).expanduser()
    if path.is_dir():
        return ModelLocation(path, str(path))
    if not source.startswith(HUB_PREFIX) and not _looks_like_repo_id(source):
        raise FileNotFoundError(f"model {source!r} is neither a folder nor a Hub repo id (owner/name)")
    repo_id = source.removeprefix(HUB_PREFIX)
    revision = revision or (DEFAULT_REVISION if repo_id == DEFAULT_REPO_ID else None)
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=[WEIGHTS_NAME, TFLITE_NAME, CONFIG_NAME, "*.md"])
        return ModelLocation(Path(folder), f"{HUB_PREFIX}{repo_id}@{revision or 'main'}", default=not explicit)
    except LocalEntryNotFoundError as err:
        # no connection and nothing cached: the one case where quietly using the bundled copy is right
        log.warning("Hugging Face Hub unreachable for %s (%s); using the bundled model", repo_id, _first_line(err))
    except HfHubHTTPError as err:
        if explicit:  # a repo the user named but that does not exist or is private: say so, don't mask it
            raise
        log.warning("default Hub model %s unavailable (%s); using the bundled model", repo_id, _first_line(err))
    return ModelLocation(BUNDLED_MODEL, BUNDLED)


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
