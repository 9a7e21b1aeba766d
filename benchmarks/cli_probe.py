"""Run the ``terralearn`` CLI and report its peak memory and the bytes it sends over Dask comms.

    python benchmarks/cli_probe.py predict RUN IMAGE OUT.zarr --dask tcp://HOST:8786

At exit it prints on stderr ``peak rss: N`` (``VmHWM`` of ``/proc/self/status``: the peak of
this process image only; ``ru_maxrss`` of a child also counts its parent's pages between fork
and exec) and ``client bytes sent: N``: every message a ``distributed`` client sends (to the
scheduler or straight to workers) goes through ``distributed.comm.tcp.TCP.write``, which
returns the bytes it wrote. Used by ``benchmarks/predict.py``, with whichever terralearn is
first on ``PYTHONPATH`` (the current one, or an older checkout as a baseline).
"""

from __future__ import annotations

import atexit
import sys

from distributed.comm import tcp

SENT = [0]


def _counting(write):
    async def counted(self, *args, **kwargs):
        nbytes = await write(self, *args, **kwargs)
        SENT[0] += int(nbytes or 0)
        return nbytes

    return counted


def peak_rss() -> int:
    """Bytes: the high-water mark of this process's resident memory (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def report() -> None:
    print(f"peak rss: {peak_rss()}", file=sys.stderr, flush=True)
    print(f"client bytes sent: {SENT[0]}", file=sys.stderr, flush=True)


def main() -> None:
    tcp.TCP.write = _counting(tcp.TCP.write)
    atexit.register(report)
    from terralearn.cli.main import cli

    sys.argv = ["terralearn", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
