"""Temperature scaling (Guo et al., 2017): one scalar T so that softmax(logits / T) is calibrated.

T is fitted by minimising the negative log-likelihood on held-out logits; it leaves the ranking, and
so the accuracy, unchanged.
"""

from __future__ import annotations

import numpy as np

from fer.classifier import softmax
from train.metrics import expected_calibration_error


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)
    return float(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The T in [low, high] minimising NLL: golden-section search on log T (NLL is unimodal in T)."""
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if negative_log_likelihood(logits, labels, np.exp(c)) < negative_log_likelihood(logits, labels, np.exp(d)):
            b = d
        else:
            a = c
    return round(float(np.exp((a + b) / 2)), 4)


def crossfit_ece(logits: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Expected calibration error after temperature scaling, measured out of sample: the rows are
    split in two halves (a fixed permutation drawn from ``seed``), T is fitted on each half and the
    ECE measured on the other, and the two ECEs are averaged.

    The temperature a model ships with is fitted on all the rows, so the ECE after it on those same
    rows flatters it; this is the figure to expect on faces T has not seen.
    """
    halves = np.array_split(np.random.default_rng(seed).permutation(len(labels)), 2)
    return float(np.mean([
        expected_calibration_error(labels[measure], softmax(logits[measure], fit_temperature(logits[fit], labels[fit])))
        for fit, measure in (halves, halves[::-1])
    ]))
