"""Tune the crop framing on real photos: ``python -m train.tune_crop --model DIR [--data FOLDER]``.

FER2013 faces are framed loosely; a detector's box is tight. This detects every face once, then
classifies crops at several ``crop_scale`` x ``center_shift`` settings (with and without eye
alignment) and prints the whole-pipeline accuracy of each, so the export can pick the framing that
makes real photos look most like FER2013 to the model.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import numpy as np
from tqdm import tqdm

from fer.classifier import EmotionClassifier
from fer.detect import FaceDetector
from fer.preprocess import crop_face
from fer.source import resolve_model
from train.data import read_image_folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.tune_crop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or Hub repo id")
    parser.add_argument("--data", default="../shared/data/faces-in-the-wild")
    parser.add_argument("--scales", default="1.0,1.1,1.2,1.3,1.4,1.5,1.6")
    parser.add_argument("--shifts", default="-0.1,-0.05,0,0.05,0.1")
    args = parser.parse_args(argv)

    classifier = EmotionClassifier(resolve_model(args.model).folder)
    data = read_image_folder(args.data, size=None)
    with FaceDetector() as detector:
        faces = [max(detector.detect(im), key=lambda d: d.width * d.height, default=None) for im in tqdm(data.images, desc="detect")]
    found = np.array([f is not None for f in faces])
    print(f"{found.sum()}/{len(faces)} photos with a face")
    rows = []
    base = classifier.config.preprocessing
    grid = list(itertools.product([True, False], map(float, args.scales.split(",")), map(float, args.shifts.split(","))))
    for align, scale, shift in tqdm(grid, desc="settings"):
        pre = dataclasses.replace(base, crop_scale=scale, center_shift=shift, align=align)
        crops = np.stack([crop_face(im, f, pre) for im, f in zip(data.images, faces) if f is not None])
        predictions = classifier.predict_proba(crops).argmax(axis=1)
        accuracy = (predictions == data.labels[found]).sum() / len(faces)  # missed faces count as wrong
        rows.append((accuracy, align, scale, shift))
    print(f"{'align':<6}{'scale':>6}{'shift':>7}{'accuracy':>10}")
    for accuracy, align, scale, shift in sorted(rows, reverse=True):
        print(f"{str(align):<6}{scale:>6.2f}{shift:>7.2f}{accuracy:>10.4f}")


if __name__ == "__main__":
    main()
