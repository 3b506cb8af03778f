"""The bench's PostgreSQL: a database made afresh, and WAL segments ready before the writes.

collab commits every update before relaying it, so a relay waits for PostgreSQL's
WAL flush. When the WAL needs a new segment file, the backend that needs it
writes it whole (16 MiB of zeros, then an fsync) while holding the WAL write
lock, so every commit behind it waits. A server that has been running seldom
does this: each checkpoint renames the segments it no longer needs into future
ones (`wal_recycle`, kept down to `min_wal_size`). A cluster that has written
little since it was made has none to rename, and its first tens of megabytes
of WAL, a scenario's worth, come from new files. Four connections committing
every 5 ms for 30 s on a new cluster: longest commit 792 ms, 48 over 50 ms;
with segments made ready by this module, 26 ms and none (one run each; the
disk's own slow spells, see bench.diskprobe, come on top of either). So the
bench has segments ready first, and measures the steady state.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

LOCAL = {"user": "root", "host": "127.0.0.1", "port": 5432}  # the bench's PostgreSQL
SEGMENTS_AHEAD = 8  # 128 MiB with the default segment size; a full compare.py run wrote 86 MiB

_READY = (
    "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND name > pg_walfile_name(pg_current_wal_lsn())"
)


def database_url(name: str, **params) -> str:
    """Django's DATABASE_URL for the database `name` (no password)."""
    return "postgres://{user}@{host}:{port}/".format(**params) + name


def recreate_database(name: str, **params) -> None:
    """Drop the database `name` (closing its connections) and create it empty."""
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ready_wal_segments(segments: int = SEGMENTS_AHEAD, **params) -> str:
    """Have at least `segments` WAL segment files ready beyond the current one; say what was done.

    Switches to the next segment `segments` + 1 times, through those that are ready
    and on into new ones (each written whole now rather than during a measurement);
    then a checkpoint recycles all it passed as future segments.
    Needs a superuser (pg_switch_wal, CHECKPOINT); without one the bench goes on
    and says so.
    """
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        try:
            ready = conn.execute(_READY).fetchone()[0]
            if ready >= segments:
                return f"PostgreSQL WAL: {ready} segments ready ahead"
            for _ in range(segments + 1):
                # A switch with nothing written since the last one does nothing.
                conn.execute("SELECT pg_logical_emit_message(false, 'bench', 'ready')")
                conn.execute("SELECT pg_switch_wal()")
            conn.execute("CHECKPOINT")
            after = conn.execute(_READY).fetchone()[0]
        except psycopg.errors.InsufficientPrivilege as exc:
            return f"PostgreSQL WAL: segments not checked or made ready ({exc.diag.message_primary})"
        return f"PostgreSQL WAL: {ready} segments were ready ahead, {after} after recycling"
