"""A tiny run of the real training loop (seconds): checkpoints, resume, export; not a real model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from fer.classifier import EmotionClassifier
from fer.source import BUNDLED_MODEL
from test_data import write_fer_csv, write_ferplus_csv
from train.metrics import classification_report, expected_calibration_error
from train.train import main as train_main


@pytest.fixture
def tiny_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(int(rng.integers(7)), "Training", int(rng.integers(256))) for _ in range(40)]
    rows += [(int(rng.integers(7)), "PublicTest", int(rng.integers(256))) for _ in range(10)]
    return write_fer_csv(tmp_path / "tiny.csv", rows)


def test_train_resume_and_export(tmp_path, tiny_csv):
    args = [f"--data={tiny_csv}", f"--out={tmp_path / 'run'}", "--widths=[4, 8]", "--head_units=8", "--batch_size=16", "--patience=0"]
    train_main(args + ["--epochs=1"])
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 1
    with pytest.raises(SystemExit, match="--resume"):
        train_main(args + ["--epochs=1"])
    # resume with more epochs: the saved config wins, so raise epochs in it as a user would
    config = (tmp_path / "run" / "train_config.yaml")
    config.write_text(config.read_text().replace("epochs: 1", "epochs: 2"))
    folder = train_main(args + ["--resume"])
    assert json.loads((tmp_path / "run" / "state.json").read_text())["epoch"] == 2
    assert len((tmp_path / "run" / "log.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    classifier = EmotionClassifier(folder)
    assert classifier.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)
    assert classifier.config.training["epochs_run"] == 2


def test_resume_continues_exactly_where_the_run_stopped(tmp_path, tiny_csv):
    common = [f"--data={tiny_csv}", "--widths=[4]", "--head_units=4", "--batch_size=8", "--patience=0", "--epochs=2", "--mix=mixup",
              "--blur=1.5", "--low_res=0.5", "--noise=0.02"]  # every random layer is reseeded on resume
    train_main(common + [f"--out={tmp_path / 'straight'}"])
    interrupted = tmp_path / "interrupted"
    train_main(common + [f"--out={interrupted}", "--epochs=1"])
    config = interrupted / "train_config.yaml"
    config.write_text(config.read_text().replace("epochs: 1", "epochs: 2"))
    train_main(common + [f"--out={interrupted}", "--resume"])
    straight, resumed = _log(tmp_path / "straight"), _log(interrupted)
    assert len(straight) == len(resumed) == 2
    for a, b in zip(straight, resumed):  # same losses and accuracies, epoch by epoch
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4), key


def test_low_resolution_shrinks_its_share_of_faces_and_only_in_training():
    import keras

    from train.model import RandomLowResolution

    faces = np.random.default_rng(1).random((32, 48, 48, 1)).astype("float32")
    assert np.array_equal(keras.ops.convert_to_numpy(RandomLowResolution(1.0, seed=0)(faces, training=False)), faces)
    assert np.array_equal(keras.ops.convert_to_numpy(RandomLowResolution(0.0, seed=0)(faces, training=True)), faces)
    out = keras.ops.convert_to_numpy(RandomLowResolution(1.0, sizes=(16, 24), seed=0)(faces, training=True))
    smaller = {s: keras.ops.convert_to_numpy(keras.ops.image.resize(
        keras.ops.image.resize(faces, (s, s), interpolation="bilinear", antialias=True), (48, 48), interpolation="bilinear")) for s in (16, 24)}
    picked = [min(smaller, key=lambda s: np.abs(smaller[s][i] - out[i]).max()) for i in range(len(faces))]
    assert all(np.allclose(out[i], smaller[s][i], atol=1e-5) for i, s in enumerate(picked))  # each face: one size
    assert set(picked) == {16, 24}  # both sizes drawn across the batch
    assert out.std() < faces.std()  # detail lost: white noise smooths out


# The accelerator machine (../shared/device-kit) has JAX and Keras but no TensorFlow, OpenCV, MediaPipe or
# LiteRT; this runs as there: those imports fail, KERAS_BACKEND=jax.
ON_THE_ACCELERATOR_MACHINE = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "cv2", "PIL", "mediapipe", "ai_edge_litert", "gradio"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
import jax, keras, numpy as np
import train.train  # the training command's modules, all of which import there
from train.model import build_augmenter

augmenter = build_augmenter(erase=True, seed=0)
images = keras.Input((48, 48, 1))
model = keras.Model(images, keras.layers.Dense(7)(keras.layers.Flatten()(augmenter(images))))
model.compile(optimizer="adam", loss="mse")  # jit_compile="auto", as train.train compiles
faces = np.random.default_rng(0).random((4, 48, 48, 1), dtype="float32")

@jax.jit
def augment(state, faces):
    return augmenter.stateless_call([], state, faces, training=True)

first, state = augment([v.value for v in augmenter.non_trainable_variables], faces)
second, _ = augment(state, faces)
print(model.jit_compile, float(np.abs(first - faces).mean()), float(np.abs(second - first).mean()))
"""


def test_jax_compiles_the_augmenter():
    """Keras marks its affine augmentations as not jit-compilable, which would leave a whole JAX training
    step eager on the accelerator machine; the training model must compile there, and the compiled
    augmenter must still draw new transforms each step."""
    pytest.importorskip("jax", reason="jax is in requirements-dev.txt")
    result = subprocess.run([sys.executable, "-c", ON_THE_ACCELERATOR_MACHINE], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jit, changed, redrawn = result.stdout.split()[-3:]
    assert jit == "True"  # Keras' jit_compile="auto" picked XLA: no layer opted out
    assert float(changed) > 0.01 and float(redrawn) > 0.01  # augmented, and differently on the next step


def _log(run):
    import csv

    with open(run / "log.csv") as f:
        return list(csv.DictReader(f))


def test_ferplus_soft_labels_train(tmp_path, tiny_csv):
    votes = write_ferplus_csv(tmp_path / "ferplus.csv", [f"Training,f{i}.png,{i % 3},{(i + 1) % 4},0,1,0,0,0,0,0,0" for i in range(40)]
                              + [f"PublicTest,p{i}.png,1,0,0,0,0,0,0,0,0,0" for i in range(10)])
    folder = train_main([f"--data={tiny_csv}", f"--out={tmp_path / 'fp'}", f"--ferplus={votes}", "--labels=ferplus_soft",
                         "--widths=[4]", "--head_units=4", "--epochs=1", "--patience=0"])
    assert EmotionClassifier(folder).config.training["config"]["labels"] == "ferplus_soft"
    assert "targets: the vote distributions of the FER+ relabelling's votes" in (folder / "README.md").read_text()


def test_blended_targets_keep_every_row_and_fer2013s_labels(tmp_path, tiny_csv):
    from train.config import TrainConfig
    from train.data import load_split
    from train.train import one_hot, training_targets

    votes = write_ferplus_csv(tmp_path / "ferplus.csv", [f"Training,f{i}.png,{i % 2},0,0,0,{1 - i % 2},0,0,0,0,0" for i in range(39)]
                              + ["Training,,5,0,0,0,0,0,0,0,0,0"]  # no image name: unusable votes
                              + [f"PublicTest,p{i}.png,1,0,0,0,0,0,0,0,0,0" for i in range(10)])
    cfg = TrainConfig(data=str(tiny_csv), ferplus=str(votes), labels="fer2013+ferplus", ferplus_weight=0.25)
    images, targets, hard = training_targets(cfg)
    labels = load_split(tiny_csv, "Training").labels
    assert len(images) == len(targets) == 40 and (hard == labels).all()
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    voted = one_hot(np.where(np.arange(40) % 2, 6, 0))  # angry (index 0) on even rows, neutral (6) on odd
    np.testing.assert_allclose(targets[:39], 0.75 * one_hot(labels)[:39] + 0.25 * voted[:39], rtol=1e-6)
    np.testing.assert_array_equal(targets[39], one_hot(labels)[39])
    with pytest.raises(SystemExit, match="ferplus_weight"):
        training_targets(TrainConfig(data=str(tiny_csv), ferplus=str(votes), labels="fer2013+ferplus", ferplus_weight=1.5))


def test_experiments_table_lists_runs(tmp_path, tiny_csv):
    from train.experiments import main as experiments_main

    train_main([f"--data={tiny_csv}", f"--out={tmp_path / 'a'}", "--widths=[4]", "--head_units=4", "--epochs=1", "--patience=0"])
    table = experiments_main([str(tmp_path / "a"), "--out", str(tmp_path / "table.md")])
    lines = table.splitlines()
    assert lines[0].startswith("| run | val accuracy | balanced accuracy | macro F1 |") and len(lines) == 3
    assert lines[2].startswith("| a | ") and (tmp_path / "table.md").read_text().strip() == table
    assert "| precision |" in lines[0] and "| fer2013 | float32 | [4] |" in lines[2]
    # a results.json cached before the precision column existed: the column still comes from the config
    cached = tmp_path / "a" / "results.json"
    cached.write_text(json.dumps({k: v for k, v in json.loads(cached.read_text()).items() if k != "precision"}))
    assert experiments_main([str(tmp_path / "a")]).splitlines()[2] == lines[2]


def test_metrics_on_known_values():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, -1])  # -1: no face found, counts as wrong
    report = classification_report(y_true, y_pred, ("a", "b", "c"))
    assert report["accuracy"] == 0.6
    assert report["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.0) / 3, abs=1e-4)  # mean per-class recall
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert report["per_class"]["b"]["precision"] == pytest.approx(0.6667, abs=1e-4)
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    perfect = np.eye(3)[[0, 1, 2]]
    assert expected_calibration_error(np.array([0, 1, 2]), perfect) == 0.0
    assert expected_calibration_error(np.array([1, 2, 0]), perfect) == 1.0
    # 15 equal-width bins: the three 0.9s share one (2 of 3 right), the 0.6 has its own (right), so
    # ECE = 3/4 * |2/3 - 0.9| + 1/4 * |1 - 0.6| = 0.175 + 0.1 (an unweighted mean of bins would give 0.317)
    confidence = np.array([0.9, 0.9, 0.9, 0.6])
    probabilities = np.column_stack([confidence] + [(1 - confidence) / 6] * 6)  # class 0 predicted throughout
    assert expected_calibration_error(np.array([0, 0, 1, 0]), probabilities) == pytest.approx(0.275)


def test_distilled_student_learns_from_frozen_teachers(tmp_path, tiny_csv):
    import keras

    small = [f"--data={tiny_csv}", "--widths=[4]", "--head_units=4", "--batch_size=16", "--epochs=1", "--patience=0"]
    train_main(small + [f"--out={tmp_path / 'teacher'}"])
    teacher = tmp_path / "teacher" / "best.keras"
    before = keras.models.load_model(teacher).get_weights()
    train_main(small + [f"--out={tmp_path / 'student'}", f"--teachers=[{teacher}]", "--distill_weight=0.5"])
    student = keras.models.load_model(tmp_path / "student" / "best.keras")
    assert student.name == "fer_cnn" and student.output_shape == (None, 7)  # a plain classifier, no teachers inside
    after = keras.models.load_model(teacher).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    # the teacher's logits reach the loss: the same run without them ends elsewhere
    train_main(small + [f"--out={tmp_path / 'labels_only'}", f"--teachers=[{teacher}]", "--distill_weight=0"])
    alone = keras.models.load_model(tmp_path / "labels_only" / "best.keras").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(student.get_weights(), alone))


def test_a_mirrored_teacher_averages_its_logits_over_the_face_and_its_mirror(tmp_path):
    import keras

    from train.distill import Frozen, load_teachers
    from train.experiments import _distilled
    from train.model import build_classifier

    keras.utils.set_random_seed(0)
    model = build_classifier(widths=(4,), head_units=4)
    model.save(tmp_path / "teacher.keras")
    x = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    mirrored, plain = load_teachers([str(tmp_path / "teacher.keras")], mirror=True)[0], load_teachers([str(tmp_path / "teacher.keras")])[0]
    want = (keras.ops.convert_to_numpy(model(x, training=False)) + keras.ops.convert_to_numpy(model(x[:, :, ::-1], training=False))) / 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mirrored(x)), want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(plain(x)), want, atol=1e-4)  # the mirror changes the logits
    assert Frozen.from_config(mirrored.get_config()).mirror  # a resumed checkpoint keeps it
    config = {"teachers": ["a"], "distill_weight": 0.7, "distill_temperature": 4.0, "teacher_mirror": True}
    assert _distilled(config) == " + 0.7 x 1 online teacher(s) (T 4, mirrored)"


def test_offline_distillation_blends_the_teachers_saved_logits_into_the_targets(tmp_path):
    import gzip

    import keras

    from train.config import TrainConfig
    from train.data import load_split
    from train.inputs import keras_outputs, unit_range
    from train.teacher_logits import main as teacher_logits_main
    from train.train import one_hot, training_targets

    # faces of random pixels, so that a face and its mirror image differ
    rng = np.random.default_rng(1)
    rows = [f"{rng.integers(7)},{' '.join(map(str, rng.integers(0, 256, 2304)))},{usage}"
            for usage in ["Training"] * 40 + ["PublicTest"] * 10]
    data = tmp_path / "faces.csv.gz"
    data.write_bytes(gzip.compress(("emotion,pixels,Usage\n" + "\n".join(rows) + "\n").encode()))
    small = [f"--data={data}", "--widths=[4]", "--head_units=4", "--batch_size=16", "--epochs=1", "--patience=0"]
    train_main(small + [f"--out={tmp_path / 'teacher'}"])
    teacher = tmp_path / "teacher" / "best.keras"
    saved = teacher_logits_main(["--teachers", str(teacher), "--out", str(tmp_path / "t"), "--data", str(data), "--flip"])
    assert saved == tmp_path / "t.npz" and saved.is_file()  # the name printed is the file written
    train = load_split(data, "Training")
    model = keras.models.load_model(teacher, compile=False)
    x = unit_range(train.images)
    plain, mirrored = keras_outputs(model, x), keras_outputs(model, x[:, :, ::-1])
    assert not np.allclose(plain, mirrored, atol=1e-4)
    expected = (plain + mirrored) / 2
    np.testing.assert_allclose(np.load(saved)["logits"], expected, rtol=1e-5, atol=1e-6)

    cfg = TrainConfig(data=str(data), teacher_logits=str(saved), distill_weight=0.6, distill_temperature=2.0)
    _, targets, hard = training_targets(cfg)
    soft = np.exp(expected / 2.0) / np.exp(expected / 2.0).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(targets, 0.4 * one_hot(train.labels) + 0.6 * soft, rtol=1e-5, atol=1e-6)
    assert (hard == train.labels).all()
    # a run trains on them like on any soft targets, and its model card says whose they were
    student = small + [f"--out={tmp_path / 'student'}", f"--teacher_logits={saved}", "--distill_weight=0.6"]
    folder = train_main(student)
    card = (folder / "README.md").read_text()
    assert f"distilled offline from the logits of `{teacher}` (each face and its mirror image)" in card
    from train.experiments import run_results

    assert run_results(tmp_path / "student")["labels"] == "fer2013 + 0.6 x teacher logits (T 4)"

    # logits remade since the run started are refused on --resume: the targets would change mid-run
    teacher_logits_main(["--teachers", str(teacher), "--out", str(saved), "--data", str(data)])
    with pytest.raises(SystemExit, match="remade"):
        train_main(student + ["--resume"])
    # logits made for other faces, or without the settings they need, are refused
    other = write_fer_csv(tmp_path / "other.csv", [(1, "Training", 7)] * 40 + [(1, "PublicTest", 7)] * 10)
    with pytest.raises(SystemExit, match="other faces"):
        training_targets(TrainConfig(data=str(other), teacher_logits=str(saved), distill_weight=0.6))
    with pytest.raises(SystemExit, match="choose one"):
        training_targets(TrainConfig(data=str(data), teacher_logits=str(saved), teachers=[str(teacher)], distill_weight=0.6))
    with pytest.raises(SystemExit, match="distill_weight"):
        training_targets(TrainConfig(data=str(data), teacher_logits=str(saved)))
    with pytest.raises(SystemExit, match="distill_temperature"):
        training_targets(TrainConfig(data=str(data), teacher_logits=str(saved), distill_weight=0.6, distill_temperature=0))


def test_distillation_loss_without_teachers_is_the_label_loss():
    import keras

    from train.distill import DistillationLoss

    y = np.eye(7, dtype="float32")[[0, 3]]
    student = np.array([[2.0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 3, 0, 1, 0]], "float32")
    teacher = np.zeros_like(student)
    plain = keras.losses.CategoricalCrossentropy(from_logits=True)(y, student)
    distil = DistillationLoss(0.0, 4.0)(y, np.concatenate([student, teacher], axis=1))
    assert float(distil) == pytest.approx(float(plain), rel=1e-5)
    # all weight on a uniform teacher: the loss is smallest for a uniform student
    uniform = DistillationLoss(1.0, 2.0)(y, np.concatenate([teacher, teacher], axis=1))
    assert float(uniform) < float(DistillationLoss(1.0, 2.0)(y, np.concatenate([student, teacher], axis=1)))


def test_time_budget_caps_the_run_and_logs_the_rate(tmp_path, tiny_csv):
    run = tmp_path / "budget"
    train_main([f"--data={tiny_csv}", f"--out={run}", "--widths=[4]", "--head_units=4", "--batch_size=16",
                "--epochs=50", "--patience=0", "--time_budget_min=0.0001"])
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert "learning_rate" in (run / "log.csv").read_text().splitlines()[0]
    with pytest.raises(SystemExit, match="nothing left to train"):  # not one more epoch at a rate near 0
        train_main(["--resume", f"--out={run}"])
    assert json.loads((run / "state.json").read_text())["epoch"] == 1


def test_a_budget_run_that_reaches_its_epoch_cap_first_still_decays_its_rate(tmp_path, tiny_csv):
    run = tmp_path / "capped"
    train_main([f"--data={tiny_csv}", f"--out={run}", "--widths=[4]", "--head_units=4", "--batch_size=16", "--lr=0.001",
                "--epochs=2", "--warmup_epochs=0", "--patience=0", "--time_budget_min=1000"])
    rates = [float(row["learning_rate"]) for row in _log(run)]
    assert rates[0] == pytest.approx(0.001, rel=1e-3)
    assert rates[1] == pytest.approx(0.0005, rel=1e-3)  # halfway through the epochs, though not through the budget


def test_each_epoch_draws_fresh_random_numbers():
    import keras

    from train.train import ReseedEachEpoch

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, seed=1)])
    reseed = ReseedEachEpoch(seed=7)
    reseed.set_model(model)
    generator = model.layers[0]._seed_generators[0]
    drawn = []
    for epoch in (0, 1):
        reseed.on_epoch_begin(epoch)
        drawn.append({tuple(keras.ops.convert_to_numpy(generator.next()).tolist()) for _ in range(5)})
    assert not drawn[0] & drawn[1]  # epoch 1 once replayed epoch 0's draws, one step along
    reseed.on_epoch_begin(1)
    assert {tuple(keras.ops.convert_to_numpy(generator.next()).tolist()) for _ in range(5)} == drawn[1]  # resumable


def test_a_stop_file_ends_the_run_after_the_epoch_and_resume_continues_it(tmp_path, tiny_csv):
    run = tmp_path / "run"
    args = [f"--data={tiny_csv}", f"--out={run}", "--widths=[4]", "--head_units=4", "--batch_size=16", "--patience=0", "--epochs=3"]
    run.mkdir()
    (run / "STOP").touch()  # as a user would while the first epoch runs
    train_main(args)
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert not (run / "STOP").exists(), "a stop file left behind would stop the resumed run too"
    train_main(["--resume", f"--out={run}"])
    assert json.loads((run / "state.json").read_text())["epoch"] == 3


def test_a_run_killed_while_saving_its_checkpoint_still_resumes(tmp_path, tiny_csv, monkeypatch):
    import keras

    run = tmp_path / "run"
    args = [f"--data={tiny_csv}", f"--out={run}", "--widths=[4]", "--head_units=4", "--batch_size=16", "--patience=0"]
    train_main(args + ["--epochs=1"])
    config = run / "train_config.yaml"
    config.write_text(config.read_text().replace("epochs: 1", "epochs: 2"))

    save = keras.Model.save

    def killed_mid_save(self, path, *a, **k):  # what a session's end does to the checkpoint's save
        if "checkpoint" not in str(path):
            return save(self, path, *a, **k)
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save", killed_mid_save)
        with pytest.raises(KeyboardInterrupt):
            train_main(["--resume", f"--out={run}"])
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert keras.models.load_model(run / "checkpoint.keras") is not None  # the first epoch's, whole
    assert sorted(p.name for p in run.glob("*.partial.*")) == []
    assert len(_log(run)) == 2  # the killed epoch was logged before its checkpoint
    train_main(["--resume", f"--out={run}"])
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    assert [row["epoch"] for row in _log(run)] == ["0", "1"]  # its row once stayed, and the epoch appeared twice

def test_export_replaces_a_model_folder_only_once_the_new_one_is_complete(tmp_path):
    from train.export import built_beside

    shipped = tmp_path / "model"
    shipped.mkdir()
    (shipped / "config.json").write_text("the shipped model")
    with pytest.raises(RuntimeError):
        with built_beside(shipped) as folder:
            folder.mkdir()
            (folder / "config.json").write_text("half written")
            raise RuntimeError("the faces-in-the-wild step failed")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (shipped / "config.json").read_text() == "the shipped model"
    with built_beside(shipped) as folder:
        folder.mkdir()
        (folder / "config.json").write_text("the new model")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (shipped / "config.json").read_text() == "the new model"
    with built_beside(tmp_path / "new") as folder:  # nothing to replace
        folder.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "new"]


def test_resume_with_more_epochs_follows_the_new_plan(tmp_path, tiny_csv):
    import shutil

    import keras

    run = tmp_path / "run"
    train_main([f"--data={tiny_csv}", f"--out={run}", "--widths=[4]", "--head_units=4", "--batch_size=16",
                "--patience=0", "--warmup_epochs=0", "--epochs=2"])
    shutil.copy(run / "checkpoint.keras", tmp_path / "after_2.keras")
    config = run / "train_config.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
    train_main(["--resume", f"--out={run}"])
    steps = 3  # 40 rows in batches of 16
    optimizer = keras.models.load_model(run / "checkpoint.keras").optimizer
    assert int(optimizer.iterations) == 3 * steps
    assert float(optimizer._learning_rate(2 * steps)) > 0  # the first step of the extra epoch
    # and the extra epoch really trained: with a learning rate of 0 AdamW leaves every kernel as it was
    before, after = (keras.ops.convert_to_numpy(keras.models.load_model(path).get_layer("fer_cnn").get_layer("logits").kernel)
                     for path in (tmp_path / "after_2.keras", run / "checkpoint.keras"))
    assert not np.array_equal(before, after), "the extra epoch left the weights as they were"
    # a new batch size would put the step count, and so the schedule, off the epochs: refused
    config.write_text(config.read_text().replace("epochs: 3", "epochs: 4").replace("batch_size: 16", "batch_size: 8"))
    with pytest.raises(SystemExit, match="batch_size"):
        train_main(["--resume", f"--out={run}"])


def test_export_of_a_run_records_how_and_where_it_trained(tmp_path, tiny_csv, monkeypatch):
    import train.export

    run = tmp_path / "run"
    args = [f"--data={tiny_csv}", f"--out={run}", "--widths=[4]", "--head_units=4", "--epochs=1", "--patience=0", "--lr=0.01"]
    train_main(args)
    state = json.loads((run / "state.json").read_text())
    assert state["command"] == "python -m train " + " ".join(args)  # the overrides too, not just a config file
    assert EmotionClassifier(run / "model").config.training["command"] == state["command"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert state["commit"] == (head or None)  # the version of the fer/assets folders it may have read
    state["hardware"] = "the training machine"  # not the machine that exports
    (run / "state.json").write_text(json.dumps(state))
    recorded = []
    framing = []
    monkeypatch.setattr(train.export, "measure_model_folder", lambda classifier, out, training, pre, *rest, **kw:
                        (recorded.append(training), framing.append(pre)))
    train.export.main(["--run", str(run), "--out", str(tmp_path / "model")])
    assert recorded[-1]["hardware"] == "the training machine" and recorded[-1]["command"] == state["command"]
    shipped = EmotionClassifier(BUNDLED_MODEL).config.preprocessing  # framed as the shipped model unless told
    assert (framing[-1].crop_scale, framing[-1].center_shift) == (shipped.crop_scale, shipped.center_shift)
    train.export.main(["--run", str(run), "--out", str(tmp_path / "model"), "--crop-scale", "1.3"])
    assert (framing[-1].crop_scale, framing[-1].center_shift) == (1.3, shipped.center_shift)
    del state["command"]  # a run from before commands were recorded: rebuilt from its name
    (run / "state.json").write_text(json.dumps(state))
    train.export.main(["--run", str(run), "--out", str(tmp_path / "model")])
    assert recorded[-1]["command"] == "python -m train --config train/configs/run.yaml"


def test_model_card_names_the_commit_of_a_shipped_folder_a_run_read():
    from train.export import _as_it_was

    assert _as_it_was("fer/assets/accurate/model.keras", "ff378f88a99390") == "`fer/assets/accurate/model.keras` (that folder at commit ff378f8)"
    assert "as it was when this run started" in _as_it_was("fer/assets/model/model.keras", None)  # an older run
    assert _as_it_was("runs/seed2/best.keras", "ff378f88a99390") == "`runs/seed2/best.keras`"  # not replaced by exports


def test_model_card_gives_the_calibration_error_measured_out_of_sample(tmp_path, monkeypatch):
    import keras

    import train.export
    from fer.config import Preprocessing
    from train.model import build_classifier

    monkeypatch.setattr(train.export, "WILD_FACES", tmp_path / "absent")  # the real photos take minutes
    data = write_fer_csv(tmp_path / "val.csv", [(i % 7, "PublicTest", 37 * i % 256) for i in range(28)])
    keras.utils.set_random_seed(0)
    folder = train.export.measure_model_folder(build_classifier(widths=(4,), head_units=4), tmp_path / "model",
                                               {"command": "a test"}, Preprocessing(), str(data), "PublicTest")
    calibration = EmotionClassifier(folder).config.metrics["calibration"]
    assert 0 <= calibration["ece_after_crossfit"] <= 1
    card = (folder / "README.md").read_text()
    assert "both on the faces the temperature was fitted on" in card
    assert f"; {calibration['ece_after_crossfit']} after when the temperature is fitted on one half" in card
    assert "Decision rule:" in card and "Unsure:" in card  # fitted without a Training split: its prior is PublicTest's
    held = EmotionClassifier(folder).config.metrics["decision_rule"]["held_out"]
    assert (held["folds"], held["repeats"]) == (5, 8) and 0 <= held["balanced_accuracy"] <= 1
    assert f"measured on the part left out, 8 times over (5-fold, the figure to expect on unseen faces): balanced accuracy {held['balanced_accuracy']}" in card


def test_int8_export_is_quantized_runs_on_litert_and_stays_near_the_float_model(tmp_path):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from fer.config import ModelConfig, Preprocessing
    from train.export import export_model_folder, refresh_tflite
    from train.model import build_classifier

    keras.utils.set_random_seed(0)
    classifier = build_classifier(widths=(8, 16), head_units=8)
    rng = np.random.default_rng(0)
    faces, calibration = (rng.integers(0, 256, (n, 48, 48), dtype=np.uint8) for n in (16, 32))
    plain = export_model_folder(classifier, tmp_path / "float", {"command": "a test"}, Preprocessing(), faces=faces)
    int8 = export_model_folder(classifier, tmp_path / "int8", {"command": "a test"}, Preprocessing(), faces=faces,
                               calibration_faces=calibration)

    lite = ModelConfig.load(int8).metrics["tflite"]
    assert lite["quantization"] == "int8" and lite["calibration_faces"] == 32
    assert ModelConfig.load(plain).metrics["tflite"]["quantization"] == "float32"
    tensor_types = {str(d["dtype"]) for d in Interpreter(model_path=str(int8 / "model.tflite")).get_tensor_details()}
    assert "<class 'numpy.int8'>" in tensor_types  # quantized inside
    assert "<class 'numpy.int8'>" not in {str(d["dtype"]) for d in Interpreter(model_path=str(plain / "model.tflite")).get_tensor_details()}
    assert (int8 / "model.tflite").stat().st_size < 0.7 * (plain / "model.tflite").stat().st_size  # tiny: the graph is most of it
    assert "quantized to int8" in (int8 / "README.md").read_text()

    # the runtime feeds it floats as it feeds the float model, and its logits stay close to them
    runtime, reference = EmotionClassifier(int8), EmotionClassifier(plain)
    assert runtime.runner.explains
    got, want = runtime.logits(faces), reference.logits(faces)
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()
    with pytest.raises(SystemExit, match="calibrate"):  # re-exporting it needs Training faces again
        refresh_tflite(int8, None)


def test_faces_reach_every_classifier_as_the_same_bits():
    import keras

    from fer.config import Preprocessing
    from fer.source import BUNDLED_MODEL
    from train.inputs import unit_range

    faces = np.arange(256, dtype=np.uint8).reshape(16, 16).repeat(3, 0).repeat(3, 1)[None]  # every pixel value
    x = unit_range(faces)
    assert x.dtype == np.float32 and x.shape == (1, 48, 48, 1)
    assert np.array_equal(x, EmotionClassifier(BUNDLED_MODEL).inputs(faces))  # as the runtime feeds its model
    training = keras.ops.convert_to_numpy(keras.layers.Rescaling(Preprocessing().scale)(faces[..., None]))
    assert np.array_equal(x, training)  # as the training model's first layer does


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_bfloat16_instructions(monkeypatch, capsys):
    import train.train as training
    from train.run_folder import native_bfloat16, vector_unit

    avx2, avx512, bf16 = {"sse2", "avx", "avx2"}, {"avx2", "avx512f"}, {"avx2", "avx512f", "avx512_bf16"}
    assert [vector_unit(f) for f in (avx2, avx512, bf16, set())] == ["AVX2", "AVX-512", "AVX-512 BF16", ""]
    assert native_bfloat16({"amx_bf16"}) and not native_bfloat16(avx512)

    monkeypatch.setattr(training, "accelerator_kind", lambda: "")  # the CPU alone
    monkeypatch.setattr(training, "native_bfloat16", lambda: False)
    assert training.training_precision("auto") == "float32"
    assert training.training_precision("float32") == "float32" and capsys.readouterr().err == ""
    assert training.training_precision("mixed_bfloat16") == "mixed_bfloat16"  # asked for: kept, with a warning
    assert "emulated" in capsys.readouterr().err
    monkeypatch.setattr(training, "native_bfloat16", lambda: True)
    assert training.training_precision("auto") == "mixed_bfloat16" and capsys.readouterr().err == ""
    # a GPU computes bfloat16 whatever the host CPU has: auto picks it, and forcing it is no warning
    monkeypatch.setattr(training, "native_bfloat16", lambda: False)
    monkeypatch.setattr(training, "accelerator_kind", lambda: "NVIDIA H200")
    assert training.training_precision("auto") == "mixed_bfloat16"
    assert training.training_precision("mixed_bfloat16") == "mixed_bfloat16" and capsys.readouterr().err == ""


def test_a_run_saves_the_precision_it_trained_in_not_auto(tmp_path, tiny_csv):
    from train.config import TrainConfig

    train_main([f"--data={tiny_csv}", f"--out={tmp_path / 'run'}", "--widths=[4]", "--head_units=4", "--batch_size=16",
                "--epochs=1", "--precision=auto"])
    assert TrainConfig.load(tmp_path / "run" / "train_config.yaml").precision in ("float32", "mixed_bfloat16")
    assert "CPU threads" in json.loads((tmp_path / "run" / "state.json").read_text())["hardware"]


def test_a_logit_adjusted_warm_start_begins_where_the_trained_model_ends(tmp_path, tiny_csv):
    """With logit_adjust, the loss sees the classifier's logits plus tau * log(prior); a warm start
    moves that prior out of the logits' bias, so at step 0 the training model answers exactly as the
    trained classifier did, and the classifier alone gives the post-hoc adjusted logits."""
    import keras

    from train.balance import LogitAdjustment
    from train.config import TrainConfig
    from train.data import load_split
    from train.model import build_classifier
    from train.train import build_training_model

    keras.config.set_dtype_policy("float32")  # another test may have left mixed_bfloat16 set: compare exactly
    start = build_classifier(widths=(4, 8), head_units=8)
    start.save(tmp_path / "start.keras")
    labels = load_split(tiny_csv, "Training").labels
    cfg = TrainConfig(widths=[4, 8], head_units=8, logit_adjust=1.0, init_from=str(tmp_path / "start.keras"),
                      translate=0, rotate_degrees=0, zoom=0, contrast=0, brightness=0)
    model = build_training_model(cfg, steps_per_epoch=1, train_labels=labels)
    adjustment = model.get_layer("logit_adjustment")
    assert isinstance(adjustment, LogitAdjustment) and max(adjustment.offsets) < 0  # log of shares below 1
    faces = np.random.default_rng(4).integers(0, 256, (3, 48, 48, 1)).astype("float32")
    expected = np.asarray(start(faces / 255.0, training=False))
    assert np.allclose(np.asarray(model(faces, training=False)), expected, atol=1e-4)
    inner = np.asarray(model.get_layer("fer_cnn")(faces / 255.0, training=False))
    assert np.allclose(inner, expected - np.array(adjustment.offsets), atol=1e-4)
    with pytest.raises(ValueError, match="training labels"):
        build_training_model(cfg, steps_per_epoch=1)
    model.save(tmp_path / "checkpoint.keras")  # the layer is saved with its offsets: a run resumes alike
    assert keras.models.load_model(tmp_path / "checkpoint.keras").get_layer("logit_adjustment").offsets == adjustment.offsets


def test_a_balanced_run_selects_on_balanced_accuracy_and_can_skip_its_export(tmp_path, tiny_csv):
    run = tmp_path / "run"
    out = train_main([f"--data={tiny_csv}", f"--out={run}", "--widths=[4, 8]", "--head_units=8", "--batch_size=16",
                      "--epochs=2", "--patience=0", "--logit_adjust=1.0", "--select=balanced_accuracy", "--export=false"])
    assert out == run and not (run / "model").exists()
    log = _log(run)
    assert all(0 <= float(r["val_balanced_accuracy"]) <= 1 for r in log)
    state = json.loads((run / "state.json").read_text())
    assert state["best_val_accuracy"] == pytest.approx(max(float(r["val_balanced_accuracy"]) for r in log))
    with pytest.raises(SystemExit, match="select"):
        train_main([f"--data={tiny_csv}", f"--out={tmp_path / 'other'}", "--select=f1"])


def test_a_member_of_an_ensemble_is_a_starting_point(tmp_path):
    from train.model import build_classifier, build_ensemble
    from train.train import initial_classifier

    members = [build_classifier(widths=(4, 8), head_units=8) for _ in range(2)]
    build_ensemble(members).save(tmp_path / "ensemble.keras")
    second = initial_classifier(f"{tmp_path / 'ensemble.keras'}[1]").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(second, members[1].get_weights()))
    with pytest.raises(SystemExit, match=r"\[2\] names none"):
        initial_classifier(f"{tmp_path / 'ensemble.keras'}[2]")


def test_a_wider_network_starts_with_the_trained_ones_answers(tmp_path):
    import keras

    from train.config import TrainConfig
    from train.model import build_classifier, widen_into
    from train.train import build_training_model

    keras.config.set_dtype_policy("float32")
    narrow = build_classifier(widths=(4, 8), head_units=8)
    rng = np.random.default_rng(5)
    # trained-looking BN statistics, so a slip in any weight's slice shows in the answers
    narrow.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype("float32") for w in narrow.get_weights()])
    narrow.save(tmp_path / "narrow.keras")
    faces = rng.integers(0, 256, (4, 48, 48, 1)).astype("float32")
    expected = np.asarray(narrow(faces / 255.0, training=False))
    wide = build_classifier(widths=(6, 12), head_units=8)
    widen_into(narrow, wide)
    assert np.allclose(np.asarray(wide(faces / 255.0, training=False)), expected, atol=1e-4)
    assert wide.get_layer("block1_conv0").kernel.numpy()[..., 4:].std() > 0  # new channels start alive
    # a config naming the wider network warm-starts from the narrow one through the same widening
    cfg = TrainConfig(widths=[6, 12], head_units=8, init_from=str(tmp_path / "narrow.keras"),
                      translate=0, rotate_degrees=0, zoom=0, contrast=0, brightness=0)
    model = build_training_model(cfg, steps_per_epoch=1)
    assert np.allclose(np.asarray(model(faces, training=False)), expected, atol=1e-4)
    with pytest.raises(SystemExit, match="does not fit"):  # narrower than the start: refused, not cut
        build_training_model(cfg.updated({"widths": [2, 8]}), steps_per_epoch=1)
    with pytest.raises(ValueError, match="no layer"):
        widen_into(narrow, build_classifier(widths=(6,), head_units=8))
