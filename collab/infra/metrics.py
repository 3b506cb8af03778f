"""What an operator watches, in Prometheus' terms (docs/operations.md, "Metrics").

With COLLAB_METRICS_DIR set (the settings export it as PROMETHEUS_MULTIPROC_DIR
before prometheus_client is imported), every worker process writes its series
there and `/metrics` sums them over all workers (prometheus_client's
multiprocess mode); without it, one process serves its own. The live gauges of a
worker that is gone, even one killed without a chance to say so, are dropped at
the next collection (`forget_dead_workers`); counters keep what they counted.

The keystroke path pays an increment on a memory-mapped value per message, a
microsecond or two: bench/metrics.py measures it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

CONNECTIONS = Gauge(
    "collab_ws_connections", "Open WebSocket connections to documents", ["worker"], multiprocess_mode="livesum"
)
ROOMS = Gauge("collab_rooms_open", "Documents open in rooms", ["worker"], multiprocess_mode="livesum")
CONNECTS = Counter("collab_ws_connects", "Document socket handshakes, by result", ["result"])
CLOSES = Counter("collab_ws_closes", "Connections the server closed, by close code", ["code"])
MESSAGES = Counter("collab_ws_messages", "Frames by direction (in: from clients, out: to them)", ["direction"])
BYTES = Counter("collab_ws_bytes", "Frame bytes by direction", ["direction"])
# Bound once: a label lookup per frame would cost more than the increment.
MESSAGES_IN, MESSAGES_OUT = MESSAGES.labels("in"), MESSAGES.labels("out")
BYTES_IN, BYTES_OUT = BYTES.labels("in"), BYTES.labels("out")
COMMIT_SECONDS = Histogram(
    "collab_commit_seconds",
    "From a group commit's start to its updates stored, applied and relayed",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
COMMIT_BATCH = Histogram(
    "collab_commit_batch_updates", "Updates stored by one group commit", buckets=(1, 2, 4, 8, 16, 32, 64, 128)
)
CATCH_UPS = Counter("collab_catch_ups", "Rooms that re-read the log after missing a relay")
OUTAGE_ERRORS = Counter("collab_service_errors", "Failed calls to Redis or PostgreSQL", ["service"])
WEBHOOKS = Counter("collab_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"])
HTTP_REQUESTS = Counter("collab_http_requests", "HTTP requests by status class", ["status"])
HTTP_SECONDS = Histogram(
    "collab_http_request_seconds",
    "HTTP request duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

WORKER = os.environ.get("COLLAB_WORKER_NAME", "") or str(os.getpid())


def exposition() -> bytes:
    """The text format, summed over every worker in multiprocess mode."""
    if MULTIPROCESS:
        forget_dead_workers()  # a SIGKILLed worker never ran worker_stopped()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


_PID = re.compile(r"_(\d+)\.db$")


def forget_dead_workers() -> int:
    """Remove the live gauges of worker processes that no longer run (at a worker's
    start and at each collection). The directory is per host, so a pid that does not
    answer signal 0 is a worker that is gone."""
    if not MULTIPROCESS:
        return 0
    files = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("gauge_live*_*.db")
    pids = {int(match.group(1)) for path in files if (match := _PID.search(path.name))}
    gone = 0
    for pid in pids:
        if not _alive(pid):
            try:
                multiprocess.mark_process_dead(pid)
            except FileNotFoundError:
                pass  # another worker's collection removed it first
            gone += 1
    return gone


def worker_stopped() -> None:
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
