"""Scale-out with Dask ``distributed``: tiles are predicted on workers, written by this process.

``--dask local:N`` starts a :class:`distributed.LocalCluster` of ``N`` worker processes that
share this machine's cores (each runs torch on ``cores // N`` threads); any other value is the
address of a running scheduler (``tcp://host:8786``). The model is sent to every worker once;
this process reads the blocks of tiles, submits their batches a few blocks ahead, and blends the
results in tile order, so the output is the single-process output. Bit for bit when the workers
run torch on as many threads as this process does: with another thread count torch's
convolutions sum in another order, and probabilities differ in the last float32 bits (about
1e-7), which can flip the class of a pixel where two classes tie. ``distributed`` is imported
only here, when asked for.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from terralearn._memory import enabled as retain_memory_enabled
from terralearn._memory import retain_freed_memory
from terralearn.errors import ConfigError
from terralearn.predict.engine import Block, BlockResult
from terralearn.predict.model import Predictor


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "--dask needs the 'distributed' package; install it with `pip install distributed`"
        ) from None
    return distributed


def parse_dask(spec: str) -> tuple[str, int | str]:
    """``"local:N"`` -> ``("local", N)``; anything else -> ``("address", spec)``.

    Raises:
        ConfigError: ``local:`` without a positive worker count.
    """
    spec = spec.strip()
    if spec.startswith("local"):
        _, _, count = spec.partition(":")
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(
                f"--dask {spec!r}: give the number of local workers, e.g. --dask local:4, "
                "or a scheduler address such as tcp://host:8786"
            )
        return "local", int(count)
    if not spec:
        raise ConfigError("--dask is empty; give local:N or a scheduler address")
    return "address", spec


@contextlib.contextmanager
def dask_client(spec: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (``local:N``, an address, or a Client to reuse).

    A cluster started here is shut down on exit; a given Client is left open.
    """
    distributed = _import_distributed()
    if isinstance(spec, distributed.Client):
        yield spec
        return
    kind, value = parse_dask(str(spec))
    if kind == "local":
        cluster = distributed.LocalCluster(
            n_workers=int(value), threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = distributed.Client(cluster)
        try:
            # our own workers only predict: let them keep freed memory (see terralearn._memory)
            if retain_memory_enabled():
                client.run(retain_freed_memory)
            client.run(_set_torch_threads, worker_threads(int(value)))
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = distributed.Client(str(value), timeout="20s")
    except OSError as exc:
        raise ConfigError(
            f"--dask {value!r}: cannot reach a Dask scheduler there ({exc}); "
            "check the address or use --dask local:N"
        ) from None
    try:
        yield client
    finally:
        client.close()


def worker_threads(workers: int) -> int:
    """Torch threads per local worker: this machine's cores shared without oversubscription."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


def _set_torch_threads(count: int) -> None:
    # distributed starts workers with OMP_NUM_THREADS=1; torch takes its count at run time
    import torch

    torch.set_num_threads(count)


def _predict_batch(predictor: Predictor, batch: np.ndarray, tta: bool) -> np.ndarray:
    return predictor(batch, tta)


def dask_runner(client: Any, ahead: int | None = None):
    """A runner for :func:`terralearn.predict.engine.iter_predictions` that uses ``client``.

    Args:
        client: a ``distributed.Client``.
        ahead: blocks of tiles in flight at once (default: 2 per worker, at least 2).
    """

    def run(
        predictor: Predictor, blocks: Iterable[Block], batch_size: int, tta: bool
    ) -> Iterator[BlockResult]:
        workers = max(len(client.scheduler_info().get("workers", {})), 1)
        depth = ahead or max(2, 2 * workers)
        model = client.scatter(predictor, broadcast=True, hash=False)
        pending: deque[tuple[Block, list[Any]]] = deque()
        try:
            for block in blocks:
                futures = [
                    client.submit(
                        _predict_batch,
                        model,
                        np.stack([t for _, _, t in block.tiles[i : i + batch_size]]),
                        tta,
                        pure=False,
                    )  # fmt: skip
                    for i in range(0, len(block.tiles), batch_size)
                ]
                pending.append((block, futures))
                if len(pending) >= depth:
                    yield _collect(*pending.popleft())
            while pending:
                yield _collect(*pending.popleft())
        finally:
            for _, futures in pending:
                client.cancel(futures)
            client.cancel(model)

    return run


def _collect(block: Block, futures: list[Any]) -> BlockResult:
    out: list[np.ndarray] = []
    for future in futures:
        out.extend(future.result())
    return block, out
