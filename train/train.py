"""Train the emotion classifier: ``python -m train [--config FILE.yaml] [--resume] [--key=value ...]``.

Reads top to bottom: config, data, model, optimiser, callbacks, fit, export. Every epoch writes
``checkpoint.keras`` (the whole training model with its optimiser state) and ``state.json``, so
``--resume`` continues where a run stopped; the best classifier on the validation split is kept as
``best.keras`` and exported as a model folder (``model/``) that ``fer`` loads. Each file is written
beside its old copy and moved over it, so a run killed mid-save still resumes; an empty ``STOP`` file
in the run folder ends the run after the epoch under way (the way to stop one cleanly).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import time
import zlib
from pathlib import Path

import keras
import numpy as np

from fer.classifier import softmax
from fer.config import EMOTIONS
from train import teacher_logits
from train.config import TrainConfig, parse_args
from train.batches import Batches
from train.data import ferplus_targets, load_split, read_ferplus_votes
from train.distill import DistillationLoss, StudentAccuracy, load_teachers, with_teachers
from train.inputs import PIXEL_SCALE, keras_outputs, unit_range
from train.balance import logit_adjustment
from train.metrics import balanced_accuracy
from train.model import build_augmenter, build_classifier, ensemble_members, load_member, member_index, widen_into
from train.run_folder import (BEST, CHECKPOINT, CONFIG_FILE, LOG, SPENT, STATE, STOP, accelerator_kind, hardware,
                              native_bfloat16, source_commit, written_beside)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(len(EMOTIONS), dtype="float32")[labels]


def training_targets(cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images ``(N, 48, 48, 1)`` uint8, targets ``(N, 7)``, hard labels) for the training split.

    With FER+ labels, votes are matched to FER2013 rows by position and rows without usable votes
    are dropped; the hard labels (for class weights) are the majority votes. The blend keeps every
    row (those without usable votes keep their one-hot label) and FER2013's labels as hard labels.
    With ``teacher_logits``, the teachers' softened probabilities are blended into whichever targets
    the labels gave.
    """
    train = load_split(cfg.data, cfg.train_split)
    keep, targets, hard = label_targets(cfg, train)
    if cfg.teacher_logits:
        if cfg.teachers:
            raise SystemExit("teachers (online) and teacher_logits (offline) are two ways to distil: choose one")
        if not 0.0 < cfg.distill_weight <= 1.0:
            raise SystemExit(f"teacher_logits needs a distill_weight in (0, 1], not {cfg.distill_weight}")
        if not cfg.distill_temperature > 0:
            raise SystemExit(f"distill_temperature must be above 0, not {cfg.distill_temperature}")
        soft = softmax(teacher_logits.load(cfg.teacher_logits, train.images)[keep], cfg.distill_temperature)
        targets = ((1.0 - cfg.distill_weight) * targets + cfg.distill_weight * soft).astype("float32")
    return train.images[keep][..., None], targets, hard


def label_targets(cfg: TrainConfig, train) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows kept, targets, hard labels) from the labels the config names."""
    everything = np.ones(len(train), dtype=bool)
    if cfg.labels == "fer2013":
        return everything, one_hot(train.labels), train.labels
    choices = ("ferplus_majority", "ferplus_soft", "fer2013+ferplus")
    if cfg.labels not in choices:
        raise SystemExit(f"labels must be fer2013, {', '.join(choices)}, not {cfg.labels!r}")
    votes = read_ferplus_votes(cfg.ferplus).get(cfg.train_split)
    if votes is None or len(votes) != len(train):
        raise SystemExit(f"{cfg.ferplus} does not have one row per {cfg.train_split} row of {cfg.data}")
    targets, keep = ferplus_targets(votes, soft=cfg.labels != "ferplus_majority")
    if cfg.labels == "fer2013+ferplus":
        if not 0.0 <= cfg.ferplus_weight <= 1.0:
            raise SystemExit(f"ferplus_weight must lie in [0, 1], not {cfg.ferplus_weight}")
        blended = one_hot(train.labels)
        blended[keep] = (1.0 - cfg.ferplus_weight) * blended[keep] + cfg.ferplus_weight * targets
        return everything, blended, train.labels
    return keep, targets, targets.argmax(axis=1)


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels, minlength=len(EMOTIONS)).astype("float64")
    weights = counts.sum() / (len(EMOTIONS) * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def architecture(cfg: TrainConfig) -> dict:
    return dict(widths=tuple(cfg.widths), convs_per_block=cfg.convs_per_block, block_dropout=cfg.block_dropout,
                head_units=cfg.head_units, head_dropout=cfg.head_dropout)


def build_network(cfg: TrainConfig) -> keras.Model:
    """The classifier the config names, under the current dtype policy (``fer_cnn``, logits out)."""
    if cfg.arch == "mobilefacenet":
        from train.mobilefacenet import build_mobilefacenet  # needs onnx, only for this architecture

        if not Path(cfg.pretrained).is_file():
            raise SystemExit(f"arch mobilefacenet: pretrained model not found: {cfg.pretrained}")
        return build_mobilefacenet(cfg.pretrained, size=cfg.network_size)
    if cfg.arch != "cnn":
        raise SystemExit(f"unknown arch {cfg.arch!r}; use cnn or mobilefacenet")
    return build_classifier(**architecture(cfg))


def initial_classifier(path: str) -> keras.Model:
    """A trained classifier, or member ``i`` of an ensemble given as ``PATH[i]``."""
    path, member = member_index(path)
    model = load_member(path)
    if member is None:
        return model
    members = ensemble_members(model)
    if not 0 <= member < len(members) or len(members) == 1:
        raise SystemExit(f"init_from: {path} holds {len(members)} classifier(s), so [{member}] names none")
    return members[member]


def warm_start(classifier: keras.Model, path: str) -> None:
    """``classifier`` starts from the trained one at ``path``: its weights, or widened into wider layers."""
    source = initial_classifier(path)
    weights = source.get_weights()
    if [w.shape for w in weights] == [w.shape for w in classifier.get_weights()]:
        classifier.set_weights(weights)
        return
    try:
        widen_into(source, classifier)
    except ValueError as error:
        raise SystemExit(f"init_from: {path} does not fit this config's network ({error})") from None


def build_training_model(cfg: TrainConfig, steps_per_epoch: int, train_labels: np.ndarray | None = None) -> keras.Model:
    """uint8 images -> [0, 1] floats -> augmentation -> classifier, compiled with AdamW and cosine LR.

    With ``logit_adjust``, the classifier's logits pass a fixed :class:`train.balance.LogitAdjustment`
    (the prior of ``train_labels``) before the loss. With teachers and a distillation weight, the frozen
    teachers see the same augmented batch and the model outputs ``[student logits, teacher logits]``
    for :class:`train.distill.DistillationLoss`.
    """
    classifier = build_network(cfg)
    if cfg.init_from:
        warm_start(classifier, cfg.init_from)
    augmenter = build_augmenter(
        cfg.translate, cfg.rotate_degrees, cfg.zoom, cfg.contrast, cfg.brightness, cfg.erase,
        blur=cfg.blur, low_res=cfg.low_res, noise=cfg.noise, seed=cfg.seed,
    )
    images = keras.Input((48, 48, 1), name="image")
    augmented = augmenter(keras.layers.Rescaling(PIXEL_SCALE, name="to_unit_range")(images))
    outputs = classifier(augmented)
    if cfg.logit_adjust:
        if train_labels is None:
            raise ValueError("logit_adjust needs the training labels, for their class prior")
        adjustment = logit_adjustment(cfg.logit_adjust, train_labels)
        if cfg.init_from:
            # a warm start begins where post-hoc adjustment would: the trained classifier's logits
            # less the offsets, so the loss sees the trained model's own answers at step 0 (moving
            # the bias there through the optimiser takes a gentle rate over a hundred epochs)
            bias = classifier.get_layer("logits").bias
            bias.assign(bias - np.asarray(adjustment.offsets, dtype="float32"))
        outputs = adjustment(outputs)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing)
    metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    if cfg.teachers and cfg.distill_weight > 0:
        outputs = with_teachers(outputs, augmented, load_teachers(cfg.teachers, mirror=cfg.teacher_mirror))
        loss = DistillationLoss(cfg.distill_weight, cfg.distill_temperature, cfg.label_smoothing)
        metric = StudentAccuracy(name="accuracy")
    model = keras.Model(images, outputs, name="trainer")
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate_schedule(cfg, steps_per_epoch), weight_decay=cfg.weight_decay),
        loss=loss,
        metrics=[metric],
    )
    return model


def training_precision(precision: str) -> str:
    """``auto`` -> mixed_bfloat16 on an accelerator (the GPUs lent here compute bfloat16; GPUs older
    than NVIDIA's Ampere do not, and want an explicit float32) or a CPU that computes bfloat16 in
    hardware, float32 elsewhere; an explicit mixed_bfloat16 on a CPU without it is kept, with a
    warning on stderr (it is emulated there)."""
    fast_bfloat16 = bool(accelerator_kind()) or native_bfloat16()
    if precision == "auto":
        return "mixed_bfloat16" if fast_bfloat16 else "float32"
    if precision == "mixed_bfloat16" and not fast_bfloat16:
        print("warning: this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX), so mixed_bfloat16 is "
              "emulated and many times slower than float32; --precision=auto picks the fast one",
              file=sys.stderr, flush=True)
    return precision


def learning_rate_schedule(cfg: TrainConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.CosineDecay:
    """Warm-up then cosine decay to 0 over ``cfg.epochs``, counted in optimiser steps; with a time
    budget, the plain rate, which TimeBudget sets at every epoch."""
    if cfg.time_budget_min > 0:
        return cfg.lr
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr / 100,
        warmup_target=cfg.lr,
        warmup_steps=cfg.warmup_epochs * steps_per_epoch,
        decay_steps=max(1, (cfg.epochs - cfg.warmup_epochs) * steps_per_epoch),
    )


def follow_current_plan(model: keras.Model, cfg: TrainConfig, steps_per_epoch: int, epochs_done: int) -> None:
    """Give a resumed model the learning-rate schedule of the run's config as it is now.

    The checkpoint holds the schedule of the config the run started with; after raising ``epochs``
    (or changing ``lr`` or ``warmup_epochs``) in ``train_config.yaml``, that old schedule would have
    decayed to 0 at the old last epoch and trained every later epoch at a rate of exactly 0. The
    optimiser's step count is kept, so an unchanged config resumes on the very same curve.
    """
    steps_taken = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if steps_taken != epochs_done * steps_per_epoch:  # the schedule counts steps, so a step must stay an epoch's share
        raise SystemExit(
            f"--resume: the checkpoint took {steps_taken} optimiser steps in {epochs_done} epochs, but the config now makes "
            f"{steps_per_epoch} steps an epoch; batch_size (or the training data) changed since the run started: restore it"
        )
    if cfg.time_budget_min <= 0:
        model.optimizer.learning_rate = learning_rate_schedule(cfg, steps_per_epoch)


def save_float32(classifier: keras.Model, path: Path, cfg: TrainConfig) -> None:
    """Save the classifier with float32 layers whatever the training precision, so that export and
    CPU inference never compute in bfloat16 (mixed-precision weights are float32 already)."""
    if classifier.dtype_policy.name == "float32":
        classifier.save(path)
        return
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = build_network(cfg)
    finally:
        keras.config.set_dtype_policy(policy)
    copy.set_weights(classifier.get_weights())
    copy.save(path)


class Checkpointer(keras.callbacks.Callback):
    """Saves the resumable checkpoint every epoch, keeps the best classifier, stops early.

    Early stopping lives here rather than in keras.callbacks.EarlyStopping so that its counter is
    saved in ``state.json`` and survives ``--resume``.
    """

    def __init__(self, out: Path, patience: int, state: dict, cfg: TrainConfig):
        super().__init__()
        self.out, self.patience, self.state, self.cfg = out, patience, state, cfg

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        # best_val_accuracy keeps its name in state.json (runs resume from it) but holds the selected figure
        selected = float(logs.get(f"val_{self.cfg.select}", float("nan")))
        if selected > self.state["best_val_accuracy"]:
            self.state.update(best_val_accuracy=selected, best_epoch=epoch + 1, wait=0)
            with written_beside(self.out / BEST) as partial:
                save_float32(self.model.get_layer("fer_cnn"), partial, self.cfg)
        else:
            self.state["wait"] += 1
        self.state["epoch"] = epoch + 1
        self.state["seconds"] = self.state.get("seconds", 0.0) + logs.get("epoch_seconds", 0.0)
        with written_beside(self.out / CHECKPOINT) as partial:
            self.model.save(partial)
        # state.json last: a crash between the two saves resumes from the older, consistent pair
        with written_beside(self.out / STATE) as partial:
            partial.write_text(json.dumps(self.state, indent=2))
        if self.patience and self.state["wait"] >= self.patience:
            print(f"early stopping: no val_{self.cfg.select} gain for {self.patience} epochs")
            self.model.stop_training = True
        if (self.out / STOP).exists():  # asked for by a user, e.g. before a session's end
            (self.out / STOP).unlink()
            print(f"{STOP} file found: stopped after epoch {epoch + 1}; --resume continues the run", flush=True)
            self.model.stop_training = True


class BalancedValidation(keras.callbacks.Callback):
    """Logs ``val_balanced_accuracy``: the mean per-class recall of the classifier's own logits (no
    logit adjustment, no teachers), which ``select: balanced_accuracy`` picks the best epoch by."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.faces, self.labels = unit_range(images[..., 0]), labels

    def on_epoch_end(self, epoch, logs=None):
        predictions = keras_outputs(self.model.get_layer("fer_cnn"), self.faces).argmax(axis=1)
        logs["val_balanced_accuracy"] = balanced_accuracy(self.labels, predictions)


class TimeBudget(keras.callbacks.Callback):
    """Cosine learning-rate decay over a wall-clock budget instead of a number of epochs.

    At each epoch start the rate is ``lr * warm-up * 0.5 * (1 + cos(pi * done))``, where ``done`` is
    the larger of the budget's share spent and the ``epochs`` cap's share run: a fast machine that
    reaches the cap first still ends on a decayed rate. Training stops once the next epoch would
    overrun the budget, and ``state.json`` records it (:data:`SPENT`), so that a later ``--resume``
    trains no epoch past the end. ``spent`` is the run's saved training time, so a resumed run
    continues the same curve.
    """

    def __init__(self, cfg: TrainConfig, state: dict):
        super().__init__()
        self.cfg, self.state, self.budget = cfg, state, cfg.time_budget_min * 60.0

    def on_epoch_begin(self, epoch, logs=None):
        fraction = min(1.0, max(self.state.get("seconds", 0.0) / self.budget, epoch / self.cfg.epochs))
        warmup = min(1.0, (epoch + 1) / self.cfg.warmup_epochs) if self.cfg.warmup_epochs else 1.0
        self.model.optimizer.learning_rate = self.cfg.lr * warmup * 0.5 * (1.0 + np.cos(np.pi * fraction))

    def on_epoch_end(self, epoch, logs=None):
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        spent = self.state.get("seconds", 0.0) + logs["epoch_seconds"]  # Checkpointer adds it to state later
        if spent + logs["epoch_seconds"] > self.budget:
            print(f"time budget of {self.cfg.time_budget_min:g} min spent after epoch {epoch + 1}", flush=True)
            self.state[SPENT] = self.cfg.time_budget_min  # saved by Checkpointer, which runs after this
            self.model.stop_training = True


class ReseedEachEpoch(keras.callbacks.Callback):
    """Set all random state from (seed, epoch) at each epoch start: the global seeds (Python, NumPy,
    backend) and every layer's seed generator (augmentation, dropout).

    A checkpoint does not carry these states forward, so without this a resumed run would draw
    different augmentations than the uninterrupted run from its first resumed epoch on
    (tests/test_train.py checks that both give the same losses).
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        keras.utils.set_random_seed(zlib.crc32(f"{self.seed}/epoch/{epoch}".encode()) % 2**31)
        for layer in self.model._flatten_layers():
            for i, generator in enumerate(layer._seed_generators):
                # keyed on the layer's name, which a loaded checkpoint keeps, not on traversal order, and
                # on the epoch: a generator steps its state's second number once per draw, so starting
                # epoch e at [key, e] would replay epoch e - 1's draws shifted by one step
                key = zlib.crc32(f"{self.seed}/{layer.name}/{i}/{epoch}".encode()) % 2**31
                generator.state.assign(np.array([key, 0], dtype=generator.state.dtype))


def keep_logged_epochs(log: Path, epochs: int) -> None:
    """Cut the training log back to its header and first ``epochs`` rows."""
    if not log.exists():
        return
    lines = log.read_text().splitlines(keepends=True)
    if len(lines) > epochs + 1:
        with written_beside(log) as partial:
            partial.write_text("".join(lines[: epochs + 1]))


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_seconds"] = time.perf_counter() - self.start


def main(argv: list[str] | None = None) -> Path:
    command = "python -m train " + " ".join(sys.argv[1:] if argv is None else argv)
    cfg, resume = parse_args(argv)
    out = Path(cfg.out)
    if not resume and (out / STATE).exists():
        raise SystemExit(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        if not (out / STATE).exists():
            raise SystemExit(f"--resume: no {STATE} in {out}")
        cfg = TrainConfig.load(out / CONFIG_FILE)  # the run's own config wins over the command line
    if cfg.select not in ("accuracy", "balanced_accuracy"):
        raise SystemExit(f"select must be accuracy or balanced_accuracy, not {cfg.select!r}")
    cfg = dataclasses.replace(cfg, precision=training_precision(cfg.precision))  # saved as resolved
    cfg.save(out / CONFIG_FILE)
    keras.utils.set_random_seed(cfg.seed)
    keras.config.set_dtype_policy(cfg.precision)

    print(f"loading {cfg.data}", flush=True)
    x_train, y_train, train_labels = training_targets(cfg)
    val = load_split(cfg.data, cfg.val_split)
    distilled = (f" + {cfg.distill_weight:g} x the teacher logits of {cfg.teacher_logits} at temperature {cfg.distill_temperature:g}"
                 if cfg.teacher_logits else "")
    print(f"{cfg.train_split}: {len(x_train)} images ({cfg.labels} labels{distilled}), {cfg.val_split}: {len(val)} images", flush=True)
    x_val, y_val = val.images[..., None], one_hot(val.labels)
    steps_per_epoch = int(np.ceil(len(x_train) / cfg.batch_size))

    if resume:
        state = json.loads((out / STATE).read_text())
        if state.get(SPENT) == cfg.time_budget_min:
            raise SystemExit(f"{out} spent its time budget of {cfg.time_budget_min:g} min after epoch {state['epoch']}: "
                             f"nothing left to train (raise time_budget_min in {out / CONFIG_FILE} to train on); "
                             f"its model: python -m train.export --run {out} --out DIR")
        learnt_from = state.get("teacher_logits")  # checked before the checkpoint's slow load
        if learnt_from and teacher_logits.describe(cfg.teacher_logits)["sha256"] != learnt_from["sha256"]:
            raise SystemExit(f"{cfg.teacher_logits} was remade since this run started: its targets would change mid-run")
        model = keras.models.load_model(out / CHECKPOINT)
        follow_current_plan(model, cfg, steps_per_epoch, state["epoch"])
        print(f"resuming {out} after epoch {state['epoch']}", flush=True)
    else:
        state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "wait": 0, "seconds": 0.0, "hardware": hardware(),
                 "command": command,  # as typed, overrides included: what the model card says made the model
                 "commit": source_commit()}  # the version of any fer/assets folder it starts from or learns from
        if cfg.teacher_logits:  # the file can be remade later: the card and --resume go by what it held now
            state["teacher_logits"] = teacher_logits.describe(cfg.teacher_logits)
        model = build_training_model(cfg, steps_per_epoch, train_labels)
    model.summary(print_fn=lambda line, **_: print(line), expand_nested=False)

    weights = None
    if cfg.class_weight:
        per_class = balanced_class_weights(train_labels)
        weights = np.array([per_class[c] for c in train_labels], dtype="float32")
    batches = Batches(
        x_train, y_train, cfg.batch_size, cfg.seed, epoch=state["epoch"],
        mix=cfg.mix, mix_alpha=cfg.mix_alpha, mix_prob=cfg.mix_prob, sample_weights=weights,
    )
    callbacks = [ReseedEachEpoch(cfg.seed), EpochTimer(), BalancedValidation(x_val, val.labels)]
    if cfg.time_budget_min > 0:
        callbacks.append(TimeBudget(cfg, state))
    if resume:  # rows of epochs logged after the last checkpoint (a kill between the two) are trained again
        keep_logged_epochs(out / LOG, state["epoch"])
    callbacks.append(keras.callbacks.CSVLogger(str(out / LOG), append=resume))
    if keras.backend.backend() == "tensorflow":  # Keras' TensorBoard writer needs tf.summary
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"), write_graph=False))
    callbacks.append(Checkpointer(out, cfg.patience, state, cfg))
    model.fit(
        batches,
        epochs=cfg.epochs,
        initial_epoch=state["epoch"],
        validation_data=(x_val, y_val),
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )

    from train.experiments import run_results

    results = run_results(out)
    print(f"best {cfg.val_split} accuracy {results['accuracy']:.4f} (macro F1 {results['macro_f1']:.4f}) at epoch {state['best_epoch']}")
    if not cfg.export:
        print(f"export: false, so no model folder; an ensemble of it: python -m train.ensemble --members {out / BEST} ...")
        return out
    if importlib.util.find_spec("tensorflow") is None:
        # accelerator machines may have no TensorFlow: the LiteRT export then runs back on a CPU machine
        print(f"no TensorFlow here, so no model folder: run python -m train.export --run {out} where it is installed")
        return out

    from train.export import export_model_folder, training_record  # here, not at the top: only needed at the end

    classifier = keras.models.load_model(out / BEST)
    folder = export_model_folder(classifier, out / "model", training=training_record(cfg.__dict__, state, command), faces=val.images)
    print(f"model folder: {folder}")
    return folder
