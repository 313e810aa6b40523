"""The training run's configuration: one dataclass with defaults, overridable by YAML and ``--key=value``.

It is saved as ``train_config.yaml`` beside every checkpoint, so a run can always be repeated.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DATA = "../shared/data/fer2013/fer2013-train-publictest.csv.gz"
# the OpenCV Zoo's RAF-DB MobileFaceNet (../shared/pretrained/README.md), for arch mobilefacenet
PRETRAINED_MOBILEFACENET = "../shared/pretrained/facial_expression_recognition_mobilefacenet_2022july_int8bq.onnx"


@dataclass
class TrainConfig:
    # data
    data: str = DEFAULT_DATA
    train_split: str = "Training"
    val_split: str = "PublicTest"  # model selection happens here; PrivateTest stays untouched
    out: str = "runs/baseline"
    # training targets: FER2013's own labels, FER+ votes (majority or the vote distribution), or a
    # blend: (1 - ferplus_weight) * FER2013's one-hot label + ferplus_weight * the vote distribution,
    # which keeps every row and FER2013's label prior while the votes say how ambiguous a face is;
    # validation always uses FER2013's labels, so figures stay comparable across runs
    labels: str = "fer2013"  # fer2013 | ferplus_majority | ferplus_soft | fer2013+ferplus
    ferplus: str = "../shared/data/ferplus/fer2013new-train-publictest.csv"
    ferplus_weight: float = 0.5
    # model: this project's VGG-style CNN, or the pretrained RAF-DB MobileFaceNet to fine-tune
    # (train/mobilefacenet.py; its weights come from `pretrained`, run at `network_size` pixels)
    arch: str = "cnn"  # cnn | mobilefacenet
    pretrained: str = PRETRAINED_MOBILEFACENET
    network_size: int = 64
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    convs_per_block: int = 2
    block_dropout: float = 0.1
    head_units: int = 256
    head_dropout: float = 0.5
    # optimisation
    epochs: int = 50
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    class_weight: bool = False  # balance classes in the loss (helps disgust recall, costs accuracy)
    # logit-adjusted loss (train/balance.py): the loss sees logits + logit_adjust * log(class prior),
    # so the classifier learns logits without FER2013's prior (balanced at 1.0); 0 = plain loss
    logit_adjust: float = 0.0
    # the validation figure that picks best.keras and early-stops: accuracy, or balanced_accuracy
    # (mean per-class recall of the classifier's own logits, which a logit-adjusted run optimises)
    select: str = "accuracy"
    patience: int = 15  # early stopping on val accuracy; 0 disables
    # > 0: train for this many minutes of wall clock (epochs is then a cap), the cosine learning-rate
    # decay following the elapsed fraction of the budget; for accelerator sessions of fixed length,
    # where the speed is unknown in advance. The epochs actually run are in state.json and log.csv.
    time_budget_min: float = 0.0
    # augmentation
    translate: float = 0.1
    rotate_degrees: float = 10.0
    zoom: float = 0.1
    contrast: float = 0.3
    brightness: float = 0.2
    erase: bool = False
    # real-photo look (0 = off): blur's largest Gaussian sigma in pixels (on a third of the faces), the
    # share of faces seen as if cut from a smaller photo, and the standard deviation of sensor noise
    blur: float = 0.0
    low_res: float = 0.0
    noise: float = 0.0
    mix: str = "none"  # none | mixup | cutmix
    mix_alpha: float = 0.2
    mix_prob: float = 0.5
    seed: int = 0
    # warm start: the classifier's weights from this trained model (a best.keras or a model folder's
    # model.keras of the same architecture, or one member of an ensemble's model.keras as
    # PATH[i]) instead of a random init; a network with wider blocks starts from a narrower one's
    # function (train.model.widen_into); the optimiser starts afresh,
    # so a new cosine schedule restarts from the trained weights (as SGDR's warm restarts do)
    init_from: str = ""
    # numerics: mixed_bfloat16 computes in bfloat16 (weights stay float32 and the saved classifier
    # is always float32, so export and CPU inference never see bfloat16); fast only on CPUs with
    # bfloat16 instructions (AVX-512 BF16, AMX), emulated and far slower elsewhere. auto picks
    # mixed_bfloat16 where the CPU has them and float32 where not; the run's saved config says which
    precision: str = "float32"  # float32 | mixed_bfloat16 | auto
    # knowledge distillation: the student also matches the averaged logits of these trained
    # classifiers (best.keras files), softened by distill_temperature; 0 weight trains on labels only
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.0
    distill_temperature: float = 4.0
    teacher_mirror: bool = False  # each teacher averages its logits over the batch and its mirror
    # offline distillation: the teachers' logits on the training split, computed once by
    # python -m train.teacher_logits; each target becomes (1 - distill_weight) * target +
    # distill_weight * softmax(logits / distill_temperature), so epochs cost what a plain run's do;
    # the student is not softened there, so a temperature above 1 only flattens the targets (use 1)
    teacher_logits: str = ""
    # at the end, export best.keras as a model folder (model/); an ensemble's members need none of their own
    export: bool = True

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(dataclasses.asdict(self), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls().updated(yaml.safe_load(Path(path).read_text()) or {})

    def updated(self, changes: dict[str, Any]) -> "TrainConfig":
        """A copy with ``changes`` applied; unknown keys and wrong types are errors, not typos ignored."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values = {}
        for key, value in changes.items():
            key = key.replace("-", "_")
            if key not in known:
                raise SystemExit(f"unknown config key {key!r}; known: {', '.join(known)}")
            values[key] = _coerce(value, getattr(self, key), key)
        return dataclasses.replace(self, **values)


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Convert a YAML or command-line value to the type of the field's default."""
    if isinstance(value, str) and not isinstance(default, str):
        value = yaml.safe_load(value)  # "1e-3" -> 0.001, "[32, 64]" -> list, "true" -> True
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, list):
            item = type(default[0]) if default else str  # an empty default list holds paths
            return [item(v) for v in value]
        return type(default)(value)
    except (TypeError, ValueError):
        raise SystemExit(f"config key {key!r}: cannot use {value!r} as {type(default).__name__}") from None


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    """``[--config FILE.yaml] [--resume] [--key=value ...]`` -> (config, resume)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config, resume, overrides = TrainConfig(), False, {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(__doc__)
            print("usage: python -m train [--config FILE.yaml] [--resume] [--key=value ...]\nkeys and defaults:")
            for f in dataclasses.fields(TrainConfig):
                print(f"  --{f.name}={getattr(TrainConfig(), f.name)!r}")
            raise SystemExit(0)
        if arg == "--resume":
            resume = True
        elif arg == "--config" or arg.startswith("--config="):
            path = arg.split("=", 1)[1] if "=" in arg else argv[(i := i + 1)]
            config = TrainConfig.load(path)
        elif arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            overrides[key] = value
        else:
            raise SystemExit(f"cannot parse argument {arg!r}; use --key=value")
        i += 1
    return config.updated(overrides), resume
