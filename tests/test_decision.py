"""The decision rule (class offsets) and the uncertainty threshold fitted at export (train/decision.py)."""

import json

import numpy as np
import pytest

from fer.classifier import softmax
from train.decision import (class_prior, compare_rules, coverage, crossfit_offsets, decision_rule, fit_class_offsets,
                            fit_uncertain_threshold, held_out_rule_scores, held_out_scores)
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


def test_held_out_folds_see_through_offsets_that_fit_noise():
    """Logits with no prior in them (every class as likely, the same noise): the best offsets are none,
    so whatever the fit finds in sample is noise, and the held-out figure says so; where a prior does
    bias the logits, the held-out figure keeps most of the gain."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(7), 60)
    fair = rng.normal(0, 1.0, (len(labels), 7)) + 0.9 * np.eye(7)[labels]
    flat = np.full(7, 1 / 7)
    in_sample = balanced_accuracy(labels, (fair + fit_class_offsets(fair, labels, flat, 0.0)).argmax(axis=1))
    held_balanced, _ = held_out_rule_scores(fair, labels, flat, 0.0, folds=5, repeats=3)
    none = balanced_accuracy(labels, fair.argmax(axis=1))
    assert in_sample > none + 0.02  # offsets fitted to 420 faces find something
    assert held_balanced < none + 0.01  # which does not carry to faces they were not fitted on

    logits, biased_labels, prior = _biased()
    gain = held_out_rule_scores(logits, biased_labels, prior, None)[0] - balanced_accuracy(biased_labels, logits.argmax(axis=1))
    assert gain > 0.02


def test_held_out_folds_cover_every_row_once_per_repeat():
    logits, labels, prior = _biased(n=500)
    seen = []
    scores = held_out_scores(logits, labels, lambda l, y: seen.append(len(y)) or np.zeros(7), folds=4, repeats=2)
    assert scores.shape == (8, 2) and seen == [375] * 8  # fitted on three folds of 125, eight times
    assert np.allclose(scores[:, 1].reshape(2, 4).mean(axis=1), (logits.argmax(axis=1) == labels).mean(), atol=1e-9)


def test_compare_rules_reports_each_rule_in_and_out_of_sample():
    logits, labels, prior = _biased(n=1400)
    rows = compare_rules(logits, labels, prior, shipped=np.zeros(7), min_accuracy=0.6, folds=3, repeats=2)
    own = (logits.argmax(axis=1) == labels).mean()
    assert [r["rule"] for r in rows] == ["shipped (in config.json)", "none", f"refit, accuracy floor: the model's own ({own:.4f})",
                                        "refit, accuracy floor 0.6"]
    assert len(compare_rules(logits, labels, prior, None, round(own, 4), folds=3, repeats=2)) == 2  # that floor is the own one
    assert "held_out" not in rows[0] and rows[0]["in_sample"] == rows[1]["in_sample"]  # shipped offsets of 0 are none
    refit = rows[2]
    assert refit["in_sample"]["balanced_accuracy"] >= refit["held_out"]["balanced_accuracy"]  # in sample flatters
    assert refit["held_out"]["balanced_accuracy_se"] >= 0


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


def test_the_command_compares_the_rules_of_a_model_folder(tmp_path, capsys):
    from test_data import write_fer_csv
    from fer.config import ModelConfig
    from fer.source import BUNDLED_MODEL
    from train.decision import main

    floor = ModelConfig.load(BUNDLED_MODEL).metrics["decision_rule"]["min_accuracy"]
    data = write_fer_csv(tmp_path / "fer.csv", [(i % 7, usage, 9 * i % 256) for i in range(42) for usage in ("Training", "PublicTest")])
    assert main(["--model", "fast", "--data", str(data), "--folds", "3", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("42 PublicTest faces; held out: 2 x 3-fold")
    assert "shipped (in config.json)" in out and f"refit, accuracy floor {floor:g}" in out  # the floor the fast model was fitted at
    assert main(["--model", "fast", "--data", str(data), "--folds", "3", "--repeats", "2", "--min-accuracy", "0.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rule"] for r in rows][-1] == "refit, accuracy floor 0.5" and rows[-1]["held_out"]["folds"] == 3
    with pytest.raises(SystemExit):
        main(["--model", "fast", "--data", str(data), "--folds", "1"])
