"""The streamed loop: exactness against whole-image prediction, seamless blending, TTA, windows."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from predict_helpers import as_dataarray, make_task, smooth_scene

from terralearn.data.augment import d4_inverse, d4_transform
from terralearn.models import create_model
from terralearn.predict import TileLayout, engine, load_predictor, predict_array
from terralearn.predict.engine import class_map, entropy, iter_predictions
from terralearn.predict.model import fill_values


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return create_model("unet_small", 3, 3, base_width=4).eval()  # depth 3: 8-pixel grid


@pytest.fixture(scope="module")
def task():
    return make_task(seed=0)


def _whole(model, data: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(data)[None]).softmax(1)[0].numpy()


def test_tiled_equals_whole_image_with_enough_overlap(unet):
    # 400 x 448 px, tiles 256 with overlap 128 >= receptive field (110); all tile starts on the
    # U-Net's 8-pixel pooling grid (0, 128, 144 and 0, 128, 192), so tiling is exact
    data = smooth_scene(400, 448)
    whole = _whole(unet, data)
    tiled = predict_array(unet, as_dataarray(data), tile_size=256, overlap=128, blend="constant")
    assert tiled.shape == (3, 400, 448)
    assert np.abs(tiled.values - whole).max() < 1e-5
    # the check can fail: without overlap the tile edges lack context
    cut = predict_array(unet, as_dataarray(data), tile_size=224, overlap=0, blend="constant")
    assert np.abs(cut.values - whole).max() > 1e-3


def _jumps(p: np.ndarray, axis: int, margin: int) -> np.ndarray:
    """Largest change between neighbouring rows (axis 1) or columns (axis 2), per position,
    away from the image borders (zero padding there is not a tiling matter)."""
    d = np.abs(np.diff(p, axis=axis))
    d = d[:, :, margin:-margin] if axis == 1 else d[:, margin:-margin, :]
    return d.max(axis=(0, 2) if axis == 1 else (0, 1))


def _border_positions(layout: TileLayout, axis: int, margin: int) -> tuple[list[int], list[int]]:
    starts = layout.row_starts if axis == 1 else layout.col_starts
    size = layout.tile_h if axis == 1 else layout.tile_w
    length = layout.height if axis == 1 else layout.width
    border = {s - 1 for s in starts} | {s + size - 1 for s in starts}  # pairs across an edge
    for a, b in pairwise(starts):
        border |= set(range(b - 1, a + size))  # the blended span
    border = {i for i in border if margin <= i < length - 1 - margin}
    inside = [i for i in range(margin, length - 1 - margin) if i not in border]
    return sorted(border), inside


@pytest.mark.parametrize("axis", [1, 2])
def test_smooth_blending_leaves_no_seam(unet, axis):
    """On a smooth input the change across tile borders is what the image content gives (the
    untiled prediction's change there) within a fifth of the largest change inside tiles;
    a hard cut without overlap adds a step as large as the changes inside tiles."""
    data = smooth_scene(448, 448)
    margin = 58  # half the receptive field
    whole = _jumps(_whole(unet, data), axis, margin)

    def seam(tile: int, overlap: int, blend: str) -> tuple[float, float]:
        layout = TileLayout(448, 448, tile, overlap, blend)  # type: ignore[arg-type]
        p = predict_array(unet, as_dataarray(data), tile_size=tile, overlap=overlap, blend=blend)
        jumps = _jumps(p.values, axis, margin)
        border, inside = _border_positions(layout, axis, margin)
        assert border and inside
        return float(np.abs(jumps[border] - whole[border]).max()), float(jumps[inside].max())

    step, inside = seam(256, 64, "smooth")
    assert step <= 0.2 * inside
    hard_step, hard_inside = seam(224, 0, "constant")
    assert hard_step > 0.5 * hard_inside and hard_step > 100 * step


def test_tta_is_the_mean_of_the_eight_d4_predictions(task):
    data = smooth_scene(64, 64)
    got = predict_array(task, as_dataarray(data), tile_size=64, overlap=0, tta=True).values
    x = torch.from_numpy(data)[None]
    with torch.inference_mode():
        expected = sum(
            d4_inverse(task.predict_proba(d4_transform(x, None, k)[0]), k) for k in range(8)
        )
    np.testing.assert_allclose(got, (expected / 8)[0].numpy(), atol=1e-5)
    plain = predict_array(task, as_dataarray(data), tile_size=64, overlap=0).values
    assert np.abs(plain - got).max() > 1e-4  # an untrained U-Net is not D4-invariant


def test_windows_tile_the_image_row_by_row(task, monkeypatch):
    monkeypatch.setattr(engine, "BLOCK_PX", 100)  # blocks of 3 tiles (stride 48, batch 3)
    data = smooth_scene(300, 250)
    data[:, 40:60, :] = np.nan  # a band of invalid rows
    layout = TileLayout(300, 250, 64, 16, "smooth")
    seen = np.zeros((300, 250), int)
    windows = []
    for y0, x0, probabilities, valid in iter_predictions(
        load_predictor(task), as_dataarray(data), layout, batch_size=3
    ):
        h, w = valid.shape
        windows.append((y0, x0, h, w))
        assert probabilities.shape == (3, h, w)
        seen[y0 : y0 + h, x0 : x0 + w] += 1
        ys = np.arange(y0, y0 + h)
        assert (valid == ~((ys >= 40) & (ys < 60))[:, None]).all()
        np.testing.assert_allclose(np.nansum(probabilities, axis=0)[valid], 1.0, atol=1e-5)
        assert np.isnan(probabilities[:, ~valid]).all()
    assert (seen == 1).all()  # every pixel exactly once
    # rows of windows: tile-row spans, each cut at the starts of blocks of 3 tiles
    assert sorted({(y0, h) for y0, _, h, _ in windows}) == [
        (s, e - s) for s, e in pairwise([*layout.row_starts, 300])
    ]
    assert sorted({x0 for _, x0, _, _ in windows}) == layout.col_starts[::3]
    assert windows == sorted(windows)  # top to bottom, left to right
    assert np.isnan(data[:, 40:60]).all()  # the caller's array is left alone


def _brute_force(predictor, data: np.ndarray, layout: TileLayout) -> np.ndarray:
    """Every tile predicted alone and blended into whole-image sums (no streaming)."""
    k = len(predictor.classes)
    total = np.zeros((k, layout.height, layout.width), np.float64)
    weight = np.zeros((layout.height, layout.width), np.float64)
    wy, wx = layout.row_weights(), layout.col_weights()
    th, tw = layout.tile_h, layout.tile_w
    fill = np.asarray(fill_values(predictor, data.shape[0]), np.float32)[:, None, None]
    filled = np.where(np.isnan(data).any(axis=0), fill, data)
    for r, y0 in enumerate(layout.row_starts):
        for c, x0 in enumerate(layout.col_starts):
            tile = data[:, y0 : y0 + th, x0 : x0 + tw]
            if np.isnan(tile).all(axis=0).all():
                continue  # all-nodata tiles are skipped
            p = predictor(filled[None, :, y0 : y0 + th, x0 : x0 + tw])[0]
            w = wy[r][:, None] * wx[c][None, :]
            total[:, y0 : y0 + th, x0 : x0 + tw] += p * w
            weight[y0 : y0 + th, x0 : x0 + tw] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / weight
    out[:, np.isnan(data).any(axis=0) | (weight == 0)] = np.nan
    return out


@pytest.mark.parametrize(
    ("tile", "overlap", "block_px", "blend"),
    [
        (64, 16, 1, "smooth"),  # one tile per block
        (64, 16, 100, "smooth"),  # blocks of 3 tiles, a short last block
        (64, 40, 30, "smooth"),  # overlap above half a tile: three tiles share pixels
        (64, 40, 10_000, "constant"),  # one block per tile row
        (96, 0, 1, "constant"),  # no overlap
    ],
)
def test_streamed_blending_equals_whole_image_sums(
    task, monkeypatch, tile, overlap, block_px, blend
):
    monkeypatch.setattr(engine, "BLOCK_PX", block_px)
    data = smooth_scene(230, 270)
    data[:, :70, :80] = np.nan  # all-nodata tiles (skipped) next to partly valid ones
    layout = TileLayout(230, 270, tile, overlap, blend)
    predictor = load_predictor(task)
    got = np.full((3, 230, 270), -1.0, np.float32)
    for y0, x0, p, _ in iter_predictions(predictor, as_dataarray(data), layout, batch_size=1):
        got[:, y0 : y0 + p.shape[1], x0 : x0 + p.shape[2]] = p
    expected = _brute_force(predictor, data, layout)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_blocks_are_a_few_thousand_columns_of_whole_batches():
    layout = TileLayout(16_384, 16_384, 256, 64)  # stride 192: 22 tiles cover 4096 columns
    assert engine.tiles_per_block(layout, 8) == 24
    assert engine.tiles_per_block(layout, 1) == 22
    assert engine.tiles_per_block(TileLayout(100, 100, 64, 0), 8) == 64


def test_nodata_does_not_leak_into_neighbours(task):
    # nodata is filled before the network: a NaN pixel must not turn its neighbours to NaN
    data = smooth_scene(64, 64)
    data[:, 30, 30] = np.nan
    p = predict_array(task, as_dataarray(data), tile_size=64, overlap=0).values
    assert np.isnan(p[:, 30, 30]).all() and np.isnan(p).sum() == 3


def test_blender_keeps_only_the_overlap_rows_across_the_width():
    layout = TileLayout(10_000, 50, 32, 8, "constant")  # 2 tiles a row: starts 0, 18
    blender = engine.Blender(layout, 4)
    block = engine.Block(
        0, 0, 2, 0, 0, np.ones((32, 50), bool), [(0, 0, None, None), (1, 18, None, None)]
    )
    y0, x0, total, weight = blender.add(block, [np.ones((4, 32, 32), np.float32)] * 2)
    # rows 0-23 finished (the next tile row starts at 24); constant blending cuts at 25 and 28
    assert (y0, x0, total.shape) == (0, 0, (4, 24, 50))
    np.testing.assert_array_equal(weight, 1.0)
    np.testing.assert_array_equal(total[0], weight)
    below_sum, below_weight = blender._below
    assert below_sum.shape == (4, 8, 50)  # the overlap rows only
    assert below_weight[:4].min() == 1 and below_weight[4:].max() == 0


def test_class_map_and_entropy():
    p = np.array([[[0.2, 0.5]], [[0.7, 0.5]], [[0.1, 0.0]]], np.float32)
    valid = np.array([[True, False]])
    assert class_map(p, valid).tolist() == [[1, 255]]
    expected = -(0.2 * np.log(0.2) + 0.7 * np.log(0.7) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(entropy(p)[0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(entropy(p)[0, 1], np.log(2), rtol=1e-6)


def test_crop_tiles_with_margins_of_half_the_receptive_field_equal_one_whole_forward():
    # unet_small: receptive field 116 px, 8 px pooling grid; 64 px margins (overlap 128) give
    # each core all the context it has in the whole image, and the last tiles, cut at the
    # raster's edge, are padded by the network as the whole image is
    task = make_task(model_kwargs={"base_width": 4, "norm": "batch"})
    predictor = load_predictor(task)
    image = as_dataarray(smooth_scene(300, 340))
    tiled = predict_array(predictor, image, tile_size=192, overlap=128, blend="crop").values
    whole = predictor(image.values[None].astype(np.float32))[0]
    np.testing.assert_allclose(tiled, whole, atol=2e-6)
    assert np.array_equal(tiled.argmax(0), whole.argmax(0))
    layout = TileLayout(300, 340, 192, 128, "crop")
    assert (layout.row_starts[-1], layout.row_ends[-1]) == (192, 300)  # a shorter last tile row


def test_crop_batches_split_where_the_tile_shape_changes():
    tiles = [
        (c, 0, np.full((3, 8, w), c, np.uint16), np.ones((8, w), bool))
        for c, w in enumerate([8, 8, 8, 5])
    ]
    block = engine.Block(0, 0, 4, 0, 0, np.ones((8, 29), bool), tiles)
    batches = list(engine.batches(block, 2))
    assert [(x.shape, v.shape) for x, v in batches] == [
        ((2, 3, 8, 8), (2, 8, 8)),
        ((1, 3, 8, 8), (1, 8, 8)),
        ((1, 3, 8, 5), (1, 8, 5)),
    ]
    assert [x[:, 0, 0, 0].tolist() for x, _ in batches] == [[0, 1], [2], [3]]
    assert batches[2][0].dtype == np.uint16  # raw pixels: the predictor converts its copy


# ---- the class-map path, raw tiles with their masks, reading ahead --------------------------


def test_labels_are_the_class_of_the_probabilities_without_computing_them(task):
    predictor = load_predictor(task)
    rng = np.random.default_rng(3)
    batch = (1000 * rng.normal(size=(2, 3, 40, 48))).astype(np.float32)  # mixes 3 classes
    labels = predictor.labels(batch)
    assert labels.dtype == np.uint8 and labels.shape == (2, 40, 48)
    np.testing.assert_array_equal(labels, predictor(batch).argmax(1))
    assert len(np.unique(labels)) == 3


def test_binary_labels_are_logit_above_zero():
    torch.manual_seed(1)
    net = create_model("unet_small", 3, 1, base_width=4).eval()  # one logit: foreground
    predictor = load_predictor(net)
    batch = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)
    with torch.inference_mode():
        logits = net(torch.from_numpy(batch))[:, 0].numpy()
    np.testing.assert_array_equal(predictor.labels(batch), (logits > 0).astype(np.uint8))
    np.testing.assert_array_equal(predictor.labels(batch), predictor(batch).argmax(1))


def test_raw_tiles_and_mask_feed_the_training_mean_and_leave_the_input():
    # uint16 tiles, nodata 0 at some pixels: the network sees what fill_invalid + float32 gave
    from terralearn.pixels import fill_invalid

    task = make_task(seed=0)
    with torch.no_grad():
        task.band_mean.copy_(torch.tensor([1500.0, 900.0, 2100.0]).reshape(task.band_mean.shape))
        task.band_std.fill_(700.0)
    predictor = load_predictor(task)
    assert predictor.fill.tolist() == [1500.0, 900.0, 2100.0]
    rng = np.random.default_rng(4)
    raw = rng.integers(1, 3000, size=(3, 36, 52), dtype=np.uint16)
    raw[:, 5:9, 10:30] = 0
    valid = raw.all(axis=0)
    before = raw.copy()
    filled = fill_invalid(raw, valid, predictor.fill)
    view = raw[:, 2:34, 4:44][None]  # a strided view, as the engine passes it
    expected = predictor(np.ascontiguousarray(filled[:, 2:34, 4:44])[None])
    got = predictor(view, valid=valid[2:34, 4:44][None])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        predictor.labels(view, valid[2:34, 4:44][None]), expected.argmax(1)
    )
    np.testing.assert_array_equal(raw, before)  # the caller's pixels are not filled
    # the mask matters: without it the zeros go in as they are
    assert not np.array_equal(predictor(view), expected)


def test_class_map_windows_equal_the_argmax_of_probability_windows(task):
    image = as_dataarray(smooth_scene(300, 340))
    layout = TileLayout(300, 340, 128, 32, "crop")
    predictor = load_predictor(task)
    probs = list(iter_predictions(predictor, image, layout, batch_size=2))
    labels = list(iter_predictions(predictor, image, layout, batch_size=2, labels=True))
    assert [(y, x) for y, x, *_ in labels] == [(y, x) for y, x, *_ in probs]
    for (_, _, p, valid), (_, _, c, valid2) in zip(probs, labels, strict=True):
        np.testing.assert_array_equal(valid, valid2)
        np.testing.assert_array_equal(c, class_map(p, valid))


def test_class_maps_of_crop_tiles_compute_only_their_core_rows():
    # one channels-last tile per batch (predict's default on the CPU): the U-Net's decoder is
    # asked for each tile's core rows, and the map is the argmax of the whole tiles' output
    image = as_dataarray(smooth_scene(300, 340))
    layout = TileLayout(300, 340, 128, 32, "crop")
    predictor = load_predictor(make_task(seed=0), device="cpu")
    assert predictor.plan.channels_last
    decoder, asked = predictor.module.model.decoder, []
    row_plan = decoder.row_plan

    def spy(features, rows):
        plan = row_plan(features, rows)
        asked.append((rows, plan is not None))
        return plan

    decoder.row_plan = spy
    labels = list(iter_predictions(predictor, image, layout, batch_size=1, labels=True))
    cores = {
        (ya - y0, yb - y0) for y0, (ya, yb) in zip(layout.row_starts, layout.row_cores, strict=True)
    }
    assert {rows for rows, _ in asked} == cores and all(planned for _, planned in asked)
    assert cores == {(0, 96), (16, 112), (16, 28)} and len(asked) == len(layout.row_starts) * len(
        layout.col_starts
    )
    decoder.row_plan = row_plan
    probs = list(iter_predictions(predictor, image, layout, batch_size=1))
    for (_, _, p, valid), (_, _, c, _) in zip(probs, labels, strict=True):
        np.testing.assert_array_equal(c, class_map(p, valid))
    batch = smooth_scene(64, 80)[None]
    np.testing.assert_array_equal(
        predictor.labels(batch, rows=(5, 40)), predictor.labels(batch)[:, 5:40]
    )


def test_read_ahead_keeps_order_and_raises_the_readers_error_at_its_block():
    def blocks():
        yield from range(5)
        raise OSError("block 5 is truncated")

    got = []
    with pytest.raises(OSError, match="block 5 is truncated"):
        for b in engine.read_ahead(blocks()):
            got.append(b)
    assert got == [0, 1, 2, 3, 4]


def test_closing_read_ahead_stops_its_reader():
    import threading

    read = []

    def blocks():
        for i in range(1000):
            read.append(i)
            yield i

    ahead = engine.read_ahead(blocks(), ahead=2)
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert not any(t.name == "terralearn-read-ahead" for t in threading.enumerate())
    assert len(read) <= 5  # two consumed, two queued, one waiting to be queued


def test_a_run_is_folded_for_inference_and_a_given_module_is_left_alone(run_dir, task):
    from torch import nn

    def up_blocks(module):
        return [[type(m).__name__ for m in s.up] for s in module.model.decoder.stages]

    predictor = load_predictor(run_dir)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in predictor.module.modules())
    assert set(map(tuple, up_blocks(predictor.module))) == {("Conv2d", "Upsample")}
    assert predictor.module.band_std is None  # in the input convolution's weights
    given = load_predictor(task)
    assert given.module is task and task.band_std is not None
    assert any(isinstance(m, nn.BatchNorm2d) for m in task.modules())
    assert set(map(tuple, up_blocks(task))) == {("Upsample", "Conv2d")}


def test_activation_bytes_are_the_tensors_alive_at_the_peak_and_set_the_crop_tile(task, run_dir):
    from torch import nn

    from terralearn.predict.api import _prepare

    class TwoConvs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(2, 4, 1), nn.Conv2d(4, 3, 1)

        def forward(self, x):
            return self.b(self.a(x))

    toy = load_predictor(TwoConvs().eval())
    toy.in_channels = 2
    # while b runs: its float32 input (2 ch, held by the caller) + a's output (4) + b's (3)
    assert toy.activation_bytes() == (2 + 4 + 3) * 4.0
    # unet_small, 3 bands, base width 4, in B/px at the peak (the last up-block's first conv):
    # the probe's raw (12) and normalised (12) input, the block's input (8 channels at half
    # size: 8) and skip (16), then as built the concatenation (32), the conv's output (16) and
    # its batch norm's (16); with the inference rewrites the two convs' outputs (16 + 16)
    given = load_predictor(task)
    loaded = load_predictor(run_dir)
    assert given.activation_bytes() == 12 + 12 + 8 + 16 + 32 + 16 + 16
    assert loaded.activation_bytes() == 12 + 12 + 8 + 16 + 16 + 16
    _, _, layout = _prepare(given, as_dataarray(smooth_scene(64, 64)), None, None, None)
    assert layout.tile_size == 2048  # sqrt(1.25 GB / (1.4 x 112 B)) = 2825, capped
    vit = load_predictor(create_model("vit_tiny", 3, 3).eval())
    assert vit.activation_bytes() is None  # global attention: memory grows with the tile squared


def test_class_counts_and_written_values():
    classes = np.array([[0, 3, 3], [255, 3, 1]], dtype=np.uint8)
    counts = engine.count_classes(classes[:, ::2])  # a strided view is counted too
    assert counts.shape == (256,) and counts.dtype == np.int64
    assert {i: int(n) for i, n in enumerate(counts) if n} == {0: 1, 3: 1, 255: 1, 1: 1}
    identity = np.arange(256, dtype=np.uint8)
    assert engine.to_values(identity, classes) is classes  # indices written as they are
    codes = np.full(256, 250, np.uint8)
    codes[:4] = [11, 21, 41, 82]  # e.g. NLCD codes, nodata 250
    np.testing.assert_array_equal(engine.to_values(codes, classes), [[11, 82, 82], [250, 82, 21]])


def test_class_map_windows_of_a_block_without_valid_tiles_are_nodata(task):
    # the top tile row is all nodata: its block has no tile to predict
    data = smooth_scene(300, 340)
    data[:, :150, :] = np.nan
    layout = TileLayout(300, 340, 128, 32, "crop")
    windows = list(
        iter_predictions(load_predictor(task), as_dataarray(data), layout, 1, labels=True)
    )
    assert all(out.shape == valid.shape and out.dtype == np.uint8 for _, _, out, valid in windows)
    first = windows[0]
    assert first[:2] == (0, 0) and not first[3].any() and (first[2] == 255).all()
    assert any((out < 3).any() for _, _, out, _ in windows)  # rows below are predicted
