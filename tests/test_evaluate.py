import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import EXAMPLES, ROOT, shared
from fer.classifier import sha256_of
from test_data import write_fer_csv
from train.evaluate import evaluate, main


def test_csv_report_is_consistent(tmp_path, capsys):
    rng = np.random.default_rng(0)
    csv = write_fer_csv(tmp_path / "t.csv.gz", [(int(rng.integers(7)), "PublicTest", int(rng.integers(256))) for _ in range(30)])
    report = evaluate(csv, "PublicTest", "bundled")
    assert report["n"] == 30 and 0 <= report["accuracy"] <= 1
    matrix = np.array(report["confusion_matrix"])
    assert matrix.sum() == 30 and report["accuracy"] == pytest.approx(np.trace(matrix) / 30, abs=1e-4)
    assert main(["--data", str(csv), "--split", "PublicTest", "--model", "bundled", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 30
    assert main(["--data", str(csv), "--split", "PrivateTest"]) == 2  # absent split: a clear error
    mixed = write_fer_csv(tmp_path / "mixed.csv", [(0, "Training", 1), (3, "PublicTest", 2)])
    capsys.readouterr()
    assert main(["--data", str(mixed), "--model", "bundled"]) == 2  # which rows? Training ones must not count
    assert "--split" in capsys.readouterr().err
    (tmp_path / "photos" / "happy").mkdir(parents=True)
    (tmp_path / "photos" / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    assert main(["--data", str(tmp_path / "photos"), "--detect"]) == 2  # an unreadable photo: said, no traceback
    assert "broken.jpg" in capsys.readouterr().err


def test_json_report_names_the_weights_temperature_and_framing_it_ran(tmp_path, capsys):
    # "model": a folder path (or "bundled") names no particular weights: re-exporting or recalibrating
    # the folder changes the figures under the same name, so the report must say what actually ran
    csv = write_fer_csv(tmp_path / "t.csv", [(i % 7, "PublicTest", 9 * i) for i in range(14)])
    folder = tmp_path / "model"
    shutil.copytree(ROOT / "fer" / "assets" / "model", folder, ignore=shutil.ignore_patterns("*.keras", "plots", "README.md"))
    config = json.loads((folder / "config.json").read_text())
    config["temperature"] = 2.0  # recalibrated in place: same name, same weights, another ECE
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["--data", str(csv), "--split", "PublicTest", "--model", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == str(folder)
    assert report["model_sha256"] == sha256_of(folder / "model.tflite") == config["metrics"]["tflite"]["sha256"]
    assert report["temperature"] == 2.0
    assert report["preprocessing"] == config["preprocessing"]
    assert report["ece"] != evaluate(csv, "PublicTest", "bundled")["ece"]


def test_folder_with_detection_counts_missed_faces_as_wrong(tmp_path):
    (tmp_path / "neutral").mkdir()
    (tmp_path / "happy").mkdir()
    Image.open(EXAMPLES / "grace_hopper.jpg").save(tmp_path / "neutral" / "hopper.jpg")
    Image.open(EXAMPLES / "no_face_coffee.jpg").save(tmp_path / "happy" / "coffee.jpg")
    report = evaluate(tmp_path, model="bundled", detect=True)
    assert report["n"] == 2 and report["no_face"]["count"] == 1
    assert report["no_face"]["files"][0].endswith("coffee.jpg")
    assert report["per_class"]["happy"]["recall"] == 0.0
    assert sum(map(sum, report["confusion_matrix"])) == 1


def test_shipped_model_reaches_66_percent_on_publictest():
    """Accuracy, and with the decision rule of its config.json, balance: the fast model's card gives
    0.6977 and balanced accuracy 0.6864, with every class's recall 0.47 or more (disgust's was 0.48
    and happy's 0.89 without the rule); and it says which faces it is unsure of."""
    report = evaluate(shared("fer2013", "fer2013-train-publictest.csv.gz"), "PublicTest", "bundled")
    assert report["n"] == 3589
    assert report["accuracy"] >= 0.66, report["accuracy"]
    assert report["balanced_accuracy"] >= 0.68 and min(report["recall"].values()) >= 0.45, report["recall"]
    assert report["class_offsets"] is not None and 0.5 < report["uncertain"]["coverage"] < 1


def test_the_accurate_option_beats_the_fast_default_on_publictest_faces():
    """The bundled ensemble, labels in order and weights intact: on the first 600 PublicTest faces
    (a minute's work, not the whole split's four) it is right at least as often as the fast model,
    and well above chance. A label order shifted by one gave the astronaut 'sad' and passed the rest."""
    from fer.classifier import EmotionClassifier
    from fer.config import EMOTIONS
    from fer.source import BUNDLED_ACCURATE, BUNDLED_MODEL
    from train.data import load_split

    faces = load_split(shared("fer2013", "fer2013-train-publictest.csv.gz"), "PublicTest")
    images, labels = faces.images[:600], np.asarray(faces.labels[:600])
    right = {}
    for name, folder in (("fast", BUNDLED_MODEL), ("accurate", BUNDLED_ACCURATE)):
        classifier = EmotionClassifier(folder)
        assert tuple(classifier.labels) == tuple(EMOTIONS)  # FER2013's order, as the labels are numbered
        right[name] = float((classifier.predict_proba(images).argmax(axis=1) == labels).mean())
    assert right["accurate"] >= max(0.66, right["fast"]), right


def test_the_whole_pipeline_on_real_photos_reaches_the_shipped_figure():
    """Detection, framing, alignment and classification together, on the faces-in-the-wild photos
    (the fast model's card: 0.5685, a face found in 824 of 825): a change to any step that costs more
    than 2.5 points fails here, and so does one that loses faces the padded second pass finds (29 were
    missed without it)."""
    report = evaluate(shared("faces-in-the-wild"), None, "bundled", detect=True)
    assert report["n"] == 825
    assert report["accuracy"] >= 0.5435, report["accuracy"]
    assert report["no_face"]["count"] <= 10, report["no_face"]
