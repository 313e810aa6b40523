"""Evaluate a model: ``python -m train.evaluate --data PATH [--split NAME] [--model NAME_DIR_OR_REPO] [--detect] [--json]``.

PATH is a FER2013 CSV (``.csv``/``.csv.gz``; ``--split`` picks one Usage value) or a folder with one
subfolder per class. Without ``--detect`` the images are taken as face crops and go straight to the
classifier; with ``--detect`` each image goes through the whole pipeline (detection, crop, alignment,
classification) and the largest face is the prediction; an image where no face is found counts as
wrong and is listed. Without ``--model`` the app's default model is evaluated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fer.classifier import EmotionClassifier, sha256_of
from fer.config import TFLITE_NAME
from fer.source import resolve_model
from train.data import load_split, read_image_folder
from train.decision import coverage
from train.metrics import classification_report, expected_calibration_error


TTA_MODES = ("none", "flip", "tencrop")


def tta_views(images: np.ndarray, mode: str) -> list[np.ndarray]:
    """Test-time augmentation views of ``(N, S, S)`` crops: the crops themselves, their mirror images,
    or ten crops (four corners and centre at 90% size, resized back, and their mirror images)."""
    if mode == "none":
        return [images]
    if mode == "flip":
        return [images, images[:, :, ::-1]]
    if mode != "tencrop":
        raise ValueError(f"unknown TTA mode {mode!r}; choose from {TTA_MODES}")
    size = images.shape[1]
    crop = int(round(size * 0.9))
    offsets = [(0, 0), (0, size - crop), (size - crop, 0), (size - crop, size - crop), ((size - crop) // 2,) * 2]
    views = []
    for y, x in offsets:
        view = np.stack([cv2.resize(im[y : y + crop, x : x + crop], (size, size), interpolation=cv2.INTER_LINEAR) for im in images])
        views += [view, view[:, :, ::-1]]
    return views


def classify_crops(classifier: EmotionClassifier, images: np.ndarray, tta: str = "none", batch_size: int = 256) -> np.ndarray:
    """Probabilities for ``(N, H, W)`` uint8 face crops, resized to the model's input when needed,
    averaged over the test-time augmentation views of ``tta``."""
    size = classifier.config.preprocessing.input_size
    if images.shape[1:3] != (size, size):
        images = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    total = np.zeros((len(images), len(classifier.labels)))
    views = tta_views(images, tta)
    for view in tqdm(views, desc=f"classify ({tta})", leave=False, disable=len(views) == 1):
        total += np.concatenate([classifier.predict_proba(view[i : i + batch_size]) for i in range(0, len(view), batch_size)])
    return total / len(views)


def classify_photos(recognizer, images, paths) -> tuple[np.ndarray, list[str]]:
    """Probabilities of the largest face in each photo; rows of -1 where no face was found."""
    probabilities = np.full((len(images), len(recognizer.labels)), -1.0)
    missed = []
    for i, image in enumerate(tqdm(images, desc="detect+classify", leave=False)):
        face = recognizer.predict(image).main_face
        if face is None:
            missed.append(paths[i] if paths else str(i))
        else:
            probabilities[i] = [face.scores[label] for label in recognizer.labels]
    return probabilities, missed


def evaluate(
    data: str | Path,
    split: str | None = None,
    model: str | None = None,
    detect: bool = False,
    tta: str = "none",
    plots: str | Path | None = None,
) -> dict:
    """The report ``main`` prints; with ``plots``, also the confusion-matrix, per-class and
    reliability PNGs in that folder. ``tta`` applies to face crops only (not with ``detect``)."""
    if detect and tta != "none":
        raise ValueError("--tta applies to face crops; it cannot be combined with --detect")
    data = Path(data)
    location = resolve_model(model)
    if detect:
        from fer.predictor import EmotionRecognizer

        recognizer = EmotionRecognizer(location.folder)
        labels, config = recognizer.labels, recognizer.classifier.config
        if data.is_dir():
            dataset = read_image_folder(data, size=None)
        else:
            dataset = load_split(data, split)
            dataset.images = np.stack([cv2.cvtColor(im, cv2.COLOR_GRAY2RGB) for im in dataset.images])
        probabilities, missed = classify_photos(recognizer, dataset.images, dataset.paths)
    else:
        classifier = EmotionClassifier(location.folder)
        labels, config = classifier.labels, classifier.config
        dataset = load_split(data, split)
        probabilities, missed = classify_crops(classifier, dataset.images, tta), []
    found = probabilities[:, 0] >= 0
    predictions = np.where(found, probabilities.argmax(axis=1), -1)
    report = classification_report(dataset.labels, predictions, labels)
    report.update(
        model=location.origin,
        # what ran: "bundled" or a folder path names no particular weights, temperature or crop framing
        model_sha256=sha256_of(location.folder / TFLITE_NAME),
        temperature=config.temperature,
        class_offsets=list(config.class_offsets) if config.class_offsets is not None else None,
        uncertain_below=config.uncertain_below,
        preprocessing=dataclasses.asdict(config.preprocessing),
        data=str(data),
        split=split,
        detect=detect,
        tta=tta,
        ece=round(expected_calibration_error(dataset.labels[found], probabilities[found]), 4) if found.any() else None,
    )
    report["recall"] = {label: m["recall"] for label, m in report["per_class"].items()}
    if config.uncertain_below is not None and found.any():  # of the faces found; a photo without one is no answer
        report["uncertain"] = coverage(probabilities[found], dataset.labels[found], config.uncertain_below)
    if detect:
        report["no_face"] = {"count": len(missed), "files": missed}
    if plots is not None:
        report["plots"] = write_plots(report, dataset.labels[found], probabilities[found], Path(plots))
    return report


def write_plots(report: dict, labels: np.ndarray, probabilities: np.ndarray, folder: Path) -> list[str]:
    from train.plots import confusion_matrix_plot, per_class_plot, reliability_plot

    folder.mkdir(parents=True, exist_ok=True)
    correct = probabilities.argmax(axis=1) == labels
    title = f"Reliability, ECE {report['ece']}"
    return [
        str(confusion_matrix_plot(report, folder / "confusion_matrix.png")),
        str(per_class_plot(report, folder / "per_class.png")),
        str(reliability_plot(probabilities.max(axis=1), correct, folder / "reliability.png", title)),
    ]


def format_report(report: dict) -> str:
    labels = report["labels"]
    lines = [
        f"model: {report['model']} (model.tflite sha256 {report['model_sha256'][:12]}, temperature {report['temperature']}"
        + (", class offsets " + " ".join(f"{v:+.2f}" for v in report["class_offsets"]) if report.get("class_offsets") else "") + ")",
        f"data: {report['data']}" + (f" [{report['split']}]" if report["split"] else "") + (" (with face detection)" if report["detect"] else ""),
        f"test-time augmentation: {report['tta']}" if report.get("tta", "none") != "none" else "single pass",
        f"images: {report['n']}   accuracy: {report['accuracy']:.4f}   balanced accuracy: {report['balanced_accuracy']:.4f}   "
        f"macro F1: {report['macro_f1']:.4f}   ECE: {report['ece']}",
        "recall: " + "  ".join(f"{label} {recall:.3f}" for label, recall in report["recall"].items()),
    ]
    if report.get("uncertain"):
        u = report["uncertain"]
        lines.append(f"unsure (top probability below {u['threshold']}): {1 - u['coverage']:.1%} of the faces found; "
                     f"accuracy {u['accuracy_confident']} on the rest, {u['accuracy_uncertain']} on the unsure")
    if report.get("no_face"):
        lines.append(f"no face found (counted wrong): {report['no_face']['count']}")
    lines += ["", f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label, m in report["per_class"].items():
        lines.append(f"{label:<10}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)", " " * 10 + "".join(f"{l[:7]:>8}" for l in labels)]
    for label, row in zip(labels, report["confusion_matrix"]):
        lines.append(f"{label:<10}" + "".join(f"{v:>8}" for v in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 CSV (.csv/.csv.gz) or folder of class subfolders")
    parser.add_argument("--split", help="Usage value to evaluate (Training, PublicTest, PrivateTest); required when the CSV holds several")
    parser.add_argument("--model", help="fast (the default), accurate, a model folder or a Hub repo id")
    parser.add_argument("--detect", action="store_true", help="detect the face first (uncropped photos)")
    parser.add_argument("--tta", choices=TTA_MODES, default="none", help="test-time augmentation, reported apart")
    parser.add_argument("--plots", help="write confusion-matrix, per-class and reliability PNGs to this folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = evaluate(args.data, args.split, args.model, args.detect, args.tta, args.plots)
    except (OSError, ValueError) as err:  # no such data or model, an unreadable image, the Hub
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
