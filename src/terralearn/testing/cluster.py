"""A real Dask cluster and an HTTP server with range requests, on 127.0.0.1, for tests and
benchmarks.

Both are started and stopped by the caller's ``with`` block and bounded in time: every wait has
a timeout, and leaving the block kills what is left. Nothing listens beyond the loopback.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0  # seconds for the scheduler and the workers to come up


@dataclass
class Cluster:
    """A ``dask scheduler`` and its ``dask worker`` processes (one thread each, no nanny)."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)


def _dask(*args: str, log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=cwd, env=env,
        start_new_session=True,
    )  # fmt: skip


@contextlib.contextmanager
def dask_cluster(
    folder: Path, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """Start a scheduler and ``workers`` single-threaded worker processes on 127.0.0.1.

    The processes run in ``folder`` (not the test's working directory: paths sent to them must
    be absolute) with torch on one thread (``OMP_NUM_THREADS=1``) and ``env`` added to this
    process's environment (e.g. a ``PYTHONPATH``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)  # a file from an earlier run names a dead scheduler
    scheduler = _dask(
        "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
        "--scheduler-file", str(scheduler_file),
        log=folder / "scheduler.log", cwd=folder, env=env,
    )  # fmt: skip
    cluster = Cluster("", scheduler)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.exists():
            if time.monotonic() > deadline or scheduler.poll() is not None:
                raise RuntimeError(f"no scheduler: {(folder / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written before the listener answers on slow machines
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            cluster.workers.append(
                _dask(
                    "worker",
                    cluster.address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                    log=folder / f"worker{i}.log",
                    cwd=folder,
                    env=env,
                )  # fmt: skip
            )
        yield cluster
    finally:
        for process in [*cluster.workers, scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Files of a folder with ``Range: bytes=a-b`` support (206 Partial Content), as GDAL's
    ``/vsicurl/`` needs; requests for bytes past ``max_offset`` (when set) fail with 500."""

    max_offset: int | None = None

    def log_message(self, *args) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match is None:
            start, end, status = 0, len(data) - 1, 200
        else:
            start = int(match.group(1))
            end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
            status = 206
        if self.max_offset is not None and end > self.max_offset:
            self.send_error(500, "range not served")
            return
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start : end + 1])


@contextlib.contextmanager
def http_server(folder: Path, max_offset: int | None = None) -> Iterator[str]:
    """Serve ``folder`` on ``http://127.0.0.1:PORT`` from a child process; yield the base URL.

    A process, not a thread: GDAL holds this process's GIL while it reads a URL, so a server
    thread here could not answer.
    """
    command = [sys.executable, __file__, str(folder), str(-1 if max_offset is None else max_offset)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
    try:
        port = server.stdout.readline().decode().strip()  # the child prints its port when ready
        if not port.isdigit():
            raise RuntimeError(f"the test HTTP server did not start: {port!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def _serve(folder: str, max_offset: int) -> None:
    handler = functools.partial(RangeRequestHandler, directory=folder)
    RangeRequestHandler.max_offset = None if max_offset < 0 else max_offset
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
