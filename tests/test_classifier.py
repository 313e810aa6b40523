import dataclasses
import shutil

import numpy as np
import pytest

from fer.classifier import EmotionClassifier, softmax
from fer.config import EMOTIONS, ModelConfig
from fer.source import BUNDLED_MODEL


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier(BUNDLED_MODEL)


def test_bundled_model_matches_its_config(classifier):
    assert classifier.labels == EMOTIONS
    size = classifier.config.preprocessing.input_size
    assert tuple(classifier.runner.interpreter.get_input_details()[0]["shape"][1:3]) == (size, size)


def test_probabilities_are_a_distribution_per_face(classifier):
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    p = classifier.predict_proba(faces)
    assert p.shape == (5, 7)
    assert np.allclose(p.sum(axis=1), 1) and (p >= 0).all()
    assert classifier.predict_proba(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


def test_batched_and_single_predictions_agree(classifier):
    faces = np.random.default_rng(1).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    batched = classifier.predict_proba(faces)
    single = np.concatenate([classifier.predict_proba(faces[i : i + 1]) for i in range(3)])
    assert np.allclose(batched, single, atol=1e-5)


def test_litert_copy_agrees_with_the_keras_weights(classifier):
    keras = pytest.importorskip("keras", reason="training's Keras is not installed")
    model = keras.models.load_model(BUNDLED_MODEL / "model.keras", compile=False)
    faces = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    expected = np.asarray(model(classifier.inputs(faces), training=False))
    assert np.allclose(classifier.logits(faces), expected, atol=1e-4)
    assert np.allclose(classifier.logits(faces[:1]), expected[:1], atol=1e-4)  # batch size changes


def test_tampered_litert_copy_is_refused(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, folder)
    (folder / "model.tflite").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        EmotionClassifier(folder)


def test_missing_litert_copy_is_a_clear_error(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, folder)
    (folder / "model.tflite").unlink()
    with pytest.raises(FileNotFoundError, match="model.tflite"):
        EmotionClassifier(folder)


def test_temperature_softens_without_changing_the_ranking():
    logits = np.array([[2.0, 0.5, -1.0]])
    sharp, soft = softmax(logits, 1.0), softmax(logits, 3.0)
    assert soft.max() < sharp.max() and soft.argmax() == sharp.argmax()


def test_a_wrong_recorded_litert_sha256_is_refused(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, folder)
    config = ModelConfig.load(folder)
    config.metrics["tflite"]["sha256"] = "0" * 64
    config.save(folder)
    with pytest.raises(ValueError, match="sha256"):
        EmotionClassifier(folder)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        EmotionClassifier(tmp_path)


@pytest.mark.parametrize("preprocessing", [{"input_size": 64}, {"grayscale": False}])
def test_preprocessing_that_does_not_fit_the_model_is_refused(tmp_path, preprocessing):
    """LiteRT runs on whatever size it is fed: a config saying 64 px ran a 48-px model on 64-px crops."""
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, folder)
    config = ModelConfig.load(folder)
    config.preprocessing = dataclasses.replace(config.preprocessing, **preprocessing)
    config.save(folder)
    with pytest.raises(ValueError, match="48x48x1 inputs"):
        EmotionClassifier(folder)


def test_class_offsets_are_applied_before_the_temperature(tmp_path):
    """The decision rule in config.json moves every interface's labels: here, an offset large enough
    makes disgust the top label of every face, and the probabilities still sum to 1."""
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, folder)
    faces = np.random.default_rng(3).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    plain = EmotionClassifier(folder)
    logits = plain.logits(faces)
    config = ModelConfig.load(folder)
    offsets = (0.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    dataclasses.replace(config, class_offsets=offsets).save(folder)
    ruled = EmotionClassifier(folder)
    p = ruled.predict_proba(faces)
    assert (p.argmax(axis=1) == EMOTIONS.index("disgust")).all() and np.allclose(p.sum(axis=1), 1)
    assert np.allclose(p, softmax(logits + np.array(offsets), config.temperature))
