"""One keystroke's commit, from the event loop: psycopg's cursor against collab.storage.pgconn.

Runs collab's append statement (one update of one document) paced like a
typing client, over a psycopg AsyncConnection with prepared statements and over
`collab.storage.pgconn.PgConnection`, in alternating rounds on the same database, and
prints the round trip's p50/p99 and the client's CPU per append (the pacing
loop's own CPU measured apart and subtracted).

    .venv/bin/python bench/appends.py [--appends 2000] [--pace-ms 2] [--rounds 3]

PostgreSQL on 127.0.0.1:5432 (trust auth, user root); the database
`collab_appends` is made afresh. `bench/load/compare.py` times the same
append with `commit_alone()`, in its own database (`collab_load`), for its report.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres import LOCAL as POSTGRES  # noqa: E402
from bench.postgres import database_url, ready_wal_segments, recreate_database  # noqa: E402
from bench.run import setup_django  # noqa: E402

DATABASE = "collab_appends"


async def through_cursor(params, statement, n, pace):
    import psycopg

    conn = await psycopg.AsyncConnection.connect(autocommit=True, prepare_threshold=0, **params)
    try:
        return await paced(lambda: _cursor_append(conn, statement), n, pace)
    finally:
        await conn.close()


async def _cursor_append(conn, statement):
    cursor = await conn.execute(*statement())
    return await cursor.fetchall()


async def through_pgconn(params, statement, n, pace):
    from collab.storage.pgconn import PgConnection

    conn = await PgConnection.connect(params)
    try:
        return await paced(lambda: conn.fetch(*statement()), n, pace)
    finally:
        await conn.close()


async def paced(append, n, pace):
    latencies = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        await append()
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(pace)
    return sorted(latencies), time.process_time() - cpu


def p50_p99(latencies):
    """The median and 99th percentile of sorted latencies."""
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


async def pacing_cpu(n, pace):
    cpu = time.process_time()
    for _ in range(n):
        await asyncio.sleep(pace)
    return time.process_time() - cpu


def fixtures():
    """Connection parameters, and the statement appending one update to a new document."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from collab.models import Document
    from collab.realtime.db import loop_connection_params
    from collab.storage.persistence import append_statement
    from tests.helpers import edits

    user = get_user_model().objects.create_user(username="bench")
    document = str(Document.objects.create(owner=user).id)
    update = edits("x")[0]
    params, _ = loop_connection_params()
    connection.close()

    def statement():
        return append_statement([(document, [update], [user.pk])])

    return params, statement


async def measure(args, params, statement):
    idle = await pacing_cpu(args.appends, args.pace_ms / 1000)
    print(f"pacing loop alone: {idle / args.appends * 1e6:.0f} µs of CPU per step (subtracted below)")
    for round_ in range(1, args.rounds + 1):
        for name, run in (("psycopg cursor", through_cursor), ("collab.storage.pgconn", through_pgconn)):
            latencies, cpu = await run(params, statement, args.appends, args.pace_ms / 1000)
            p50, p99 = p50_p99(latencies)
            per = (cpu - idle) / args.appends * 1e6
            print(f"round {round_} {name:15s} p50 {p50 * 1e3:.3f} ms  p99 {p99 * 1e3:.3f} ms  client CPU {per:.0f} µs")


def commit_alone(appends: int, pace_ms: float) -> tuple[float, float]:
    """p50 and p99 in seconds of collab's append of one update, `appends` times
    `pace_ms` apart, over `collab.storage.pgconn` into the database Django is set up with."""
    params, statement = fixtures()
    latencies, _ = asyncio.run(through_pgconn(params, statement, appends, pace_ms / 1000))
    return p50_p99(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    recreate_database(DATABASE, **POSTGRES)
    print(ready_wal_segments(**POSTGRES))
    setup_django(database_url(DATABASE, **POSTGRES))
    print(f"{args.appends} appends {args.pace_ms} ms apart, one update each, per round", flush=True)
    asyncio.run(measure(args, *fixtures()))


if __name__ == "__main__":
    main()
