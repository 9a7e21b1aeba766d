"""Unlabelled chips streamed from rasters and chip stores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from raster_helpers import write_raster
from terralearn.errors import ConfigError, IncompatibleError
from terralearn.ssl.data import UnlabelledChips


@pytest.fixture
def raster(tmp_path):
    # pixel value encodes its position, so each chip tells where it was cut
    rows, cols = np.mgrid[0:64, 0:96]
    image = np.stack([rows * 1000 + cols + 1, np.full((64, 96), 7)]).astype(np.uint16)
    image[:, :5, :5] = 0  # a nodata corner
    return write_raster(tmp_path / "a.tif", image, nodata=0, descriptions=["red", "nir"])


def _chips(dataset, **loader) -> list[np.ndarray]:
    out = []
    for batch in DataLoader(dataset, batch_size=4, **loader):
        out += list(batch["image"].numpy())
    return out


def test_one_epoch_serves_the_requested_count_of_valid_chips(raster):
    data = UnlabelledChips([raster], chip_size=16, shuffle_buffer=8, seed=1)
    assert data.bands == ["red", "nir"] and data.grid_chips == 4 * 6
    assert len(data) == 24
    chips = _chips(data)
    assert len(chips) == 24
    for chip in chips:
        assert chip.shape == (2, 16, 16) and chip.dtype == np.float32
        assert (chip != 0).all()  # no nodata pixel
        # contiguous 16 x 16 window of the raster
        r0, c0 = divmod(int(chip[0, 0, 0]) - 1, 1000)
        expected = (np.mgrid[r0 : r0 + 16, c0 : c0 + 16] * [[[1000]], [[1]]]).sum(0) + 1
        assert np.array_equal(chip[0], expected)


def test_epochs_shift_the_grid(raster):
    data = UnlabelledChips([raster], chip_size=16, shuffle_buffer=0, seed=0)
    origins = []
    for epoch in range(3):
        data.set_epoch(epoch)
        origins.append(sorted(int(c[0, 0, 0]) for c in _chips(data)))
    assert origins[0] != origins[1] or origins[1] != origins[2]
    data.set_epoch(1)
    assert sorted(int(c[0, 0, 0]) for c in _chips(data)) == origins[1]  # reproducible


def test_chips_per_epoch_and_workers_split_the_stream(raster):
    data = UnlabelledChips([raster], chip_size=16, chips_per_epoch=10, seed=0, batch_size=4)
    # each of N ranks serves ceil(10 / N) chips cut to whole batches of 4 (no short batch)
    assert [data.rank_quota(n) for n in (1, 2, 3, 20)] == [8, 4, 4, 1]  # 1: less than a batch
    # loader workers take whole batches in turn
    assert [data.quota(1, w, 3) for w in range(3)] == [4, 4, 0]
    batches = list(DataLoader(data, batch_size=4, num_workers=2))
    assert [len(b["image"]) for b in batches] == [4, 4]
    assert len(DataLoader(data, batch_size=4)) == 2
    small = UnlabelledChips([raster], chip_size=16, chips_per_epoch=3, batch_size=4)
    assert small.rank_quota(1) == 3 and [small.quota(1, w, 2) for w in range(2)] == [3, 0]


def _origins(data) -> list[tuple[int, int]]:
    """(row, col) of every chip served (the raster's values encode the position)."""
    return [divmod(int(c[0, 0, 0]) - 1, 1000) for c in _chips(data)]


@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_serve_disjoint_shares_of_one_small_image(raster, monkeypatch, workers):
    # the 64 x 96 image is a single band of rows: the shares must split its chips
    served = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        data = UnlabelledChips([raster], chip_size=16, chips_per_epoch=12, shuffle_buffer=4,
                               seed=5, batch_size=2)  # fmt: skip
        data.set_epoch(3)
        assert len(data) == 6
        served.append(_origins(data) if not workers else _origins_with_workers(data, workers))
    assert len(served[0]) == len(served[1]) == 6
    assert len(set(served[0])) == 6 and not set(served[0]) & set(served[1])
    # the shares are slices of one pass: every chip lies on that pass's shifted grid
    grid = data._bands_of(0, np.random.default_rng([5, 3, 0]))  # seed, epoch, pass
    assert set(served[0]) | set(served[1]) <= {(int(r), int(c)) for u in grid for r, c in u.offsets}


def _origins_with_workers(data, workers: int) -> list[tuple[int, int]]:
    out = []
    for batch in DataLoader(data, batch_size=2, num_workers=workers):
        out += [divmod(int(c[0, 0, 0]) - 1, 1000) for c in batch["image"].numpy()]
    return out


def test_chip_store_source_ignores_labels(unlabelled_store_ssl):
    data = UnlabelledChips([unlabelled_store_ssl], chip_size=32, shuffle_buffer=0)
    chips = _chips(data)
    assert len(chips) == data.chips_per_epoch == data.grid_chips
    assert all(c.shape == (6, 32, 32) for c in chips)
    mean, std = data.band_mean_std()
    assert len(mean) == 6 and all(s > 0 for s in std)


@pytest.fixture(scope="module")
def unlabelled_store_ssl(tmp_path_factory):
    from terralearn.datasets.synthetic import make_scene
    from terralearn.store import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("ssl_store")
    scene = make_scene(root / "s.tif", root / "l.tif", size=(96, 96), seed=4, progress=False)
    return prepare(
        PrepareConfig(images=[str(scene.image)], labels=[str(scene.labels)],
                      out=str(root / "store"), chip_size=32),
        progress=False,
    )  # fmt: skip


def test_band_statistics_from_sampled_chips_of_several_sources(raster):
    data = UnlabelledChips([raster, raster], chip_size=16)
    assert data.grid_chips == 48 and len(_chips(data)) == 48
    mean, std = data.band_mean_std(max_chips=1000)
    assert mean[1] == pytest.approx(7.0) and std[1] == pytest.approx(1e-6)
    # every chip without nodata, of both sources, is sampled: all but the top-left 16 px chip
    rows, cols = np.mgrid[0:64, 0:96]
    valid = np.ones((64, 96), bool)
    valid[:16, :16] = False
    assert mean[0] == pytest.approx((rows * 1000 + cols + 1)[valid].mean(), rel=1e-6)


def test_sources_with_other_bands_are_refused(raster, tmp_path):
    other = write_raster(tmp_path / "b.tif", np.ones((3, 32, 32), np.uint16), descriptions=None)
    with pytest.raises(
        IncompatibleError, match=r"has bands \['B1', 'B2', 'B3'\] but .* has \['red', 'nir'\]"
    ):
        UnlabelledChips([raster, other], chip_size=16)


def test_chip_larger_than_the_image_and_all_nodata(raster, tmp_path):
    with pytest.raises(ConfigError, match="chip size 128 is larger than the image"):
        UnlabelledChips([raster], chip_size=128)
    empty = write_raster(tmp_path / "e.tif", np.zeros((1, 32, 32), np.uint16), nodata=0)
    data = UnlabelledChips([empty], chip_size=16)
    with pytest.raises(ConfigError, match="no chip of 16 x 16 pixels without nodata"):
        next(iter(data))
    assert torch.is_tensor(next(iter(UnlabelledChips([raster], chip_size=16)))["image"])


def test_data_module_serves_the_epoch_about_to_run(raster):
    from types import SimpleNamespace

    from terralearn.ssl.data import UnlabelledDataModule

    data = UnlabelledChips([raster], chip_size=16, shuffle_buffer=0, seed=2, batch_size=4)
    module = UnlabelledDataModule(data, num_workers=2)
    # a trainer restored from a checkpoint taken after 3 epochs: the next epoch is 3
    progress = SimpleNamespace(current=SimpleNamespace(processed=3))
    module.trainer = SimpleNamespace(fit_loop=SimpleNamespace(epoch_progress=progress))
    loader = module.train_dataloader()
    got = sorted(int(c[0, 0, 0]) for b in loader for c in b["image"])
    assert data.epoch == 3 and loader.batch_size == 4 and loader.num_workers == 2
    expected = sorted(int(c[0, 0, 0]) for c in _chips(data))
    data.set_epoch(0)
    assert got == expected != sorted(int(c[0, 0, 0]) for c in _chips(data))
