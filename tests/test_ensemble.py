"""Ensembles of classifiers in one LiteRT file, on small models the test builds (seconds, no training)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fer.classifier import EmotionClassifier  # noqa: E402
from fer.gradcam import overlay_gradcam  # noqa: E402
from fer.results import FaceResult, ImageResult  # noqa: E402
from train.export import export_model_folder  # noqa: E402
from train.model import build_classifier, build_ensemble, ensemble_members  # noqa: E402


def tiny_classifier(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = build_classifier(widths=(4, 8), head_units=8)
    # non-trivial batch-norm statistics, so the members really differ at inference
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.random.default_rng(seed).normal(0, 0.1, layer.moving_mean.shape))
    return model


@pytest.fixture(scope="module")
def members():
    return [tiny_classifier(1), tiny_classifier(2)]


@pytest.fixture(scope="module")
def faces():
    return np.random.default_rng(0).integers(0, 256, (12, 48, 48), dtype=np.uint8)


def test_ensemble_logits_are_the_mean_of_its_members(members, faces):
    ensemble = build_ensemble(members)
    x = faces[..., None].astype("float32") / 255
    expected = np.mean([np.asarray(m(x, training=False)) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble(x, training=False)), expected, rtol=1e-5, atol=1e-6)
    assert [m.name for m in ensemble_members(ensemble)] == ["member0", "member1"]
    assert ensemble_members(members[0]) == [members[0]]


def test_ensemble_needs_two_members_of_one_input(members):
    with pytest.raises(ValueError, match="at least two"):
        build_ensemble(members[:1])
    other = build_classifier(input_size=40, widths=(4,), head_units=4)
    with pytest.raises(ValueError, match="different inputs"):
        build_ensemble([members[0], other])


def test_exported_ensemble_runs_on_litert_and_explains_its_label(members, faces, tmp_path):
    ensemble = build_ensemble(members)
    folder = export_model_folder(ensemble, tmp_path / "accurate", training={"members": ["a", "b"]}, faces=faces)
    config = EmotionClassifier(folder).config
    assert config.architecture["members"] == 2 and config.metrics["tflite"]["top1_agreement"] == 1.0
    assert "ensemble of 2" in (folder / "README.md").read_text()

    runtime = EmotionClassifier(folder)
    x = faces[..., None].astype("float32") / 255
    keras_logits = np.mean([np.asarray(m(x, training=False)) for m in members], axis=0)
    np.testing.assert_allclose(runtime.logits(faces), keras_logits, rtol=1e-4, atol=1e-4)
    assert runtime.runner.explains  # stacked members' features: the heat map works for the ensemble too

    reloaded = keras.models.load_model(folder / "model.keras", compile=False)  # a teacher for distillation
    assert len(ensemble_members(reloaded)) == 2

    image = np.random.default_rng(1).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    face = FaceResult(box=(30, 30, 90, 90), score=0.9, label="happy", scores={label: 1 / 7 for label in runtime.labels})
    heat = overlay_gradcam(image, ImageResult([face], size=(120, 120)), runtime)
    assert heat.shape == image.shape and not np.array_equal(heat, image)


def test_subsets_are_ranked_by_accuracy_then_size():
    from train.ensemble import rank_subsets

    labels = np.array([0, 1, 1])
    logits = {  # a and b: each right on 2 of 3, their mean on all 3
        "a": np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        "b": np.array([[0.0, 0.5], [0.0, 3.0], [0.0, 1.0]]),
        "c": np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]),  # 2 of 3 (always 1)
    }
    ranked = rank_subsets(logits, labels)
    assert len(ranked) == 7 and ranked[0] == (1.0, ("a", "b"))  # before the three together, also right on all
    assert ranked[1] == (1.0, ("a", "b", "c")) and [r[0] for r in ranked] == sorted((r[0] for r in ranked), reverse=True)


def test_balanced_ranking_holds_the_accuracy_floor_first():
    """With a floor, subsets rank by balanced accuracy under their own decision rule, and a subset that
    cannot hold the floor ranks below every one that can, however balanced."""
    from train.ensemble import rank_balanced

    rng = np.random.default_rng(0)
    labels = rng.choice(7, 700, p=[0.14, 0.02, 0.14, 0.25, 0.17, 0.11, 0.17])
    signal = 1.5 * np.eye(7)[labels]
    logits = {"good": signal + rng.normal(0, 1, (700, 7)), "weak": 0.3 * signal + rng.normal(0, 1, (700, 7))}
    prior = np.bincount(labels, minlength=7) / len(labels)
    ranked = rank_balanced(logits, labels, prior, min_accuracy=0.5)
    assert len(ranked) == 3 and ranked[0][1] in (("good",), ("good", "weak"))
    assert ranked[-1][1] == ("weak",) and ranked[-1][0][1] < 0.5  # the weak model alone cannot hold 0.5
    held = rank_balanced(logits, labels, prior, min_accuracy=None, held_out=5)
    assert len(held) == 3 and held[0][1] in (("good",), ("good", "weak")) and held[-1][1] == ("weak",)
    in_sample = dict((subset, score) for score, subset in rank_balanced(logits, labels, prior, min_accuracy=None))
    assert all(score[0] <= in_sample[subset][0] + 0.01 for score, subset in held)  # held out is no kinder than in sample


def test_search_scores_saved_candidates_on_the_validation_split(members, tmp_path, capsys):
    from test_data import write_fer_csv
    from train.ensemble import main

    data = write_fer_csv(tmp_path / "fer.csv", [(i % 7, "PublicTest", 20 * i) for i in range(10)])
    paths = []
    for i, member in enumerate(members):
        member.save(tmp_path / f"m{i}.keras")
        paths.append(str(tmp_path / f"m{i}.keras"))
    assert main(["--search", *paths, "--data", str(data)]) is None
    out = capsys.readouterr().out
    assert "PublicTest accuracy" in out and out.count(" + ") == 1 and len(out.strip().splitlines()) == 4
    assert main(["--search", *paths, "--data", str(data), "--top", "1"]) is None
    assert len(capsys.readouterr().out.strip().splitlines()) == 2  # the heading and the best subset
    both = write_fer_csv(tmp_path / "both.csv", [(i % 7, usage, 20 * i) for i in range(10) for usage in ("Training", "PublicTest")])
    assert main(["--search", *paths, "--data", str(both), "--held-out", "2"]) is None  # the rule's prior: Training
    out = capsys.readouterr().out
    assert "balanced accuracy" in out and "not fitted on (2-fold)" in out and len(out.strip().splitlines()) == 4
    with pytest.raises(SystemExit):
        main(["--search", *paths, "--data", str(both), "--held-out", "1"])


def test_an_ensemble_folder_counts_as_its_members_in_search_and_build(members, faces, tmp_path, capsys):
    from test_data import write_fer_csv
    from train.ensemble import load_classifiers, main

    folder = export_model_folder(build_ensemble(members), tmp_path / "accurate",
                                 training={"members": ["runs/a/best.keras", "runs/b/best.keras"]}, faces=faces)
    third = tiny_classifier(3)
    third.save(tmp_path / "c.keras")
    classifiers = load_classifiers([folder, tmp_path / "c.keras"])
    assert [c.name for c in classifiers] == [f"{folder}[0] (runs/a/best.keras)", f"{folder}[1] (runs/b/best.keras)",
                                             str(tmp_path / "c.keras")]
    # what the grown ensemble's config records: the runs, so growing it again names them the same way
    assert [c.origin for c in classifiers] == ["runs/a/best.keras", "runs/b/best.keras", str(tmp_path / "c.keras")]
    with pytest.raises(SystemExit, match="more than once"):
        (tmp_path / "sub").mkdir()
        load_classifiers([tmp_path / "c.keras", tmp_path / "sub" / ".." / "c.keras"])  # one file, spelt twice

    # three members, not an ensemble nested in an ensemble: the logits are the mean of all three
    grown = build_ensemble([c.model for c in classifiers])
    assert len(ensemble_members(grown)) == 3
    x = faces[..., None].astype("float32") / 255
    expected = np.mean([np.asarray(m(x, training=False)) for m in [*members, third]], axis=0)
    np.testing.assert_allclose(np.asarray(grown(x, training=False)), expected, rtol=1e-5, atol=1e-6)

    data = write_fer_csv(tmp_path / "fer.csv", [(i % 7, "PublicTest", 20 * i) for i in range(10)])
    assert main(["--search", str(folder), str(tmp_path / "c.keras"), "--data", str(data)]) is None
    out = capsys.readouterr().out
    assert "subset of 3 candidates" in out and "[1] (runs/b/best.keras)" in out
