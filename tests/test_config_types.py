"""YAML config values are checked against the config dataclasses' type hints."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from terralearn.cli.main import cli
from terralearn.config import build_config, load_yaml
from terralearn.errors import ConfigError
from terralearn.runs.pretrain import PretrainConfig
from terralearn.runs.train import TrainConfig


def _config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('epochs: "20"\n', "epochs must be an integer or null, got '20'"),
        ("batch-size: 8.5\n", "batch-size must be an integer, got 8.5"),
        ("lr: fast\n", "lr must be a number, got 'fast'"),
        ("class_weights: 1\n", "class_weights must be true or false, got 1"),
        ("model_kwargs: [1, 2]\n", "model_kwargs must be a mapping, got [1, 2]"),
        ("max_time: yes\n", "max_time must be a number or null, got True"),
    ],
)
def test_a_train_config_value_of_the_wrong_type_names_file_and_key(tmp_path, text, message):
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        build_config(TrainConfig, load_yaml(path), store="s", out="o")
    assert str(info.value) == f"{path}: {message}"


def test_pretrain_config_values_are_checked_too(tmp_path):
    path = _config(tmp_path, "images: a.tif\n")
    with pytest.raises(
        ConfigError, match=r"config.yaml: images must be a list of strings, got 'a.tif'$"
    ):
        build_config(PretrainConfig, load_yaml(path))
    path = _config(tmp_path, "bands: [red, 4]\n")
    with pytest.raises(
        ConfigError, match=r"bands must be a list of strings or null, got \['red', 4\]"
    ):
        build_config(PretrainConfig, load_yaml(path), images=["a.tif"])


def test_values_of_the_right_type_pass_and_integers_serve_as_floats(tmp_path):
    path = _config(tmp_path, "lr: 1\nepochs: null\ndevices: auto\nmodel_kwargs: {base_width: 8}\n")
    config = build_config(TrainConfig, load_yaml(path), store="s", out="o")
    assert (config.lr, config.epochs, config.devices) == (1, None, "auto")
    assert config.model_kwargs == {"base_width": 8}
    # a config file spelling augmentations as before (true/false) still loads
    assert build_config(TrainConfig, {"augment": True}).augment is True
    path = _config(tmp_path, "warmup_epochs: 2\nmask_ratio: 0.5\nimages: [a.tif]\n")
    assert build_config(PretrainConfig, load_yaml(path)).warmup_epochs == 2


def test_the_cli_refuses_a_wrong_type_in_one_line_with_exit_code_2(tmp_path):
    path = _config(tmp_path, 'epochs: "20"\n')
    for command in (["train", tmp_path / "store"], ["pretrain", tmp_path / "image.tif"]):
        result = CliRunner().invoke(
            cli, [str(a) for a in (*command, "--out", tmp_path / "run", "--config", path)]
        )
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        expected = "must be an integer or null" if command[0] == "train" else "must be an integer"
        assert lines == [f"error: {path}: epochs {expected}, got '20'"]
        assert not (tmp_path / "run").exists()
