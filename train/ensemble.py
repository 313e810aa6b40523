"""Average trained classifiers into one model: ``python -m train.ensemble --members A B ... --out DIR``.

The ensemble is one Keras model (``fer_ensemble``) whose logits are the mean of its members' logits,
so it exports to one LiteRT file that the runtime loads like any model folder, and its ``model.keras``
can serve as a distillation teacher. Members must share their input and preprocessing (every
classifier ``python -m train`` makes does: 48x48 greyscale in [0, 1]); the folder is then measured as
``python -m train.export`` measures a run's model (calibration, PublicTest, test-time augmentation,
faces in the wild), so its model card holds figures this one command reproduces.

``python -m train.ensemble --search A B C ...`` chooses the members first: it scores every subset of
the candidates on the validation split (PublicTest, single pass, mean logits), each candidate's logits
computed once, and prints them best first; with ``--min-accuracy A``, by balanced accuracy under the
decision rule fitted for each (accuracy held at A or above), as the ensemble would ship; with
``--held-out 5``, by that rule measured on folds it was not fitted on (the in-sample figure also
rewards offsets that fit noise, more so for the subsets it happens to suit).

A shipped ensemble folder (``fer/assets/accurate``) may stand among the classifiers of either: it counts
as its members, named ``folder[0]``, ``folder[1]``... (and ``folder[i]`` names that member alone), so the next session can add a member to it or
search again without the runs that trained its members (a fresh checkout has no ``runs/``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
from tqdm import tqdm

from fer.config import ModelConfig
from fer.source import BUNDLED_MODEL
from train.config import DEFAULT_DATA
from train.data import load_split
from train.export import measure_model_folder
from train.inputs import unit_range
from train.model import build_ensemble, ensemble_members, load_member, member_index


class Classifier(NamedTuple):
    name: str  # as --search prints it: its path, or an ensemble's ``folder[i] (the run it came from)``
    origin: str  # as an ensemble's config records it: the run it came from where known, else its name
    model: keras.Model


def load_classifiers(paths: list[Path]) -> list[Classifier]:
    """Every classifier the paths hold: a classifier as itself, an ensemble as its members (named
    ``path[i]``), so an ensemble is unpacked rather than nested inside a bigger one. The same
    classifier twice is refused: it would silently weigh double."""
    classifiers: list[Classifier] = []
    for path in paths:
        path, chosen = member_index(str(path))
        model = load_member(path)
        members = ensemble_members(model)
        if len(members) == 1 and chosen is None:
            classifiers.append(Classifier(str(path), str(path), model))
            continue
        if chosen is not None and not (len(members) > 1 and 0 <= chosen < len(members)):
            raise SystemExit(f"{path} holds {len(members)} classifier(s), so [{chosen}] names none")
        origins = trained_members(Path(path))
        if origins is None or len(origins) != len(members):
            origins = [None] * len(members)
        for i, (member, origin) in enumerate(zip(members, origins)):
            if chosen is not None and i != chosen:
                continue
            name = f"{path}[{i}]"
            classifiers.append(Classifier(name + (f" ({origin})" if origin else ""), origin or name, member))
    origins = [os.path.normpath(c.origin) for c in classifiers]  # ./runs/a and runs/a are one file
    if twice := sorted({o for o in origins if origins.count(o) > 1}):
        raise SystemExit(f"given more than once: {', '.join(twice)}")
    return classifiers


def trained_members(path: Path) -> list[str] | None:
    """The members an ensemble folder's ``config.json`` says it was built from, where it says."""
    folder = path if path.is_dir() else path.parent
    try:
        return list(ModelConfig.load(folder).training["members"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def rank_subsets(logits: dict[str, np.ndarray], labels: np.ndarray) -> list[tuple[float, tuple[str, ...]]]:
    """Accuracy of the mean logits of every non-empty subset of the candidates, best first (fewer
    members first among equals: they cost less a face)."""
    names = list(logits)
    scored = [(float((np.mean([logits[n] for n in subset], axis=0).argmax(axis=1) == labels).mean()), subset)
              for size in range(1, len(names) + 1) for subset in itertools.combinations(names, size)]
    return sorted(scored, key=lambda row: (-row[0], len(row[1])))


def rank_balanced(logits: dict[str, np.ndarray], labels: np.ndarray, prior: np.ndarray,
                  min_accuracy: float | None, held_out: int = 0) -> list[tuple[tuple[float, float], tuple[str, ...]]]:
    """Every non-empty subset's (balanced accuracy, accuracy) with the decision rule fitted for it
    (:func:`train.decision.fit_class_offsets` at ``min_accuracy``; ``None``: the subset's own accuracy
    without offsets), best first; a subset whose rule cannot hold the floor ranks below every one that
    can. With ``held_out`` (a number of folds), the scores are those of the rule on the folds it was not
    fitted on (:func:`train.decision.held_out_rule_scores`), and the floor is not checked in sample."""
    from train.decision import fit_class_offsets, held_out_rule_scores, rule_scores

    names, scored = list(logits), []
    subsets = [subset for size in range(1, len(names) + 1) for subset in itertools.combinations(names, size)]
    for subset in tqdm(subsets, desc="subsets", leave=False, disable=not held_out):
        mean = np.mean([logits[n] for n in subset], axis=0)
        if held_out:
            score = held_out_rule_scores(mean, labels, prior, min_accuracy, folds=held_out)
        else:
            score = rule_scores(mean, labels, fit_class_offsets(mean, labels, prior, min_accuracy))
        scored.append((score, subset))
    floor = -1.0 if min_accuracy is None or held_out else min_accuracy
    return sorted(scored, key=lambda row: (row[0][1] < floor, -row[0][0], len(row[1])))


def search(candidates: list[Path], data: str, split: str, top: int = 15,
           min_accuracy: float | None = None, held_out: int = 0) -> list[tuple]:
    """Print the best ``top`` subsets of ``candidates`` on ``split``; return them all. With
    ``min_accuracy`` or ``held_out``, ranked by balanced accuracy under the decision rule each would
    ship with; with ``held_out`` folds, by that rule's held-out figure."""
    val = load_split(data, split)
    faces = unit_range(val.images)  # as training feeds its classifiers
    logits = {c.name: c.model.predict(faces, batch_size=512, verbose=0) for c in load_classifiers(candidates)}
    if min_accuracy is not None or held_out:
        from train.decision import class_prior

        ranked = rank_balanced(logits, val.labels, class_prior(load_split(data, "Training").labels), min_accuracy, held_out)
        floor = f"accuracy >= {min_accuracy}" if min_accuracy is not None else "accuracy >= the subset's own without it"
        where = f"on the folds it was not fitted on ({held_out}-fold)" if held_out else "on the faces it was fitted on"
        print(f"{split} balanced accuracy and accuracy (single pass, mean logits, with the decision rule fitted "
              f"for {floor}, measured {where}) of every subset of {len(logits)} candidates, best first:")
        for (balanced_accuracy, accuracy), subset in ranked[:top]:
            print(f"  {balanced_accuracy:.4f}  {accuracy:.4f}  {' + '.join(subset)}")
        return ranked
    ranked = rank_subsets(logits, val.labels)
    print(f"{split} accuracy (single pass, mean logits) of every subset of {len(logits)} candidates, best first:")
    for accuracy, subset in ranked[:top]:
        print(f"  {accuracy:.4f}  {' + '.join(subset)}")
    return ranked


def main(argv: list[str] | None = None) -> Path | None:
    parser = argparse.ArgumentParser(prog="python -m train.ensemble", description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--members", nargs="+", type=Path, help="classifiers: best.keras / model.keras files or model folders (an ensemble counts as its members; FOLDER[i] is its member i)")
    what.add_argument("--search", nargs="+", type=Path, metavar="CANDIDATE",
                      help="score every subset of these classifiers on --val-split and print them; writes nothing")
    parser.add_argument("--out", type=Path, help="the model folder to write (with --members)")
    parser.add_argument("--like", type=Path, default=BUNDLED_MODEL,
                        help="a model folder whose preprocessing (crop framing) the ensemble uses")
    parser.add_argument("--top", type=int, default=15, help="with --search: how many subsets to print")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--val-split", default="PublicTest")
    parser.add_argument("--int8", action="store_true",
                        help="quantize the LiteRT copy to int8, calibrated on 500 Training faces (measured trade: train/EXPERIMENTS.md)")
    parser.add_argument("--min-accuracy", type=float,
                        help="the validation accuracy the decision rule may not go below (default: the ensemble's own "
                             "without it); with --search, rank subsets by balanced accuracy under that rule")
    parser.add_argument("--held-out", type=int, default=0, metavar="FOLDS",
                        help="with --search: rank by the rule's balanced accuracy on the folds it was not fitted on "
                             "(floor: --min-accuracy, or each fold's own accuracy without the rule; 5 is a good choice)")
    args = parser.parse_args(argv)
    if args.held_out == 1 or args.held_out < 0:
        parser.error("--held-out needs at least 2 folds")
    if args.search:
        search(args.search, args.data, args.val_split, args.top, args.min_accuracy, args.held_out)
        return None
    if args.out is None:
        parser.error("--members needs --out")

    members = load_classifiers(args.members)
    training = {
        "command": "python -m train.ensemble " + " ".join(sys.argv[1:] if argv is None else argv),
        "members": [c.origin for c in members],
        "config": {"data": args.data, "val_split": args.val_split},
    }
    return measure_model_folder(build_ensemble([c.model for c in members]), args.out, training,
                                ModelConfig.load(args.like).preprocessing, args.data, args.val_split,
                                int8_from="Training" if args.int8 else None, min_accuracy=args.min_accuracy)


if __name__ == "__main__":
    main()
