"""Average trained classifiers into one model: ``python -m train.ensemble --members A B ... --out DIR``.

The ensemble is one Keras model (``fer_ensemble``) whose logits are the mean of its members' logits,
so it exports to one LiteRT file that the runtime loads like any model folder, and its ``model.keras``
can serve as a distillation teacher. Members must share their input and preprocessing (every
classifier ``python -m train`` makes does: 48x48 greyscale in [0, 1]); the folder is then measured as
``python -m train.export`` measures a run's model (calibration, PublicTest, test-time augmentation,
faces in the wild), so its model card holds figures this one command reproduces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras

from fer.config import ModelConfig
from train.config import DEFAULT_DATA
from train.export import measure_model_folder
from train.model import build_ensemble


def load_member(path: Path) -> keras.Model:
    """A classifier from a run's ``best.keras`` or a model folder's ``model.keras`` (or the folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    return keras.models.load_model(path, compile=False)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m train.ensemble", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", nargs="+", required=True, type=Path,
                        help="classifiers: best.keras / model.keras files or model folders")
    parser.add_argument("--out", required=True, type=Path, help="the model folder to write")
    parser.add_argument("--like", type=Path, default=Path("fer/assets/model"),
                        help="a model folder whose preprocessing (crop framing) the ensemble uses")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--val-split", default="PublicTest")
    args = parser.parse_args(argv)

    members = [load_member(p) for p in args.members]
    training = {
        "command": "python -m train.ensemble " + " ".join(sys.argv[1:] if argv is None else argv),
        "members": [str(p) for p in args.members],
        "config": {"data": args.data, "val_split": args.val_split},
    }
    return measure_model_folder(build_ensemble(members), args.out, training,
                                ModelConfig.load(args.like).preprocessing, args.data, args.val_split)


if __name__ == "__main__":
    main()
