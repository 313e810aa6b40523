"""The decision rule (class offsets) and the uncertainty threshold fitted at export (train/decision.py)."""

import numpy as np
import pytest

from fer.classifier import softmax
from train.decision import class_prior, coverage, crossfit_offsets, decision_rule, fit_class_offsets, fit_uncertain_threshold
from train.metrics import balanced_accuracy


def _biased(n: int = 3000, seed: int = 0):
    """Labels with a FER2013-like prior and logits that carry the prior on top of a noisy signal, as a
    network trained on plain cross-entropy does: the rare class is under-predicted."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.14, 0.02, 0.14, 0.25, 0.17, 0.11, 0.17])
    labels = rng.choice(7, n, p=prior)
    logits = rng.normal(0, 1.0, (n, 7)) + 1.6 * np.eye(7)[labels] + np.log(prior)
    return logits, labels, prior


def test_offsets_raise_balanced_accuracy_and_hold_accuracy():
    logits, labels, prior = _biased()
    before = logits.argmax(axis=1)
    offsets = fit_class_offsets(logits, labels, prior)
    after = (logits + offsets).argmax(axis=1)
    assert balanced_accuracy(labels, after) > balanced_accuracy(labels, before) + 0.02
    assert (after == labels).mean() >= (before == labels).mean()  # the default floor: its own accuracy
    assert offsets[1] == offsets.max()  # the rare class is the one lifted
    assert abs(offsets.mean()) < 1e-3  # centred


def test_a_lower_floor_buys_more_balance_and_an_unreachable_one_is_said():
    logits, labels, prior = _biased()
    own = float((logits.argmax(axis=1) == labels).mean())
    strict = (logits + fit_class_offsets(logits, labels, prior, own)).argmax(axis=1)
    loose = (logits + fit_class_offsets(logits, labels, prior, own - 0.03)).argmax(axis=1)
    assert balanced_accuracy(labels, loose) >= balanced_accuracy(labels, strict)
    rule = decision_rule(logits, labels, labels, min_accuracy=0.99)
    assert rule["min_accuracy_met"] is False and rule["accuracy_after"] < 0.99
    assert decision_rule(logits, labels, labels, min_accuracy=None)["min_accuracy_met"] is True


def test_crossfit_measures_the_rule_on_rows_it_was_not_fitted_on():
    logits, labels, prior = _biased()
    held_out = crossfit_offsets(logits, labels, prior)
    assert set(held_out) == {"balanced_accuracy", "accuracy"}
    assert held_out["balanced_accuracy"] > balanced_accuracy(labels, logits.argmax(axis=1))


def test_the_prior_counts_every_class():
    prior = class_prior(np.array([0, 0, 3, 3, 3, 6]))
    assert prior.shape == (7,) and prior.sum() == pytest.approx(1) and (prior > 0).all()


def test_the_threshold_tells_right_from_wrong_near_one_half_for_a_calibrated_model():
    rng = np.random.default_rng(1)
    probabilities = softmax(rng.normal(0, 1.5, (20000, 7)))
    labels = np.array([rng.choice(7, p=p) for p in probabilities])  # calibrated by construction
    threshold = fit_uncertain_threshold(probabilities, labels)
    assert 0.4 <= threshold <= 0.6
    report = coverage(probabilities, labels, threshold)
    assert report["accuracy_confident"] > 0.5 > report["accuracy_uncertain"]
    assert 0 < report["coverage"] < 1 and report["threshold"] == threshold
