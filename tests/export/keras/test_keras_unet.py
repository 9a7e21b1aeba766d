"""Keras builders: shapes, heads, the attention block, saving, and one epoch from TFRecords."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="TensorFlow not installed (the [tf] extra)")
keras = pytest.importorskip("keras")

from terralearn.errors import ConfigError  # noqa: E402
from terralearn.export.keras import TransformerBlock, build_model, unet, unet_small  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def test_small_unet_binary_sigmoid():
    model = unet_small((32, 32, 4), num_classes=1)
    out = model.predict(np.random.default_rng(0).normal(size=(2, 32, 32, 4)), verbose=0)
    assert out.shape == (2, 32, 32, 1)
    assert ((out > 0) & (out < 1)).all()
    assert model.layers[-1].activation.__name__ == "sigmoid"
    # the tutorial's filter widths: 16 at the top, 256 at the bottom
    convs = [l.filters for l in model.layers if type(l).__name__ == "Conv2D"]  # noqa: E741
    assert convs[:2] == [16, 16] and max(convs) == 256


def test_deep_unet_multiclass_softmax_any_size():
    model = unet((None, None, 3), num_classes=5, base_filters=8, depth=3)
    out = model.predict(np.zeros((1, 24, 40, 3)), verbose=0)
    assert out.shape == (1, 24, 40, 5)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    logits = unet((16, 16, 3), num_classes=3, base_filters=4, depth=2, activation=None)
    assert logits.layers[-1].activation.__name__ == "linear"


def test_transformer_block_keeps_shape_and_mixes_pixels():
    block = TransformerBlock(num_heads=2, mlp_ratio=2.0)
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 8)).astype("float32")
    y = np.asarray(block(x))
    assert y.shape == x.shape
    # layer norm over channels: every token has mean 0 (gamma 1, beta 0 at init)
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    # attention is global: changing one pixel changes the output at another pixel
    x2 = x.copy()
    x2[0, 0, 0] += 5.0
    y2 = np.asarray(block(x2))
    assert not np.allclose(y2[0, 3, 5], y[0, 3, 5]) and np.allclose(y2[1], y[1], atol=1e-6)
    mha = block.attention
    assert mha.num_heads == 2 and mha.key_dim == 4


def test_attention_unet_saves_and_loads(tmp_path):
    model = unet((16, 16, 2), num_classes=3, base_filters=4, depth=2, attention_heads=2)
    assert any(isinstance(l, TransformerBlock) for l in model.layers)  # noqa: E741
    x = np.random.default_rng(1).normal(size=(1, 16, 16, 2)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_bad_options():
    with pytest.raises(ConfigError, match="input size 20 is not divisible by 2\\*\\*depth = 16"):
        unet_small((20, 20, 3))
    with pytest.raises(
        ConfigError, match="Keras model 'resnet' is unknown; choose one of unet_small, unet"
    ):
        build_model("resnet")


def test_fit_one_epoch_from_tfrecords(tmp_path):
    """Export a store, build the tutorial U-Net, fit one epoch from the TFRecords."""
    import rasterio
    from rasterio.transform import from_origin

    from terralearn.export.tf_dataset import make_dataset
    from terralearn.export.tfrecord import export_tfrecord
    from terralearn.store import PrepareConfig, open_store, prepare

    rng = np.random.default_rng(0)
    size = 128
    image = rng.integers(100, 3000, (3, size, size)).astype("uint16")
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        crs="EPSG:32632",
        transform=from_origin(0, 0, 10, 10),
    )
    with rasterio.open(tmp_path / "image.tif", "w", count=3, dtype="uint16", **profile) as dst:
        dst.write(image)
    with rasterio.open(tmp_path / "labels.tif", "w", count=1, dtype="uint8", **profile) as dst:
        dst.write((image[0] > 1500).astype("uint8"), 1)
    store = prepare(
        PrepareConfig(
            images=[str(tmp_path / "image.tif")],
            labels=[str(tmp_path / "labels.tif")],
            out=str(tmp_path / "store"),
            chip_size=16,
            split="random",
            val=0.2,
            test=0.1,
        ),
        progress=False,
    )
    out = export_tfrecord(store, tmp_path / "tfr", shards=2, progress=False)
    train = make_dataset(str(out / "train-*.tfrecord"), batch_size=8, shuffle=True)
    model = unet_small((16, 16, 3), num_classes=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    before = model.evaluate(train, verbose=0)
    history = model.fit(train, epochs=1, verbose=0)
    after = model.evaluate(train, verbose=0)
    assert len(history.history["loss"]) == 1
    assert after < before
    pred = model.predict(train.map(lambda x, y, w: x), verbose=0)
    assert pred.shape == (len(open_store(store).split_ids("train")), 16, 16, 1)
