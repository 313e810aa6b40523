"""Classification metrics from labels and probabilities, in plain numpy."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted; a prediction of -1 (no face found) counts in no column."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    found = y_pred >= 0
    np.add.at(matrix, (y_true[found], y_pred[found]), 1)
    return matrix


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true`` (a missing prediction, -1, is wrong)."""
    classes = np.unique(y_true)
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in classes])) if len(classes) else 0.0


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Accuracy (a fraction; missing predictions count as wrong), macro F1, per-class P/R/F1, confusion."""
    matrix = confusion_matrix(y_true, y_pred, len(labels))
    per_class = {}
    for i, label in enumerate(labels):
        tp = matrix[i, i]
        predicted, actual = matrix[:, i].sum(), (y_true == i).sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(actual),
        }
    present = [v["f1"] for v in per_class.values() if v["support"]]
    return {
        "n": int(len(y_true)),
        "accuracy": round(float((y_true == y_pred).mean()), 4) if len(y_true) else 0.0,
        "balanced_accuracy": round(balanced_accuracy(y_true, y_pred), 4),
        "macro_f1": round(float(np.mean(present)), 4) if present else 0.0,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "labels": list(labels),
    }
