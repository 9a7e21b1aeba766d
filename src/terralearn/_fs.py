"""Atomic outputs: write under a temporary sibling name, rename when complete; safe reads.

A killed process leaves at most a hidden ``.NAME.tmp-*`` sibling, never a half-written ``NAME``.
Weights are read with ``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from terralearn.errors import IncompatibleError, InputNotFoundError, OutputExistsError


def check_output(path: str | os.PathLike, overwrite: bool, option: str = "output") -> Path:
    """Fail early when ``path`` exists and may not be replaced."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{option} {str(path)!r} already exists; pass --overwrite to replace it "
            "or choose another path"
        )
    if not path.parent.exists():
        raise InputNotFoundError(
            f"{option} {str(path)!r}: the folder {str(path.parent)!r} does not exist; create it first"
        )
    return path


def remove(path: Path) -> None:
    """Remove a file or a folder tree, if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, overwrite: bool = False, directory: bool = False
) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success move it to ``path``.

    Args:
        path: final output (file or folder).
        overwrite: replace an existing ``path``.
        directory: create the temporary path as an empty folder.

    On any exception the temporary output is removed and ``path`` is untouched.
    """
    path = check_output(path, overwrite)
    fd_dir = str(path.parent)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=fd_dir))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix, dir=fd_dir)
        os.close(fd)
        tmp = Path(name)
    # mkstemp/mkdtemp create private (0600/0700) paths; give outputs the usual umask permissions
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)
    try:
        yield tmp
        if path.exists():
            remove(path)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsync, then rename), replacing any old file."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=str(path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def load_weights(path: str | os.PathLike) -> dict:
    """A checkpoint or tensor file read weights-only on the CPU; one-line error if unreadable."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or code-carrying file
        raise IncompatibleError(f"checkpoint {str(path)!r} cannot be read: {exc}") from None
