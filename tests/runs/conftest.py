"""A tiny synthetic chip store shared by the training tests (built once per session)."""

from __future__ import annotations

import pytest

from terralearn.datasets.synthetic import make_scene
from terralearn.store import PrepareConfig, prepare


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    scene = make_scene(
        root / "scene.tif", root / "labels.tif", size=(192, 192), seed=3, progress=False
    )
    store = prepare(
        PrepareConfig(
            images=[str(scene.image)],
            labels=[str(scene.labels)],
            out=str(root / "store"),
            chip_size=32,
            block_size=64,
            buffer=0,
            seed=0,
        ),
        progress=False,
    )
    return store


@pytest.fixture(scope="session")
def unlabelled_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabelled")
    scene = make_scene(
        root / "scene.tif", root / "labels.tif", size=(96, 96), seed=4, progress=False
    )
    return prepare(
        PrepareConfig(images=[str(scene.image)], out=str(root / "store"), chip_size=32),
        progress=False,
    )
