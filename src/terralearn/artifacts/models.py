"""Trained raster models back from their run folders."""

from __future__ import annotations

import os

from terralearn.artifacts.layout import RunDir, RunInfo, load_run
from terralearn.errors import IncompatibleError
from terralearn.tasks.segmentation import SegmentationTask


def load_task(run: str | os.PathLike, which: str = "best") -> tuple[SegmentationTask, RunInfo]:
    """The trained segmentation task of a run, in eval mode on the CPU, and its RunInfo.

    Checkpoints are read with ``torch.load(weights_only=True)`` (no pickled code is executed);
    without ``best.ckpt`` the ``last.ckpt`` is used.

    Raises:
        NotARunError: not a segmentation run, or no checkpoint.
        IncompatibleError: the checkpoint does not fit the model it names.
    """
    info = RunDir(run).info(kind="segmentation")
    loaded = load_run(run)
    path = loaded.checkpoint(which)
    checkpoint = loaded.checkpoint_dict(which)
    hparams = checkpoint.get("hyper_parameters", {})
    task = SegmentationTask(**hparams)
    try:
        missing, unexpected = task.load_state_dict(checkpoint.get("state_dict", {}), strict=False)
    except RuntimeError as exc:  # tensors of the wrong shape
        first = str(exc).strip().splitlines()[-1].strip()
        raise IncompatibleError(
            f"checkpoint {str(path)!r} does not fit model {hparams.get('model', info.model)!r}: "
            f"{first}; it comes from a different model configuration"
        ) from None
    if missing or unexpected:
        raise IncompatibleError(
            f"checkpoint {str(path)!r} does not fit model {hparams.get('model', info.model)!r}: "
            f"{len(missing)} missing and {len(unexpected)} unexpected tensors "
            f"(e.g. {(missing or unexpected)[0]}); it comes from a different model"
        )
    task.eval()
    return task, info
