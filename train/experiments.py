"""Gather finished runs into a markdown table: ``python -m train.experiments [RUN_DIR ...] [--out FILE]``.

Each run folder holds ``train_config.yaml``, ``state.json``, ``log.csv`` and ``best.keras``; the
validation figures are computed once from ``best.keras`` and cached in the run's ``results.json``.
Without arguments every folder under ``runs/`` is listed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from train.run_folder import BEST, CONFIG_FILE, STATE

RESULTS = "results.json"  # this module's cache of a run's validation figures, beside its other files


def run_settings(config: dict) -> dict:
    """How a run was set up, for the table: read from its config every time, so a results.json cached
    before a column existed still fills it (configs older than a key trained with its old default)."""
    return {
        "planned_epochs": config["epochs"],
        "labels": config.get("labels", "fer2013") + _distilled(config)
        + (f", logit-adjusted loss (tau {config['logit_adjust']:g})" if config.get("logit_adjust") else ""),
        "precision": config.get("precision", "float32"),
        "widths": config["widths"] if config.get("arch", "cnn") == "cnn" else f"{config['arch']} at {config['network_size']} px",
    }


def _distilled(config: dict) -> str:
    """What the targets learnt from besides the labels: teachers run online, or their saved logits."""
    weight = config.get("distill_weight", 0.0)
    if config.get("teacher_logits") and weight:
        return f" + {weight:g} x teacher logits (T {config.get('distill_temperature'):g})"
    if config.get("teachers") and weight:
        mirrored = ", mirrored" if config.get("teacher_mirror") else ""
        return f" + {weight:g} x {len(config['teachers'])} online teacher(s) (T {config.get('distill_temperature'):g}{mirrored})"
    return ""


def run_results(run: Path) -> dict:
    """The run's validation figures, computing and caching them when missing or stale, and its settings."""
    state = json.loads((run / STATE).read_text())
    config = yaml.safe_load((run / CONFIG_FILE).read_text())
    cached = run / RESULTS
    if cached.exists():
        results = json.loads(cached.read_text())
        if (results.get("best_epoch") == state["best_epoch"] and results.get("epochs_run") == state["epoch"]
                and "balanced_accuracy" in results):  # cached before the column existed: computed again
            return {**results, **run_settings(config)}
    import keras

    from train.data import load_split
    from train.inputs import keras_outputs, unit_range
    from train.metrics import classification_report

    from fer.config import EMOTIONS

    model = keras.models.load_model(run / BEST, compile=False)
    val = load_split(config["data"], config["val_split"])
    predictions = keras_outputs(model, unit_range(val.images)).argmax(axis=1)
    report = classification_report(val.labels, predictions, EMOTIONS)
    results = {
        "run": run.name,
        "val_split": config["val_split"],
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "balanced_accuracy": report["balanced_accuracy"],
        "parameters": int(model.count_params()),
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        # by the epochs state.json counts: the log may hold a row twice (an epoch logged, then killed
        # before its checkpoint, and trained again on --resume)
        "seconds_per_epoch": round(state.get("seconds", 0.0) / max(1, state["epoch"]), 1),
        "hardware": state.get("hardware", "CPU (2 cores)"),
        **run_settings(config),
    }
    cached.write_text(json.dumps(results, indent=2))
    return results


def markdown_table(rows: list[dict]) -> str:
    header = "| run | val accuracy | balanced accuracy | macro F1 | parameters | epochs (best) | s/epoch | labels | precision | widths (or network) | hardware |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for r in sorted(rows, key=lambda r: -r["accuracy"]):
        epochs = f"{r['epochs_run']}/{r['planned_epochs']} ({r['best_epoch']})"
        lines.append(
            f"| {r['run']} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} | {r['macro_f1']:.4f} | {r['parameters'] / 1e6:.2f}M | {epochs} | "
            f"{r['seconds_per_epoch']} | {r['labels']} | {r['precision']} | {r['widths']} | {r['hardware']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m train.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run folders (default: runs/*)")
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    runs = args.runs or sorted(p for p in Path("runs").glob("*") if (p / STATE).exists())
    rows = [run_results(run) for run in runs if (run / BEST).exists()]
    if not rows:
        raise SystemExit("no finished runs found (a run folder needs state.json and best.keras)")
    table = markdown_table(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
