"""Write a model folder laid out as its Hub model repo: ``model.keras``, ``config.json``, ``README.md``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import keras

from fer.config import WEIGHTS_NAME, ModelConfig, Preprocessing


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_model_folder(
    classifier: keras.Model,
    folder: str | Path,
    training: dict[str, Any],
    preprocessing: Preprocessing | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classifier.save(folder / WEIGHTS_NAME)
    config = ModelConfig(
        preprocessing=preprocessing or Preprocessing(),
        architecture={"name": classifier.name, "parameters": int(classifier.count_params())},
        training=training,
        metrics=metrics or {},
        weights_sha256=sha256_of(folder / WEIGHTS_NAME),
    )
    config.save(folder)
    return folder
