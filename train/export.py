"""Write a model folder laid out as its Hub model repo: ``model.keras``, ``config.json``, ``README.md``.

``python -m train.export --run runs/baseline --out fer/assets/model [--like DIR] [--crop-scale S] [--center-shift C]``
takes a run's best classifier, with the crop framing of ``--like`` (the shipped fast model's unless told), evaluates it (``train.evaluate``) on the validation split and, where the
data is present, on faces-in-the-wild photos through the whole pipeline, and writes the figures into
``config.json`` and the model card, so every figure there comes from that one command.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import yaml

from fer.classifier import LiteRTRunner, sha256_of, softmax
from fer.config import TFLITE_NAME, WEIGHTS_NAME, ModelConfig, Preprocessing
from fer.source import BUNDLED_MODEL
from train.decision import coverage, decision_rule, fit_uncertain_threshold
from train.calibration import crossfit_ece, fit_temperature, negative_log_likelihood
from train.inputs import keras_outputs, unit_range
from train.model import LOW_RES_SIZES, ensemble_members

WILD_FACES = Path("../shared/data/faces-in-the-wild")


def export_model_folder(
    classifier: keras.Model,
    folder: str | Path,
    training: dict[str, Any],
    preprocessing: Preprocessing | None = None,
    metrics: dict[str, Any] | None = None,
    faces: np.ndarray | None = None,
    calibration_faces: np.ndarray | None = None,
) -> Path:
    """``model.keras``, ``config.json``, the model card and, given validation ``faces`` to check it
    on, ``model.tflite``: the file the runtime loads (int8, given ``calibration_faces``; see
    :func:`export_tflite`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classifier.save(folder / WEIGHTS_NAME)
    preprocessing = preprocessing or Preprocessing()
    metrics = dict(metrics or {})
    if faces is not None:
        metrics["tflite"] = export_tflite(classifier, folder, faces, preprocessing.scale, calibration_faces)
    config = ModelConfig(
        preprocessing=preprocessing,
        architecture={"name": classifier.name, "parameters": int(classifier.count_params()),
                      "members": len(ensemble_members(classifier)),
                      "pretrained_members": sum(not _has_dense_head(m) for m in ensemble_members(classifier))},
        training=training,
        metrics=metrics,
        weights_sha256=sha256_of(folder / WEIGHTS_NAME),
    )
    config.save(folder)
    write_model_card(folder, config)
    return folder


def _summary(report: dict) -> dict:
    keep = ("n", "accuracy", "balanced_accuracy", "macro_f1", "ece", "per_class", "confusion_matrix", "data", "split",
            "detect", "uncertain")
    summary = {k: report[k] for k in keep if k in report}
    if "no_face" in report:
        summary["no_face"] = report["no_face"]["count"]
    return summary


def write_model_card(folder: Path, config: ModelConfig) -> Path:
    val = config.metrics.get("validation")
    wild = config.metrics.get("faces_in_the_wild")
    train = config.training
    front = {
        "library_name": "keras",
        "license": "apache-2.0",
        "pipeline_tag": "image-classification",
        "tags": ["facial-expression-recognition", "emotion-recognition", "fer2013", "keras"],
        "datasets": ["fer2013"] + (["raf-db"] if config.architecture.get("pretrained_members") else []),
        "metrics": ["accuracy", "f1"],
    }
    if val:
        front["model-index"] = [{
            "name": "fer2013-emotion-ensemble" if config.architecture.get("members", 1) > 1 else "fer2013-emotion-cnn",
            "results": [{
                "task": {"type": "image-classification", "name": "Facial expression recognition"},
                "dataset": {"name": "FER2013", "type": "fer2013", "split": val["split"]},
                "metrics": [
                    {"type": "accuracy", "value": val["accuracy"], "name": f"{val['split']} accuracy (single pass)"},
                    {"type": "f1", "value": val["macro_f1"], "name": f"{val['split']} macro F1"},
                ] + ([{"type": "balanced_accuracy", "value": val["balanced_accuracy"],
                       "name": f"{val['split']} balanced accuracy (mean per-class recall)"}] if "balanced_accuracy" in val else []),
            }],
        }]
    pre = config.preprocessing
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        *_model_card_intro(config),
        "## Use",
        "",
        "```python",
        "from fer import EmotionRecognizer",
        "recognizer = EmotionRecognizer(\"path/to/this/folder\")  # or \"hf-hub:OWNER/NAME\"",
        "result = recognizer.predict(\"photo.jpg\")",
        "print(result.to_dict())",
        "```",
        "",
        f"Input: a {pre.input_size}x{pre.input_size} {'greyscale' if pre.grayscale else 'RGB'} face crop scaled to [0, 1]. "
        f"The library crops detected faces as a square {pre.crop_scale}x the detector's box"
        + (f", shifted by {pre.center_shift} box heights" if pre.center_shift else "")
        + (", rotated so the eyes are level" if pre.align else "")
        + "; these settings are in `config.json` and applied automatically. Output: logits over the labels in "
        + (f"`config.json`; probabilities are softmax((logits + class offsets) / temperature) with the class offsets "
           f"{_offsets_text(config)} and temperature {config.temperature} (see Decision rule)."
           if config.class_offsets is not None else
           f"`config.json`; probabilities are softmax(logits / temperature) with temperature {config.temperature}."),
        "",
    ]
    if val:
        lines += [
            "## Evaluation",
            "",
            f"FER2013 {val['split']} ({val['n']} faces), single pass: **accuracy {val['accuracy']:.4f}**, "
            + (f"**balanced accuracy {val['balanced_accuracy']:.4f}** (mean per-class recall), " if "balanced_accuracy" in val else "")
            + f"macro F1 {val['macro_f1']:.4f}, expected calibration error {val['ece']}.",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ] + [
            f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
            for label, m in val["per_class"].items()
        ] + [""]
    tta, cal, lite = config.metrics.get("validation_tta"), config.metrics.get("calibration"), config.metrics.get("tflite")
    if tta:
        lines += [f"With test-time augmentation (reported apart from the single-pass figure): flip {tta['flip']:.4f}, "
                  f"ten-crop {tta['tencrop']:.4f}.", ""]
    if cal:
        crossfit = cal.get("ece_after_crossfit")
        lines += [f"Calibration: temperature {cal['temperature']} fitted on {cal['fitted_on']} (NLL {cal['nll_before']} -> "
                  f"{cal['nll_after']}); expected calibration error {cal['ece_before']} before, {cal['ece_after']} after, "
                  "both on the faces the temperature was fitted on"
                  + (f"; {crossfit} after when the temperature is fitted on one half of them and measured on the other "
                     "(2-fold cross-fit, the figure to expect on unseen faces)" if crossfit is not None else "") + ".", ""]
    rule, unsure = config.metrics.get("decision_rule"), config.metrics.get("uncertainty")
    if rule:
        lines += [f"Decision rule: the class offsets above, added to the logits, were fitted on {val['split'] if val else 'the validation split'} "
                  f"to maximise balanced accuracy with accuracy at or above {rule['min_accuracy']}"
                  + ("" if rule.get("min_accuracy_met", True) else " (not reached: the model's most accurate offsets were kept)")
                  + f": balanced accuracy {rule['balanced_accuracy_before']} -> {rule['balanced_accuracy_after']}, accuracy "
                  f"{rule['accuracy_before']} -> {rule['accuracy_after']}, on the faces they were fitted on"
                  + _held_out_text(rule)
                  + ". The temperature was fitted with the offsets applied.", ""]
    if unsure:
        wild_unsure = unsure.get("faces_in_the_wild")
        lines += [f"Unsure: a face whose top probability is below {unsure['threshold']} (fitted on {unsure['fitted_on']}: the "
                  "threshold that best tells right answers from wrong ones) is flagged `uncertain`. On "
                  f"{unsure['fitted_on']}, {_share(unsure['coverage'])} of faces are not flagged and {_share(unsure['accuracy_confident'])} "
                  f"of those are right ({_share(unsure['accuracy_uncertain'])} of the flagged ones)"
                  + (f"; on the faces-in-the-wild photos, {_share(wild_unsure['coverage'])} are not flagged and "
                     f"{_share(wild_unsure['accuracy_confident'])} of those are right ({_share(wild_unsure['accuracy_uncertain'])} "
                     "of the flagged ones)" if wild_unsure else "") + ".", ""]
    if (folder / "plots").is_dir():
        lines += [f"![{p.stem.replace('_', ' ')}](plots/{p.name})" for p in sorted((folder / "plots").glob("*.png"))] + [""]
    if lite:
        int8 = (f", quantized to int8 (weights and activations, each activation's range set on {lite['calibration_faces']} "
                "Training faces; input and outputs stay float32), which is what every figure here measures"
                if lite.get("quantization") == "int8" else "")
        lines += [f"`{lite['file']}` is a LiteRT (TFLite) copy of the classifier{int8}; its top-1 agrees with the Keras "
                  f"model on {lite['top1_agreement']:.2%} of the {lite['n']} validation faces.", ""]
    if wild:
        lines += [
            f"Whole pipeline (detection, crop, alignment, classification) on {wild['n']} faces-in-the-wild photos "
            f"with crowd-sourced labels: accuracy {wild['accuracy']:.4f}, "
            + (f"balanced accuracy {wild['balanced_accuracy']:.4f}, " if "balanced_accuracy" in wild else "")
            + f"macro F1 {wild['macro_f1']:.4f}, no face found in {wild.get('no_face', 0)} (counted wrong); recall "
            + ", ".join(f"{label} {m['recall']:.3f}" for label, m in wild["per_class"].items())
            + ". The crop framing and the detector's padded second pass were chosen on these same photos "
            "(`python -m train.tune_crop`, `fer/detect.py`), so this figure is in-sample for those choices.",
            "",
        ]
    if val:
        lines += [
            "Reproduce: `python -m train.evaluate --data ../shared/data/fer2013/fer2013-train-publictest.csv.gz "
            f"--split {val['split']} --model <this folder> --json`.",
            "",
        ]
    if train.get("members"):
        lines += [
            "## Training",
            "",
            f"Command: `{train.get('command', '')}`. Members (each trained by `python -m train`, see its own "
            "model card and `config.json`): " + ", ".join(f"`{m}`" for m in train["members"]) + ". "
            "The temperature was fitted on PublicTest; the PrivateTest split was never used.",
            "",
        ]
    elif train:
        run = train.get("config", {})
        lines += [
            "## Training",
            "",
            f"Command: `{train.get('command', '')}`; {train.get('epochs_run')} epochs "
            f"(best at epoch {train.get('best_epoch')}), {train.get('train_seconds', 0) / 60:.0f} minutes on "
            f"{train.get('hardware')}. Augmentation: flips, shifts, rotation, zoom, brightness and contrast"
            + (", random erasing" if run.get("erase") else "") + _real_photo_look(run)
            + "; AdamW with warm-up and cosine decay" + ("; label smoothing" if run.get("label_smoothing", 0.1) else "")
            + _targets(run) + _starting_point(run, train.get("commit"))
            + (f"; a logit-adjusted loss (the loss saw the logits plus {run['logit_adjust']:g} x log of the Training "
               "classes' shares, so the classes' prior is not learnt into the logits)" if run.get("logit_adjust") else "")
            + (f"; distilled from {', '.join(_as_it_was(t, train.get('commit')) for t in run['teachers'])} (weight {run['distill_weight']}, "
               f"temperature {run['distill_temperature']}"
               + ("; each teacher's logits the mean over the face and its mirror image" if run.get("teacher_mirror") else "")
               + ")" if run.get("teachers") and run.get("distill_weight") else "")
            + _offline_teachers(run, train)
            + ". The model was selected on PublicTest"
            + (" balanced accuracy" if run.get("select") == "balanced_accuracy" else "")
            + "; the PrivateTest split was never used.",
            "",
        ]
    if train.get("measured_by"):
        lines += [f"Measured again from its `model.keras` (decision rule, temperature, threshold and every figure "
                  f"above) by `{train['measured_by']}`.", ""]
    lines += [
        "## Intended use and limitations",
        "",
        "- For demos, research and aggregate analysis of posed or spontaneous expressions in photos and video. "
        "Not for decisions about individuals (hiring, policing, health, education): an expression is not an "
        "inner state, and the model's error rate is high.",
        "- FER2013 is 48x48 greyscale web images found by keyword search, labelled by one annotator each; labels "
        "are noisy (human accuracy is about 65%) and the classes are imbalanced (disgust is 1.5% of the "
        "training rows, so a model trained on them rarely predicts it; the decision rule above lifts it, "
        "and the recall of each class is in the table).",
        "- Known biases of FER2013: mostly adult faces, skewed towards lighter skin tones and Western posed "
        "expressions; accuracy on children, older people, darker skin, occlusions (masks, glasses) and strong "
        "head poses is lower and was not measured.",
        "- Confidences are softmax scores; see the calibration error above before reading them as probabilities.",
        "",
    ]
    path = folder / "README.md"
    path.write_text("\n".join(lines))
    return path


def _held_out_text(rule: dict) -> str:
    """The card's sentence on what the decision rule does for faces it was not fitted on."""
    held, crossfit = rule.get("held_out"), rule.get("crossfit")
    if held:
        return (f"; fitted on {held['folds'] - 1} of {held['folds']} parts and measured on the part left out, "
                f"{held['repeats']} times over ({held['folds']}-fold, the figure to expect on unseen faces): balanced "
                f"accuracy {held['balanced_accuracy']} (+- {held['balanced_accuracy_se']}), accuracy {held['accuracy']} "
                f"(+- {held['accuracy_se']})")
    if crossfit:  # folders exported before the held-out figure existed
        return (f"; fitted on one half and measured on the other (2-fold cross-fit, the figure to expect on unseen "
                f"faces): balanced accuracy {crossfit['balanced_accuracy']}, accuracy {crossfit['accuracy']}")
    return ""


def _share(value: float | None) -> str:
    """A share as the card writes it; None (no face in that group) as "none"."""
    return "none" if value is None else f"{value:.1%}"


def _offsets_text(config: ModelConfig) -> str:
    return ", ".join(f"{label} {value:+.2f}" for label, value in zip(config.labels, config.class_offsets))


def _real_photo_look(run: dict) -> str:
    """The real-photo augmentations a run used, as the model card's words (empty when none)."""
    parts = [f"blur up to sigma {run['blur']} px" if run.get("blur") else "",
             f"{run['low_res']:.0%} of faces seen at {min(LOW_RES_SIZES)}-{max(LOW_RES_SIZES)} px" if run.get("low_res") else "",
             f"sensor noise (sd {run['noise']})" if run.get("noise") else ""]
    return "".join(f", {p}" for p in parts if p)


# the notice a model made from the OpenCV Zoo's expression model carries (Apache-2.0, section 4)
PRETRAINED_NOTICE = (
    "Licence notice: {part} derived from the OpenCV Model Zoo's facial expression recognition model "
    "(MobileFaceNet trained on RAF-DB, \"progressive teacher\", Jiang & Deng; "
    "`facial_expression_recognition_mobilefacenet_2022july`), licensed under the Apache License 2.0 "
    "(https://www.apache.org/licenses/LICENSE-2.0). Changes: its weights were de-quantised, it was given a "
    "48-px greyscale input, and, where this card's training section says so, it was fine-tuned on FER2013."
)


def _starting_point(run: dict, commit: str | None = None) -> str:
    """Where a run's weights started, as the model card's words."""
    if run.get("arch") == "mobilefacenet":
        return (f"; fine-tuned from the RAF-DB MobileFaceNet `{Path(run.get('pretrained', '')).name}`, "
                f"run at {run.get('network_size')} px inside")
    if run.get("init_from"):
        return f"; started from the weights of {_as_it_was(run['init_from'], commit)} (a warm restart)"
    return "; trained from scratch"


def _as_it_was(path: str, commit: str | None = None) -> str:
    """A model file the run read, named for the card; the shipped folders are replaced by later
    exports, so a path into them says which version it meant: the commit the run started at, where
    its ``state.json`` recorded one."""
    if Path(path).parts[:2] == ("fer", "assets"):
        when = f"at commit {commit[:7]}" if commit else "as it was when this run started"
        return f"`{path}` (that folder {when})"
    return f"`{path}`"


def _offline_teachers(run: dict, train: dict) -> str:
    """The model card's words for offline distillation: the logits file and the teachers that made it,
    as the run recorded them when it started (or, for a run from before it did, as the file says now)."""
    if not run.get("teacher_logits"):
        return ""
    from train.teacher_logits import describe

    path = Path(run["teacher_logits"])
    record = train.get("teacher_logits") or (describe(path) if path.is_file() else None)
    made_by = ""
    if record:
        commit = record.get("commit") or train.get("commit")
        made_by = f" of {', '.join(_as_it_was(t, commit) for t in record['teachers'])}" + (
            " (each face and its mirror image)" if record["flip"] else "")
    return (f"; distilled offline from the logits{made_by} on the Training faces, saved in `{path}` by "
            f"`python -m train.teacher_logits` (weight {run['distill_weight']}, temperature {run['distill_temperature']})")


def _targets(run: dict) -> str:
    """What the run was trained to output, as the model card's words."""
    votes = "the FER+ relabelling's votes (microsoft/FERPlus, MIT licence)"
    return {
        "ferplus_soft": f"; targets: the vote distributions of {votes}",
        "ferplus_majority": f"; targets: the majority votes of {votes}",
        "fer2013+ferplus": f"; targets: {1 - run.get('ferplus_weight', 0.5):g} x FER2013's label + "
                           f"{run.get('ferplus_weight', 0.5):g} x the vote distribution of {votes}",
    }.get(run.get("labels", "fer2013"), "")


def _model_card_intro(config: ModelConfig) -> list[str]:
    params = config.architecture.get("parameters", 0) / 1e6
    members = config.architecture.get("members", 1)
    pretrained = config.architecture.get("pretrained_members", 0)
    labels = ", ".join(config.labels)
    part = "part of this model is" if members > pretrained else "this model is"
    notice = [PRETRAINED_NOTICE.format(part=part), ""] if pretrained else []
    if members > 1:
        kinds = (f"{members} VGG-style CNNs" if not pretrained else
                 f"{members - pretrained} VGG-style CNN(s) and {pretrained} MobileFaceNet(s) pretrained on RAF-DB")
        return [
            "# FER2013 emotion ensemble", "",
            f"An ensemble of {kinds} ({params:.2f}M parameters in all), each trained on the FER2013 "
            f"Training split to label a face as one of seven emotions: {labels}. Its logits are the mean of its "
            "members' logits, in one LiteRT file. It is the `accurate` model of the `fer` library and its Gradio "
            "Space (`EmotionRecognizer(model=\"accurate\")`).", "", *notice,
        ]
    if pretrained:
        return [
            "# FER2013 emotion MobileFaceNet", "",
            f"A {params:.2f}M-parameter MobileFaceNet pretrained on RAF-DB, labelling a face as one of seven "
            f"emotions: {labels}. Load it by its folder.", "", *notice,
        ]
    return [
        "# FER2013 emotion CNN", "",
        f"A {params:.2f}M-parameter VGG-style CNN, trained on the FER2013 Training split to label a face as one "
        f"of seven emotions: {labels}. It is the default (`fast`) model of the `fer` library and its Gradio Space.", "",
    ]


def explainable(classifier: keras.Model) -> keras.Model:
    """The classifier with two more outputs, so the runtime can explain a label without gradients:

    - ``features``: the last convolutional activation (before the last pooling), ``(N, h, w, c)``;
    - ``head_gradients``: d logit_k / d (global-average-pooled features), ``(N, c', classes)``.

    The head after the pooled features is dense -> batch norm -> ReLU -> dense, so its gradient is
    ``W1 @ diag(bn_scale * relu_mask) @ W2``: forward operations only, which LiteRT runs as it is.
    :mod:`fer.gradcam` routes it back through the max pooling and the average in NumPy.

    For an ensemble (:func:`train.model.build_ensemble`) the members' features are stacked along the
    channels and their gradients divided by the number of members: the mean of the logits is linear
    in each member's, so Grad-CAM++ over the stacked channels explains the ensemble's label.
    Members without this head (the pretrained MobileFaceNet, :mod:`train.mobilefacenet`) are left out
    of the explanation, which then shows what the CNN members' share of the mean logits looked at;
    a model with no such member is exported with its logits alone (the runtime then explains nothing).
    """
    members = ensemble_members(classifier)
    explained = [member for member in members if _has_dense_head(member)]
    if not explained:
        return classifier
    if members == [classifier]:
        return _explainable_single(classifier)
    image = keras.Input(classifier.input_shape[1:], name="face")
    outputs = [_explainable_single(member)(image) for member in explained]
    n = float(len(members))
    return keras.Model(image, {
        "logits": classifier(image),
        "features": keras.layers.Concatenate(axis=-1)([o["features"] for o in outputs]),
        "head_gradients": keras.layers.Concatenate(axis=1)([o["head_gradients"] for o in outputs]) / n,
    })


def _has_dense_head(classifier: keras.Model) -> bool:
    """Whether the classifier ends as :func:`train.model.build_classifier` builds it (pooling, dense,
    batch norm, ReLU, dense), the head whose gradient :func:`_explainable_single` writes out."""
    names = {layer.name for layer in classifier.layers}
    return {"gap", "head_dense", "head_bn", "logits"} <= names


def _explainable_single(classifier: keras.Model) -> keras.Model:
    from keras import ops

    features = [layer for layer in classifier.layers if isinstance(layer, keras.layers.Activation) and len(layer.output.shape) == 4][-1]
    dense, norm, logits_layer = (classifier.get_layer(n) for n in ("head_dense", "head_bn", "logits"))
    bn_scale = norm.gamma / ops.sqrt(norm.moving_variance + norm.epsilon)
    mask = ops.cast(norm.output > 0, "float32")  # the ReLU after batch norm passes these units
    gradients = ops.einsum("ij,nj,jk->nik", dense.kernel, mask * bn_scale, logits_layer.kernel)
    return keras.Model(classifier.inputs, {"logits": classifier.output, "features": features.output, "head_gradients": gradients})


def export_tflite(classifier: keras.Model, folder: Path, faces: np.ndarray, scale: float,
                  calibration_faces: np.ndarray | None = None) -> dict:
    """Write ``model.tflite`` (LiteRT, with the explanation outputs) and check how often its top-1
    agrees with Keras on ``faces``.

    Given ``calibration_faces`` (uint8 crops from the training split, never the split that selects
    and measures the model), weights and activations are quantized to int8, each activation's range
    taken from those faces; input and outputs stay float32, so the runtime feeds it as it feeds a
    float model. On this project's AVX2 machine that saved 10-17% of a face's time for a point less
    in the wild (fast) or 4 PublicTest faces (accurate): an option, not the shipped default
    (train/EXPERIMENTS.md).
    """
    from ai_edge_litert.interpreter import Interpreter

    path = folder / TFLITE_NAME
    options = {}
    if calibration_faces is not None:
        import tensorflow as tf  # the converter's own enum; train/ runs with TensorFlow anyway

        calibration = unit_range(calibration_faces, scale)
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": lambda: ([face[None]] for face in calibration)}
    # a batch of one, fixed: LiteRT.js (the browser's runtime, web/fer.js) refuses a -1 dimension, and
    # one file then serves the library and the page (fer.classifier runs its faces one at a time)
    shape = (1, *classifier.input_shape[1:])
    explainable(classifier).export(str(path), format="litert", verbose=False,
                                   input_signature=[keras.InputSpec(shape=shape, dtype="float32")], **options)
    x = unit_range(faces, scale)
    runner = LiteRTRunner(path)
    tflite_top1 = runner(x)["logits"].argmax(axis=1)
    keras_top1 = keras_outputs(classifier, x).argmax(axis=1)
    agreement = float((tflite_top1 == keras_top1).mean())
    details = Interpreter(model_path=str(path)).get_output_details()
    outputs = [LiteRTRunner.RANKS[n] for n in (2, 4, 3) if any(len(d["shape"]) == n for d in details)]
    quantization = ({"quantization": "int8", "calibration_faces": int(len(calibration_faces))}
                    if calibration_faces is not None else {"quantization": "float32"})
    return {"file": TFLITE_NAME, "sha256": sha256_of(path), "top1_agreement": agreement, "n": int(len(x)),
            "outputs": outputs, "batch": 1, **quantization}


def int8_calibration_faces(data: str, split: str = "Training", n: int = 500) -> np.ndarray:
    """A fixed random ``n`` of ``split``'s faces, to set an int8 model's activation ranges."""
    from train.data import load_split

    images = load_split(data, split).images
    return images[np.random.default_rng(0).choice(len(images), min(n, len(images)), replace=False)]


def refresh_tflite(folder: Path, data: str | None) -> dict:
    """Rewrite a model folder's ``model.tflite`` from its ``model.keras`` (after a change to the
    LiteRT export) and record it in ``config.json``; other figures are left as they are."""
    from train.data import load_split

    config = ModelConfig.load(folder)
    classifier = keras.models.load_model(folder / WEIGHTS_NAME, compile=False)
    split = config.training.get("config", {}).get("val_split", "PublicTest")
    int8 = config.metrics.get("tflite", {}).get("quantization") == "int8"
    if int8 and not data:
        raise SystemExit(f"{folder} is int8: --data must name the CSV whose Training faces calibrate it")
    faces = load_split(data, split).images if data else np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    tflite = export_tflite(classifier, folder, faces, config.preprocessing.scale, int8_calibration_faces(data) if int8 else None)
    config = dataclasses.replace(config, metrics={**config.metrics, "tflite": tflite})
    config.save(folder)
    return tflite


def training_record(config: dict[str, Any], state: dict[str, Any], command: str) -> dict[str, Any]:
    """How a run trained, for its ``config.json`` and model card, from its config and ``state.json``;
    ``command`` and this machine stand in for what runs from before state.json held them lack."""
    from train.run_folder import hardware

    return {
        "command": state.get("command", command),
        "config": config,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "train_seconds": round(state.get("seconds", 0.0), 1),
        "hardware": state.get("hardware") or hardware(),  # where it trained, not where it is exported
        "commit": state.get("commit"),
        "teacher_logits": state.get("teacher_logits"),
    }


def main(argv: list[str] | None = None) -> Path:
    from train.run_folder import BEST, CONFIG_FILE, LOG, STATE

    parser = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a training run folder (runs/NAME)")
    parser.add_argument("--model", type=Path, help="instead of --run: a model folder to measure again (its model.keras, "
                        "training record and framing), e.g. after a change to what export fits or measures")
    parser.add_argument("--out", required=True, type=Path, help="the model folder to write")
    # the framing the shipped models were tuned to (train.tune_crop); the library's own defaults
    # (1.25x, no shift) cost ferplus_blend 1.6 points in the wild once, exported without these flags
    parser.add_argument("--like", type=Path, default=BUNDLED_MODEL,
                        help="a model folder whose crop framing the export takes (default: the shipped fast model's)")
    parser.add_argument("--crop-scale", type=float, help="override --like's crop scale")
    parser.add_argument("--center-shift", type=float, help="override --like's centre shift")
    parser.add_argument("--no-align", action="store_true", help="do not rotate faces to level the eyes")
    parser.add_argument("--refresh-tflite", action="store_true",
                        help="only rewrite --out's model.tflite from its model.keras, checked on --data")
    parser.add_argument("--data", help="with --refresh-tflite: the FER2013 CSV whose validation faces check it")
    parser.add_argument("--int8", action="store_true",
                        help="quantize the LiteRT copy to int8, calibrated on 500 Training faces (measured trade: train/EXPERIMENTS.md)")
    parser.add_argument("--min-accuracy", type=float,
                        help="the validation accuracy the decision rule may not go below (default: the model's own without it)")
    args = parser.parse_args(argv)
    if args.refresh_tflite:
        print(json.dumps(refresh_tflite(args.out, args.data), indent=2))
        return args.out

    if args.model is not None:
        command = "python -m train.export " + " ".join(sys.argv[1:] if argv is None else argv)
        return measure_again(args.model, args.out, args.min_accuracy, command)
    if args.run is None:
        parser.error("--run or --model is required")
    run_config = yaml.safe_load((args.run / CONFIG_FILE).read_text())
    state = json.loads((args.run / STATE).read_text())
    # runs from before state.json recorded their command were started from a config named as the run
    training = training_record(run_config, state, f"python -m train --config train/configs/{Path(run_config['out']).name}.yaml")
    like = ModelConfig.load(args.like).preprocessing
    preprocessing = Preprocessing(crop_scale=like.crop_scale if args.crop_scale is None else args.crop_scale,
                                  center_shift=like.center_shift if args.center_shift is None else args.center_shift,
                                  align=like.align and not args.no_align)
    classifier = keras.models.load_model(args.run / BEST, compile=False)
    return measure_model_folder(classifier, args.out, training, preprocessing, run_config["data"],
                                run_config["val_split"], log_csv=args.run / LOG,
                                int8_from=run_config.get("train_split", "Training") if args.int8 else None,
                                min_accuracy=args.min_accuracy, train_split=run_config.get("train_split", "Training"))


def measure_again(model: Path, out: Path, min_accuracy: float | None = None, command: str | None = None) -> Path:
    """A model folder measured anew from its ``model.keras``, with its own training record and crop
    framing (``out`` may be ``model`` itself); its training-curves plot, which needs the run, is kept,
    and ``command`` is recorded as what measured it (its card then names both)."""
    config = ModelConfig.load(model)
    if command:
        config = dataclasses.replace(config, training={**config.training, "measured_by": command})
    run = config.training.get("config", {})
    curves = model / "plots" / "training_curves.png"
    kept = curves.read_bytes() if curves.is_file() else None
    classifier = keras.models.load_model(model / WEIGHTS_NAME, compile=False)
    int8 = config.metrics.get("tflite", {}).get("quantization") == "int8"
    folder = measure_model_folder(classifier, out, config.training, config.preprocessing,
                                  run.get("data", "../shared/data/fer2013/fer2013-train-publictest.csv.gz"),
                                  run.get("val_split", "PublicTest"), int8_from="Training" if int8 else None,
                                  min_accuracy=min_accuracy, train_split=run.get("train_split", "Training"),
                                  keep_plots={"training_curves.png": kept} if kept else None)
    return folder


def measure_model_folder(
    classifier: keras.Model,
    out: Path,
    training: dict[str, Any],
    preprocessing: Preprocessing,
    data: str,
    val_split: str,
    log_csv: Path | None = None,
    int8_from: str | None = None,
    min_accuracy: float | None = None,
    train_split: str = "Training",
    keep_plots: dict[str, bytes] | None = None,
) -> Path:
    """Export ``classifier`` to the model folder ``out``, then fit its temperature and measure it
    (validation split, test-time augmentation, faces in the wild where present) through its LiteRT
    copy, writing every figure into ``config.json`` and the model card. ``int8_from``: the split
    whose faces calibrate an int8 LiteRT copy (None: float32). ``min_accuracy``: the floor the decision
    rule holds plain accuracy at (default: the model's own accuracy without it); ``train_split``'s
    labels give the class prior its search starts from."""
    from fer.classifier import EmotionClassifier
    from train.data import load_split
    from train.evaluate import classify_crops, evaluate
    from train.metrics import expected_calibration_error
    from train.plots import training_curves_plot

    out = Path(out)
    with built_beside(out) as staging:  # out itself changes only once every step has succeeded
        val = load_split(data, val_split)
        # the LiteRT copy first: every figure below is measured through it, as the runtime runs
        calibration = int8_calibration_faces(data, int8_from) if int8_from else None
        folder = export_model_folder(classifier, staging, training, preprocessing, faces=val.images, calibration_faces=calibration)
        config = ModelConfig.load(folder)
        tflite = config.metrics["tflite"]

        # the decision rule first (class offsets for balanced accuracy, accuracy held), then calibration:
        # the temperature is fitted on the validation split's logits with the offsets applied (the split
        # used for selection); the ECE after it on those rows is in sample, so a cross-fitted one is
        # recorded beside it; last, the uncertainty threshold on the calibrated probabilities
        classifier_runtime = EmotionClassifier(folder)
        raw = classifier_runtime.logits(val.images)
        decision = decision_rule(raw, val.labels, _prior_labels(data, train_split, val.labels), min_accuracy)
        logits = raw + np.asarray(decision["class_offsets"])
        temperature = fit_temperature(logits, val.labels)
        calibration = {
            "temperature": temperature,
            "fitted_on": val_split,
            "ece_before": round(expected_calibration_error(val.labels, softmax(logits, 1.0)), 4),
            "ece_after": round(expected_calibration_error(val.labels, softmax(logits, temperature)), 4),  # in sample
            "ece_after_crossfit": round(crossfit_ece(logits, val.labels), 4),
            "nll_before": round(negative_log_likelihood(logits, val.labels, 1.0), 4),
            "nll_after": round(negative_log_likelihood(logits, val.labels, temperature), 4),
        }
        calibrated = softmax(logits, temperature)
        uncertain_below = fit_uncertain_threshold(calibrated, val.labels)
        uncertainty = {"fitted_on": val_split, **coverage(calibrated, val.labels, uncertain_below)}
        config = dataclasses.replace(config, temperature=temperature, class_offsets=tuple(decision["class_offsets"]),
                                     uncertain_below=uncertain_below)
        config.save(folder)
        classifier_runtime = EmotionClassifier(folder)  # with them: the views' averaged softmaxes depend on them

        plots = folder / "plots"
        metrics = {"tflite": tflite, "validation": _summary(evaluate(data, val_split, str(folder), plots=plots))}
        metrics["decision_rule"] = decision
        metrics["calibration"] = calibration
        metrics["uncertainty"] = uncertainty
        metrics["validation_tta"] = {  # accuracy only, at the fitted temperature, as train.evaluate --tta measures it
            mode: round(float((classify_crops(classifier_runtime, val.images, mode).argmax(axis=1) == val.labels).mean()), 4)
            for mode in ("flip", "tencrop")
        }
        if log_csv is not None and log_csv.exists():
            training_curves_plot(log_csv, plots / "training_curves.png")
        for name, png in (keep_plots or {}).items():
            (plots / name).write_bytes(png)
        if WILD_FACES.is_dir():
            metrics["faces_in_the_wild"] = _summary(evaluate(WILD_FACES, None, str(folder), detect=True))
            metrics["uncertainty"]["faces_in_the_wild"] = metrics["faces_in_the_wild"].get("uncertain")
        config = dataclasses.replace(config, metrics=metrics)
        config.save(folder)
        write_model_card(folder, config)
        print(json.dumps({k: v for k, v in metrics.items() if k not in ("validation", "faces_in_the_wild")}, indent=2))
        for key in ("validation", "faces_in_the_wild"):
            if key in metrics:
                print(f"{key}: accuracy {metrics[key]['accuracy']:.4f}, macro F1 {metrics[key]['macro_f1']:.4f} (n={metrics[key]['n']})")
    print(f"model folder: {out}")
    return out


def _prior_labels(data: str, train_split: str, fallback: np.ndarray) -> np.ndarray:
    """The labels whose class shares start the decision rule's search: the training split's, or, in
    data that holds none (a validation file alone), ``fallback``'s."""
    from train.data import load_split

    try:
        return load_split(data, train_split).labels
    except ValueError:
        return fallback


@contextlib.contextmanager
def built_beside(folder: Path) -> Iterator[Path]:
    """A fresh folder beside ``folder`` to build in, which takes ``folder``'s place only once the
    block completes: ``folder`` is often the shipped model (``fer/assets/model``), which a failure
    halfway must not leave half replaced."""
    staging = folder.with_name(folder.name + ".partial")
    retired = folder.with_name(folder.name + ".old")
    for leftover in (staging, retired):
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if folder.exists():
        folder.rename(retired)
    staging.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)


if __name__ == "__main__":
    main()
