"""Dask ``distributed`` clients for prediction: a local cluster or a running scheduler.

``--dask local:N`` starts a :class:`distributed.LocalCluster` of ``N`` worker processes that
share this machine's cores (each runs torch on ``cores // N`` threads); any other value is the
address of a running scheduler (``tcp://host:8786``), whose workers predict with the threads
they were started with (``dask worker --nthreads``; torch then uses one thread per worker
process, as Dask sets ``OMP_NUM_THREADS=1``). What the workers do is in
:mod:`terralearn.predict.workers`. Outputs equal the single-process output bit for bit when
the workers run torch on as many threads as this process does: with another thread count
torch's convolutions sum in another order, and probabilities differ in the last float32 bits
(about 1e-7), which can flip the class of a pixel where two classes tie. ``distributed`` is
imported only here and in the workers module, when asked for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from terralearn._memory import enabled as retain_memory_enabled
from terralearn._memory import retain_freed_memory
from terralearn.errors import ConfigError

DEFAULT_TIMEOUT = 20.0  # seconds to wait for a scheduler


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
def dask_client(spec: Any, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (``local:N``, an address, or a Client to reuse).

    A cluster started here is shut down on exit; a given Client is left open.

    Raises:
        ConfigError: no scheduler answers at the address within ``timeout`` seconds.
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
        client = distributed.Client(str(value), timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"--dask {value!r}: no Dask scheduler answered within {timeout:g} s "
            f"({_first_line(exc)}); check the address (tcp://HOST:8786, from `dask scheduler`) "
            "or use --dask local:N"
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
