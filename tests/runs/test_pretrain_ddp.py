"""`terralearn pretrain` with DDP on two CPU processes; the stream shards over the ranks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from raster_helpers import write_raster

# Each rank of a gloo group iterates the stream (2 loader workers) and writes the chips it got.
RANK_SCRIPT = """
import json, sys
import torch.distributed as dist
from torch.utils.data import DataLoader
from terralearn.ssl.data import UnlabelledChips

dist.init_process_group("gloo")
data = UnlabelledChips([sys.argv[1]], chip_size=16, shuffle_buffer=8, seed=0, batch_size=2)
data.set_epoch(1)
origins = [
    divmod(int(chip[0, 0, 0]) - 1, 1000)
    for batch in DataLoader(data, batch_size=2, num_workers=2)
    for chip in batch["image"]
]
json.dump({"len": len(data), "origins": origins}, open(sys.argv[2], "w"))
dist.barrier()
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ranks_of_a_process_group_read_disjoint_chips(tmp_path):
    rows, cols = np.mgrid[0:64, 0:64]
    image = write_raster(tmp_path / "a.tif", (rows * 1000 + cols + 1).astype(np.uint16)[None])
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "WORLD_SIZE": "2"}  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT, str(image), str(tmp_path / f"rank{rank}.json")],
            env={**env, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for rank in range(2)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    served = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    # 64 x 64 px, 16 px chips: 16 chips on the epoch's shifted grid, 8 per rank
    from terralearn.ssl.data import UnlabelledChips

    units = UnlabelledChips([image], chip_size=16)._bands_of(0, np.random.default_rng([0, 1, 0]))
    grid = {(int(r), int(c)) for u in units for r, c in u.offsets}  # pass 0 of epoch 1
    assert len(grid) == 16 and served[0]["len"] == served[1]["len"] == 8
    shares = [{tuple(o) for o in s["origins"]} for s in served]
    assert [len(s["origins"]) for s in served] == [8, 8]
    assert len(shares[0]) == len(shares[1]) == 8  # no repeats within a rank
    assert not shares[0] & shares[1]  # none across ranks
    assert shares[0] | shares[1] == grid  # together: the whole grid once


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    from terralearn.datasets.synthetic import make_scene

    root = tmp_path_factory.mktemp("pretrain_ddp")
    return make_scene(root / "u.tif", root / "l.tif", size=(96, 96), seed=1, progress=False).image


@pytest.mark.slow
@pytest.mark.parametrize(("method", "model"), [("mae", "vit_tiny"), ("contrastive", "unet_small")])
def test_ddp_pretraining_on_two_cpu_processes(image, tmp_path, method, model):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "terralearn.cli.main", "pretrain", str(image), "--out", str(out),
         "--method", method, "--model", model, "--chip-size", "32", "--batch-size", "2",
         "--epochs", "2", "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu",
         "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # 9 chips per epoch: ceil(9 / 2) = 5 per rank, cut to 2 whole batches of 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["devices"] == 2 and metrics["steps_per_epoch"] == 2
    assert metrics["epochs"] == 2 and metrics["steps"] == 4
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["hyper_parameters"]["total_steps"] == 4
    assert json.loads((out / "run.json").read_text())["kind"] == "pretraining"
    assert (out / "figures" / "loss.png").is_file()
