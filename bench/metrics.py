"""What recording metrics costs a keystroke: its commit and relay to five pages in a
room, with the metrics recorded (multiprocess mode, as under several workers) and
with every series replaced by one that records nothing, in alternating rounds of
the same run, in one process without sockets.

  .venv/bin/python bench/metrics.py [--database-url sqlite:///...] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.history import ms  # noqa: E402
from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_metrics_bench.sqlite3'}"


class Nothing:
    """A series that records nothing."""

    def inc(self, *args, **kwargs):
        pass

    dec = observe = inc

    def labels(self, *args, **kwargs):
        return self


async def rounds_of_keystrokes(owner, rounds: int, per_round: int) -> tuple[list[float], list[float]]:
    from channels.db import database_sync_to_async
    from pycrdt import Doc, Text

    from collab.infra import metrics
    from collab.models import Document
    from collab.realtime.registry import RoomRegistry
    from collab.yjs import protocol
    from tests.helpers import FakeConnection

    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Metrics bench")
    registry = RoomRegistry()
    connections = [FakeConnection(owner.pk) for _ in range(6)]
    room = None
    for conn in connections:
        room = await registry.join(document.id, conn, conn.seat)
    typist = connections[0]
    doc = Doc()
    typed: list[bytes] = []
    doc.observe(lambda event: typed.append(event.update))
    text = doc.get("content", type=Text)
    real = {n: v for n, v in vars(metrics).items() if n.isupper() and (hasattr(v, "inc") or hasattr(v, "observe"))}
    recorded: list[float] = []
    silent: list[float] = []

    async def keystrokes(into: list[float]) -> None:
        for _ in range(per_round):
            text.insert(len(text), random.choice("abcdefgh "))
            frame = protocol.sync_update(typed.pop())
            started = time.perf_counter()
            await room.receive(typist, frame)
            await room.drain()
            into.append(time.perf_counter() - started)

    await keystrokes([])
    for round_ in range(rounds):
        for record in (round_ % 2 == 0, round_ % 2 == 1):
            for name, series in real.items():
                setattr(metrics, name, series if record else Nothing())
            await keystrokes(recorded if record else silent)
    for name, series in real.items():
        setattr(metrics, name, series)
    for conn in connections:
        await registry.leave(room, conn)
    return recorded, silent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    os.environ.setdefault("COLLAB_RATE_MESSAGES", "100000")
    os.environ.setdefault("COLLAB_METRICS_DIR", tempfile.mkdtemp(prefix="collab-metrics-"))
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection

    from collab.infra import metrics

    owner = get_user_model().objects.create_user(username="metrics")
    print(f"database: {connection.vendor}; metrics in multiprocess mode: {metrics.MULTIPROCESS}")
    recorded, silent = asyncio.run(rounds_of_keystrokes(owner, args.rounds, 200))
    added = statistics.median(recorded) / statistics.median(silent) - 1
    print(
        f"A keystroke's commit and relay to 5 pages: metrics recorded {ms(recorded)}; "
        f"not recorded {ms(silent)}; medians {added * 100:+.1f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
