"""One rule for invalid pixels: training, evaluation and prediction feed the network 0 (the
training band mean, normalised) at nodata pixels of a float raster whose nodata is -99999."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from terralearn.artifacts import load_task
from terralearn.data.datasets import ChipDataset
from terralearn.runs.train import TrainConfig, train
from terralearn.store import PrepareConfig, prepare
from terralearn.store.reader import ChipStore
from terralearn.tasks.segmentation import SegmentationTask

NODATA = -99999.0
SIZE = 96
BORDER = 12  # nodata columns on the left and rows on top


@pytest.fixture(scope="module")
def nodata_scene(tmp_path_factory):
    """A 3-band float32 GeoTIFF (nodata -99999 on a 12-pixel L-shaped border), its labels
    and a store prepared from them."""
    root = tmp_path_factory.mktemp("nodata")
    rng = np.random.default_rng(0)
    labels = (np.add.outer(np.arange(SIZE), np.arange(SIZE)) // 40 % 3).astype(np.uint8)
    image = rng.normal(100.0, 5.0, (3, SIZE, SIZE)).astype(np.float32) + labels * 20.0
    image[:, :, :BORDER] = NODATA
    image[:, :BORDER, :] = NODATA
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "crs": "EPSG:32617",
        "transform": Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0),
    }  # fmt: skip
    with rasterio.open(root / "image.tif", "w", count=3, dtype="float32", nodata=NODATA,
                       **profile) as dst:  # fmt: skip
        dst.write(image)
    with rasterio.open(root / "labels.tif", "w", count=1, dtype="uint8", **profile) as dst:
        dst.write(labels[None])
    store = prepare(
        PrepareConfig(
            images=[str(root / "image.tif")],
            labels=[str(root / "labels.tif")],
            out=str(root / "store"),
            chip_size=32,
            block_size=32,
            buffer=0,
            val=0.25,
            test=0.0,
            seed=1,
        ),
        progress=False,
    )
    return root, store


def _capture_inputs(monkeypatch) -> list[torch.Tensor]:
    """Record every tensor the network of any SegmentationTask receives."""
    seen: list[torch.Tensor] = []
    original = SegmentationTask.configure_models

    def configure_models(self) -> None:
        original(self)
        self.model.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))

    monkeypatch.setattr(SegmentationTask, "configure_models", configure_models)
    return seen


def test_training_evaluation_and_prediction_see_the_band_mean_at_nodata(
    tmp_path, nodata_scene, monkeypatch
):
    root, store_path = nodata_scene
    store = ChipStore(store_path)
    chips = store.read(store.split_ids("train"))
    assert (chips["image"] == NODATA).any() and not chips["valid"].all()
    assert (chips["mask"][~chips["valid"]] == 255).all()  # never in a loss or a metric

    seen = _capture_inputs(monkeypatch)
    config = TrainConfig(
        store=str(store_path), out=str(tmp_path / "run"), model="unet_small", epochs=1,
        batch_size=4, augment="none", progress=False,
    )  # fmt: skip
    run = train(config)
    task, info = load_task(run, "best")  # rebuilt from the checkpoint: the hook is on it too
    task.eval()

    dataset = ChipDataset(store, store.split_ids("train"))
    batch = dataset.__getitems__(list(range(len(dataset))))
    invalid = ~batch["valid"]
    assert invalid.any()

    seen.clear()
    task.training_step(batch, 0)
    (trained,) = seen
    seen.clear()
    with torch.no_grad():
        task.validation_step(batch, 0)
    (evaluated,) = seen
    for x in (trained, evaluated):
        assert x.shape == batch["image"].shape
        assert (x.permute(1, 0, 2, 3)[:, invalid] == 0).all()  # exactly the band mean
        assert (x.permute(1, 0, 2, 3)[:, ~invalid] != 0).all()
        assert x.abs().max() < 50  # the raw -99999 would be thousands of stds away

    from terralearn.predict import predict_array

    seen.clear()
    probabilities = predict_array((task, info), root / "image.tif", tile_size=SIZE)
    assert np.isnan(probabilities.values[:, :BORDER, :]).all()
    assert not np.isnan(probabilities.values[:, BORDER:, BORDER:]).any()
    fed = torch.cat([x.reshape(x.shape[0], 3, -1) for x in seen], dim=-1)
    assert fed.abs().max() < 50
    # every nodata pixel the tiles cover enters as 0 in all bands (valid pixels never do)
    zero_pixels = int((fed == 0).all(dim=1).sum())
    nodata_pixels = SIZE * SIZE - (SIZE - BORDER) ** 2
    assert zero_pixels >= nodata_pixels


def test_normalize_sets_invalid_and_nan_pixels_to_zero() -> None:
    task = SegmentationTask("unet_small", 2, 2, band_mean=[10.0, 20.0], band_std=[2.0, 4.0])
    image = torch.tensor([[[[12.0, NODATA]], [[24.0, NODATA]]]])  # (1, 2, 1, 2)
    valid = torch.tensor([[[True, False]]])
    assert task.normalize(image, valid).tolist() == [[[[1.0, 0.0]], [[1.0, 0.0]]]]
    image[0, 0, 0, 0] = float("nan")
    assert task.normalize(image).tolist()[0][0][0][0] == 0.0
    assert task.normalize(image).tolist()[0][0][0][1] == pytest.approx((NODATA - 10) / 2)


@pytest.mark.parametrize("name", ["d4", "strong"])
def test_augmentations_keep_invalid_pixels_at_zero(name: str) -> None:
    from terralearn.data.augment import build_augment

    torch.manual_seed(0)
    image = torch.randn(6, 3, 16, 16) + 5
    valid = torch.ones(6, 16, 16, dtype=torch.bool)
    valid[:, :, :5] = False
    image[:, :, ~valid[0]] = 0
    mask = torch.where(valid, 1, 255)
    out = build_augment(name)({"image": image, "mask": mask, "valid": valid})
    assert out["valid"].shape == valid.shape
    assert (out["image"].permute(1, 0, 2, 3)[:, ~out["valid"]] == 0).all()
    assert (out["mask"][~out["valid"]] == 255).all()
    assert int((~out["valid"]).sum()) > 0
