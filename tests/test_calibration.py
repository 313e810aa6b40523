import numpy as np
import pytest

from train.calibration import crossfit_ece, fit_temperature, negative_log_likelihood
from train.evaluate import tta_views
from train.metrics import expected_calibration_error
from fer.classifier import softmax


def _calibrated_logits(n=4000, classes=7, seed=0):
    """Logits whose softmax is the true class distribution the labels are drawn from."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, classes))
    p = softmax(logits)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return logits, labels


def test_calibrated_logits_need_no_temperature():
    logits, labels = _calibrated_logits()
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)


def test_overconfident_logits_get_cooled_and_better_calibrated():
    logits, labels = _calibrated_logits()
    overconfident = logits * 3
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    assert negative_log_likelihood(overconfident, labels, t) < negative_log_likelihood(overconfident, labels, 1.0)
    before = expected_calibration_error(labels, softmax(overconfident))
    after = expected_calibration_error(labels, softmax(overconfident, t))
    assert after < before / 2


def test_crossfit_ece_measures_each_half_with_the_temperature_fitted_on_the_other():
    logits, labels = _calibrated_logits(n=1000)
    overconfident = logits * 3
    halves = np.array_split(np.random.default_rng(0).permutation(len(labels)), 2)  # the documented split
    expected = np.mean([expected_calibration_error(labels[measure], softmax(overconfident[measure], fit_temperature(overconfident[fit], labels[fit])))
                        for fit, measure in (halves, halves[::-1])])
    assert crossfit_ece(overconfident, labels) == pytest.approx(expected, abs=1e-12)
    assert crossfit_ece(overconfident, labels) == crossfit_ece(overconfident, labels)  # a fixed split: the same figure every export
    assert crossfit_ece(overconfident, labels) < expected_calibration_error(labels, softmax(overconfident)) / 2
    # out of sample, a temperature fitted on a few rows helps less than it seems to on those rows themselves
    few, few_labels = overconfident[:40], labels[:40]
    in_sample = expected_calibration_error(few_labels, softmax(few, fit_temperature(few, few_labels)))
    assert crossfit_ece(few, few_labels) > in_sample


def test_tta_views():
    images = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    assert len(tta_views(images, "none")) == 1
    original, mirrored = tta_views(images, "flip")
    assert np.array_equal(mirrored[:, :, ::-1], original)
    ten = tta_views(images, "tencrop")
    assert len(ten) == 10 and all(v.shape == images.shape for v in ten)
    with pytest.raises(ValueError):
        tta_views(images, "twentycrop")
