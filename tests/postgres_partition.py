"""A worker's PostgreSQL connections when the server's host goes away without a word.

Run by tests/test_postgres_partition.py inside network namespaces of its own;
PostgreSQL runs on another host (`tests.netns`), which stops answering. A
statement sent then, as a handshake's thread sends one over Django's connection,
should fail once the server has not acknowledged it for the user timeout, and
the event loop's idle connection should be seen broken once the keepalive
probes go unanswered. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import glob
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from collab.storage.pg_host import liveness_options
from collab.storage.pgconn import PgConnection
from tests.netns import THERE, OtherHost, as_user, report, run

PORT = 5440
KEEPALIVE = (1, 1, 2)  # probes from 1 s idle, 1 s apart: a dead connection is seen after about 3 s
USER_TIMEOUT = 2.0
CUT = 6.0  # seconds the other host stays silent


def postgres_host(workdir: Path) -> OtherHost:
    (bindir,) = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:] or [None]
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    data = workdir / "data"
    run(*as_user(f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "root", "--no-sync"))
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write("host all all 0.0.0.0/0 trust\n")
    host = OtherHost()
    host.serve(
        *as_user(f"{bindir}/postgres", "-D", str(data), "-k", str(workdir), "-h", THERE, "-p", str(PORT)), port=PORT
    )
    wait_until_accepting()
    return host


def wait_until_accepting(timeout: float = 20) -> None:
    """PostgreSQL listens before it takes connections: until its start-up ends it
    refuses them ("the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(**params()).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def params() -> dict:
    options = liveness_options(keepalive=KEEPALIVE, user_timeout=USER_TIMEOUT)
    return {"host": THERE, "port": PORT, "user": "root", "dbname": "postgres", "connect_timeout": 5, **options}


async def scenario(other: OtherHost) -> dict:
    threaded = psycopg.connect(**params(), autocommit=True)  # as Django's, in a handshake's thread
    idle = await PgConnection.connect(params())  # as the event loop's, between two commits
    seen = {"before": threaded.execute("SELECT 1").fetchone() == (1,) and await idle.fetch("SELECT 1", []) == [("1",)]}

    other.set_link("down")
    failed_after: list[float] = []

    def query() -> None:
        started = time.monotonic()
        try:
            threaded.execute("SELECT 1")
        except psycopg.OperationalError:
            failed_after.append(time.monotonic() - started)

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    await asyncio.sleep(CUT)
    seen["idle_seen_broken"] = idle.broken is not None
    await asyncio.to_thread(thread.join, 20 - CUT)
    seen["statement_failed_after_s"] = round(failed_after[0], 2) if failed_after else None
    return seen


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as workdir:
        report(postgres_host(Path(workdir)), scenario)
