import json

import pytest

from fer.config import EMOTIONS, ModelConfig, Preprocessing
from train.config import TrainConfig, parse_args


def test_model_config_round_trip(tmp_path):
    config = ModelConfig(preprocessing=Preprocessing(crop_scale=1.4, align=False), temperature=1.7, metrics={"a": 1})
    config.save(tmp_path)
    loaded = ModelConfig.load(tmp_path)
    assert loaded == config and loaded.labels == EMOTIONS
    assert json.loads((tmp_path / "config.json").read_text())["preprocessing"]["crop_scale"] == 1.4


def test_model_config_rejects_unknown_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"labels": list(EMOTIONS), "colour": "red"}))
    with pytest.raises(ValueError, match="colour"):
        ModelConfig.load(tmp_path)
    # inside preprocessing too, so that a newer Hub config falls back to the bundled copy like any bad one
    (tmp_path / "config.json").write_text(json.dumps({"preprocessing": {"input_size": 48, "gamma": 2.2}}))
    with pytest.raises(ValueError, match="gamma"):
        ModelConfig.load(tmp_path)


def test_train_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 7\nwidths: [8, 16]\n")
    config, resume = parse_args(["--config", str(path), "--lr=1e-3", "--class_weight=true", "--resume"])
    assert (config.epochs, config.widths, config.lr, config.class_weight, resume) == (7, [8, 16], 0.001, True, True)
    config.save(tmp_path / "saved.yaml")
    assert TrainConfig.load(tmp_path / "saved.yaml") == config


@pytest.mark.parametrize("arg", ["--epochz=3", "--epochs=many", "--erase=maybe", "stray"])
def test_train_config_rejects_bad_arguments(arg):
    with pytest.raises(SystemExit):
        parse_args([arg])


def test_every_shipped_config_parses():
    from conftest import ROOT

    configs = sorted((ROOT / "train" / "configs").glob("*.yaml"))
    assert len(configs) >= 4
    for path in configs:
        config = TrainConfig.load(path)
        assert config.out == f"runs/{path.stem}", f"{path.name}: out should be runs/{path.stem}"


@pytest.mark.parametrize("bad", [{"temperature": 0}, {"temperature": -0.9}, {"temperature": None}, {"temperature": "0.9"},
                                 {"temperature": float("nan")}, {"preprocessing": {"crop_scale": 0}},
                                 {"preprocessing": {"input_size": 0}}, {"preprocessing": {"scale": -1 / 255}},
                                 {"preprocessing": {"center_shift": float("inf")}}, {"class_offsets": [0.1, 0.2]},
                                 {"class_offsets": [0, 0, 0, float("nan"), 0, 0, 0]}, {"uncertain_below": 1.5},
                                 {"uncertain_below": 0}])
def test_model_config_refuses_settings_that_break_inference(tmp_path, bad):
    """Refused on loading, naming the setting: a temperature of 0 gave NaN probabilities, a negative one
    inverted the ranking, a crop_scale of 0 divided by zero at the first face."""
    (tmp_path / "config.json").write_text(json.dumps(bad))
    name = next(iter(bad["preprocessing"])) if "preprocessing" in bad else next(iter(bad))
    with pytest.raises(ValueError, match=name):
        ModelConfig.load(tmp_path)


def test_decision_rule_and_threshold_round_trip(tmp_path):
    config = ModelConfig(class_offsets=(0.1, 1.2, 0.0, -0.3, 0.0, 0.0, -1.0), uncertain_below=0.5)
    config.save(tmp_path)
    loaded = ModelConfig.load(tmp_path)
    assert loaded.class_offsets == config.class_offsets and loaded.uncertain_below == 0.5
    assert loaded.is_uncertain(0.49) and not loaded.is_uncertain(0.5)
    assert not ModelConfig().is_uncertain(0.01)  # a model without a threshold flags nothing
