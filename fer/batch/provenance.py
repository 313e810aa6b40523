"""Which model a run uses, chosen once on the driver, and the settings a results folder was made with.

Left to themselves, the actors would each resolve ``FER_MODEL`` on their own node (or fall back to
the bundled model where the Hub cannot be reached), and a resumed run could add rows of another
model or ``every`` to the same results. So the driver resolves the model once (:func:`choose_model`),
each actor loads exactly that and checks it got it (:func:`loaded_model`), and the results folder
records the model and ``every`` in ``_fer_batch.json`` (Parquet readers skip names starting with
``_``), so that a run with other settings is refused (:func:`check_settings`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from fer.classifier import sha256_of
from fer.config import CONFIG_NAME

SETTINGS_NAME = "_fer_batch.json"


@dataclass(frozen=True)
class ModelChoice:
    """The model of a run, as every actor loads it on whatever node it runs."""

    source: str  # "bundled[:NAME]", an absolute folder, or "hf-hub:owner/name"
    revision: str | None
    origin: str  # how fer.EmotionRecognizer.model_origin names it once loaded
    config_sha256: str  # of its config.json, which records the sha256 of the weights

    def identity(self) -> dict:
        return {"model": self.origin, "model_config_sha256": self.config_sha256}


def choose_model(model: str | None = None, revision: str | None = None) -> ModelChoice:
    """Resolve ``model`` (None: ``FER_MODEL``, else the default) here, once, into what each actor loads."""
    from fer.source import BUNDLED, HUB_PREFIX, resolve_model

    location = resolve_model(model, revision)
    sha = sha256_of(location.folder / CONFIG_NAME)
    if location.origin.startswith(HUB_PREFIX):  # "hf-hub:owner/name@revision"
        repo, _, pinned = location.origin.rpartition("@")
        return ModelChoice(repo, pinned, location.origin, sha)
    if location.origin == BUNDLED or location.origin.startswith(BUNDLED + ":"):
        return ModelChoice(location.origin, None, location.origin, sha)
    folder = os.path.abspath(location.folder)  # the same folder from an actor whose working dir differs
    return ModelChoice(folder, None, folder, sha)


def loaded_model(recognizer) -> dict:
    """The identity (as :meth:`ModelChoice.identity`) of the model ``recognizer`` loaded."""
    return {"model": recognizer.model_origin,
            "model_config_sha256": sha256_of(Path(recognizer.classifier.folder) / CONFIG_NAME)}


def run_settings(model: ModelChoice, every: int) -> dict:
    """What the rows of a results folder depend on, besides the files."""
    return {**model.identity(), "every": every}


def check_settings(out: Path, settings: dict) -> None:
    """Refuse to add rows made with ``settings`` to results ``out`` made with others."""
    path = out / SETTINGS_NAME
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != settings:
            differences = "; ".join(f"{key}: {recorded.get(key)!r} there, {settings.get(key)!r} now"
                                    for key in sorted(set(recorded) | set(settings))
                                    if recorded.get(key) != settings.get(key))
            raise ValueError(f"{out} holds results made with other settings ({differences}). To resume it, "
                             f"run with its --model and --every; to start fresh, give another --out or delete {out}")
    elif out.is_dir() and any(out.glob("*.parquet")):
        raise ValueError(f"{out} holds results without {SETTINGS_NAME}, the record of the model and --every "
                         f"they were made with, so they cannot be resumed; give another --out or delete {out}")


def record_settings(out: Path, settings: dict) -> None:
    """Write ``out``'s settings record, once: a resumed run has checked it matches."""
    path = out / SETTINGS_NAME
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        path.with_name(f".{SETTINGS_NAME}.tmp").write_text(json.dumps(settings, indent=2) + "\n")
        os.replace(path.with_name(f".{SETTINGS_NAME}.tmp"), path)
