"""A missing optional extra (ee, tf, onnx) is one line naming the extra to install, exit 2."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from terralearn._extras import require
from terralearn.cli.main import cli
from terralearn.errors import MissingExtraError


def hide(monkeypatch, *names: str) -> None:
    """Make ``import NAME`` (and its submodules) fail as if the package were not installed."""
    for loaded in [m for m in sys.modules if m.split(".")[0] in names]:
        monkeypatch.delitem(sys.modules, loaded)
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ModuleNotFoundError


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


EE_FETCH = ["ee", "fetch", "--region", "8,47,8.1,47.1", "--start", "2020-01-01"]


@pytest.mark.parametrize(
    ("hidden", "shown"), [("xee", "xee"), ("ee", "earthengine-api")], ids=["xee", "ee"]
)
def test_ee_fetch_without_the_ee_extra(monkeypatch, tmp_path, hidden, shown):
    hide(monkeypatch, hidden)
    result = invoke(*EE_FETCH, "--end", "2020-02-01", "--cache", tmp_path / "cache")
    assert result.exit_code == 2
    assert result.output == (
        f"error: Earth Engine support needs the 'ee' extra ({shown} is not installed); "
        "install it with `pip install 'terralearn[ee]'`\n"
    )
    assert "Traceback" not in result.output


def test_ee_prepare_without_the_ee_extra(monkeypatch, tmp_path):
    hide(monkeypatch, "xee")
    result = invoke(
        "ee", "prepare", "--region", "8,47,8.1,47.1", "--start", "2020-01-01",
        "--end", "2020-02-01", "--cache", tmp_path / "cache", "--out", tmp_path / "store",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: Earth Engine support needs the 'ee' extra (xee is not installed); "
        "install it with `pip install 'terralearn[ee]'`"
    ]
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("hidden", ["onnx", "onnxruntime", "onnxscript"])
def test_export_model_without_the_onnx_extra(monkeypatch, tmp_path, hidden):
    hide(monkeypatch, hidden)
    result = invoke("export-model", tmp_path / "run", tmp_path / "model.onnx")
    assert result.exit_code == 2
    assert result.output == (
        f"error: ONNX export needs the 'onnx' extra ({hidden} is not installed); "
        "install it with `pip install 'terralearn[onnx]'`\n"
    )
    assert not (tmp_path / "model.onnx").exists()


TF_LINE = (
    "TensorFlow/Keras support needs the 'tf' extra ({} is not installed); "
    "install it with `pip install 'terralearn[tf]'`"
)


def test_tf_dataset_without_the_tf_extra(monkeypatch, tmp_path):
    # no CLI command reads TFRecords with TensorFlow: the library entry point is the "command"
    from terralearn.export.tf_dataset import make_dataset

    hide(monkeypatch, "tensorflow")
    with pytest.raises(MissingExtraError) as err:
        make_dataset(tmp_path)
    assert str(err.value) == TF_LINE.format("tensorflow")


def test_keras_builders_without_the_tf_extra(monkeypatch):
    hide(monkeypatch, "tensorflow", "keras")
    builders = ("terralearn.export.keras",)
    for loaded in [m for m in sys.modules if m.startswith(builders)]:
        monkeypatch.delitem(sys.modules, loaded)  # import them afresh
    with pytest.raises(MissingExtraError) as err:
        import terralearn.export.keras  # noqa: F401
    assert str(err.value) == TF_LINE.format("keras")


def test_require_returns_the_module_and_rejects_a_foreign_one():
    pytest.importorskip("onnx")
    assert require("onnx", "onnx").__name__ == "onnx"
    with pytest.raises(ValueError, match="'xarray' is not part of the 'ee' extra"):
        require("xarray", "ee")
