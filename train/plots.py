"""PNG plots for the evaluation report: confusion matrix, per-class precision/recall, training curves,
reliability diagram. Matplotlib with the Agg backend, so they render without a display."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def confusion_matrix_plot(report: dict, path: Path) -> Path:
    labels = report["labels"]
    matrix = np.array(report["confusion_matrix"], dtype=float)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{rows[i, j]:.2f}\n({int(matrix[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if rows[i, j] > 0.5 else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels, yticklabels=labels,
           xlabel="predicted", ylabel="true", title=f"Confusion matrix (row-normalised), accuracy {report['accuracy']:.3f}")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def per_class_plot(report: dict, path: Path) -> Path:
    labels = report["labels"]
    precision = [report["per_class"][l]["precision"] for l in labels]
    recall = [report["per_class"][l]["recall"] for l in labels]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, precision, 0.4, label="precision")
    ax.bar(x + 0.2, recall, 0.4, label="recall")
    ax.set(xticks=x, xticklabels=labels, ylim=(0, 1), title="Per-class precision and recall")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def reliability_plot(confidence: np.ndarray, correct: np.ndarray, path: Path, title: str, bins: int = 15) -> Path:
    edges = np.linspace(0, 1, bins + 1)
    centers, accuracy, counts = [], [], []
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            centers.append(confidence[in_bin].mean())
            accuracy.append(correct[in_bin].mean())
            counts.append(in_bin.sum())
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(centers, accuracy, "o-", label="model")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence of top label", ylabel="accuracy", title=title)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def training_curves_plot(log_csv: Path, path: Path) -> Path:
    with open(log_csv) as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("accuracy", "train"), ("val_accuracy", "validation")):
        left.plot(epochs, [float(r[key]) for r in rows], label=label)
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        right.plot(epochs, [float(r[key]) for r in rows], label=label)
    left.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    right.set(xlabel="epoch", ylabel="loss", title="Loss (train includes label smoothing)")
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    return _save(fig, path)
