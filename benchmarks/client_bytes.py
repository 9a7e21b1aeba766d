"""Run the ``terralearn`` CLI and count the bytes this (client) process sends over Dask comms.

    python benchmarks/client_bytes.py predict RUN IMAGE OUT.zarr --dask tcp://HOST:8786

Every message a ``distributed`` client sends (to the scheduler or straight to workers) goes
through ``distributed.comm.tcp.TCP.write``, which returns the bytes it wrote; this wraps it
and prints ``client bytes sent: N`` on stderr when the command exits. Used by
``benchmarks/predict.py`` for the client-side traffic of ``--dask`` runs, with whichever
terralearn is first on ``PYTHONPATH`` (the current one, or an older checkout as a baseline).
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


def main() -> None:
    tcp.TCP.write = _counting(tcp.TCP.write)
    atexit.register(lambda: print(f"client bytes sent: {SENT[0]}", file=sys.stderr, flush=True))
    from terralearn.cli.main import cli

    sys.argv = ["terralearn", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
