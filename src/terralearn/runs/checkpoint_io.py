"""Checkpoints written atomically: serialise to memory, write a temporary file, fsync, rename.

Lightning's own checkpoint writer opens the final path for writing, so a kill mid-save can
leave a truncated ``last.ckpt``; with this plugin the old file stays intact until the new one
is complete.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from terralearn._fs import atomic_write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """A :class:`TorchCheckpointIO` whose saves are all-or-nothing and loads are weights-only."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)
