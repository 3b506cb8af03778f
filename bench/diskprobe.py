"""How long the disk takes to flush a write, measured beside a benchmark.

collab commits every update before relaying it, so a relay waits for
PostgreSQL's WAL flush, and a disk whose flushes stall holds up every relay
meanwhile. The virtual disks the bench has run on have spells when a flush
that usually takes 0.3 ms takes 100-400 ms; the Node servers, which write
nothing before relaying, do not see them. This probe flushes a small write a few times
a second while a scenario runs, so that each result says what the disk did
meanwhile. Its file is written whole before the first flush: a flush then
carries data only, as PostgreSQL's WAL flushes do.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

FILE_BYTES = 1 << 20
BLOCK = 4096


class FlushProbe:
    """Writes a block and flushes it (`fdatasync`) `rate` times a second, on a thread of its own."""

    def __init__(self, directory: Path, rate: float = 20.0):
        self.directory = Path(directory)
        self.rate = rate
        self.times: list[float] = []  # milliseconds, one per flush
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FlushProbe:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="flush-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict:
        """Stop (again: no harm); return the flush count, p50, p99 and max in ms, and how many took 50 ms or more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return summarize(self.times)

    def _run(self) -> None:
        fd, path = tempfile.mkstemp(prefix="flush-probe-", dir=self.directory)
        try:
            os.write(fd, bytes(FILE_BYTES))
            os.fsync(fd)
            block, offset = b"x" * BLOCK, 0
            while not self._stop.wait(1 / self.rate):
                os.pwrite(fd, block, offset)
                offset = (offset + BLOCK) % FILE_BYTES
                started = time.perf_counter()
                os.fdatasync(fd)
                self.times.append((time.perf_counter() - started) * 1000)
        finally:
            os.close(fd)
            os.unlink(path)


def summarize(times: list[float]) -> dict:
    ordered = sorted(times)
    if not ordered:
        return {"count": 0}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "count": len(ordered),
        "p50": at(0.5),
        "p99": at(0.99),
        "max": ordered[-1],
        "slow": sum(t >= 50 for t in ordered),
    }
