"""Budgets: what a handshake and a message cost in trips to threads, and which form the hot paths take.

The tests check behaviour; these are costs, so they are printed here, each beside its
budget, rather than asserted in the suite. Exit status 1 if one is over.

- trips to the database threads (`collab.realtime.db.run`) of a handshake that opens a
  room, and of one that joins a room already open: under a reconnect after a restart
  every room opens at once, and each trip waits for a free thread. On PostgreSQL a
  room opens from the event loop's own connections (`collab.storage.pgconn`) instead;
- hops to a thread that channels makes to close old database connections, per message
  (before every message, unless the consumer does without: its own database call
  closes them already, and frames need none);
- whether the append statement of one document takes the lock step that several
  documents need (`FOR UPDATE` in id order: 13 % more database CPU per append);
- the parser redis-py uses for the Pub/Sub replies that carry other workers' events
  (hiredis's C parser, or Python's).

  .venv/bin/python bench/budgets.py [--database-url sqlite:///...] [--redis-url redis://127.0.0.1:6379/0]

By default a fresh SQLite file in the system's temporary directory; a PostgreSQL URL
(its database name must contain "bench": it is dropped and recreated) measures the
event loop's connections.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_budgets_bench.sqlite3'}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="for the parser; skipped if down")
    args = parser.parse_args(argv)
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection

    from collab.models import Document
    from tests.conftest import session_cookie

    user = get_user_model().objects.create_user(username="budgets")
    documents = [Document.objects.create(owner=user, title=f"budgets {i}") for i in range(2)]
    cookie = session_cookie(user)
    on_postgres = connection.vendor == "postgresql"
    connection.close()

    rows = asyncio.run(measure([str(d.id) for d in documents], cookie, args.redis_url))
    rows.append(append_lock_step(str(documents[0].id)))
    over = False
    print(f"database: {'PostgreSQL' if on_postgres else 'SQLite'}")
    print(f"{'what':<58} {'measured':<40} budget")
    for what, measured, budget, within in rows:
        over |= within is False
        mark = "" if within is None else ("" if within else "   OVER BUDGET")
        print(f"{what:<58} {measured:<40} {budget}{mark}")
    return 1 if over else 0


async def connect(document_id: str, cookie: str, name: str):
    from channels.testing import WebsocketCommunicator

    from config.asgi import application
    from tests.yclient import CommunicatorTransport, YClient

    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    comm = WebsocketCommunicator(application, f"/ws/docs/{document_id}/", headers=headers)
    connected, code = await comm.connect()
    if not connected:
        raise SystemExit(f"the handshake was refused ({code})")
    return await YClient(CommunicatorTransport(comm), name=name).connect()


async def measure(document_ids: list[str], cookie: str, redis_url: str) -> list[tuple]:
    import channels.consumer
    import channels.generic.websocket

    from collab.realtime import db

    on_loop = db.use_loop_connections()
    trips: list[str] = []
    hops: list[bool] = []
    run = db.run

    async def recording_run(fn, *args, **kwargs):
        trips.append(fn.__name__)
        return await run(fn, *args, **kwargs)

    async def recording_hop():
        hops.append(True)

    saved = (channels.consumer.aclose_old_connections, channels.generic.websocket.aclose_old_connections)
    db.run = recording_run
    channels.consumer.aclose_old_connections = recording_hop
    channels.generic.websocket.aclose_old_connections = recording_hop  # the close
    try:
        first = await connect(document_ids[0], cookie, "first")
        opening = list(trips)
        trips.clear()
        second = await connect(document_ids[0], cookie, "second")
        joining = list(trips)
        hops.clear()
        for i in range(10):
            first.insert(0, f"{i} ")
            await first.wait_for(lambda n=i: first.received_updates > n)  # the echo: stored
        await second.wait_for(lambda: second.value() == first.value())
        await first.close()
        await second.close()
    finally:
        db.run = run
        channels.consumer.aclose_old_connections, channels.generic.websocket.aclose_old_connections = saved
        await db.close_loop_connections()

    open_budget = ["load_user"] if on_loop else ["load_user", "load_rights", "read_since"]
    rows = [
        ("trips to the database threads: a handshake opening a room", ", ".join(opening), ", ".join(open_budget)),
        ("trips to the database threads: a handshake joining it", ", ".join(joining), "load_user"),
    ]
    rows = [(what, measured, budget, measured == budget) for what, measured, budget in rows]
    rows.append(("channels' hops to close connections: 10 messages, 2 closes", str(len(hops)), "0", not hops))
    rows.append(await redis_parser(redis_url))
    return rows


async def redis_parser(url: str) -> tuple:
    what = "redis-py's parser of other workers' events"
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from collab.infra import redis_host

    layer = RedisPubSubChannelLayer(hosts=[redis_host.layer_host(url, timeout=5)])
    try:
        channel = await layer.new_channel("room.")
        await layer.group_add("budgets", channel)
        await layer.group_send("budgets", {"type": "doc.updates"})
        await asyncio.wait_for(layer.receive(channel), 5)
        (shard,) = layer._get_layer()._shards
        parser = type(shard._pubsub.connection._parser).__name__
    except Exception as exc:  # Redis down: nothing to measure
        return what, f"not measured ({type(exc).__name__})", "_AsyncHiredisParser", None
    finally:
        await layer.flush()
    return what, parser, "_AsyncHiredisParser", parser == "_AsyncHiredisParser"


def append_lock_step(document_id: str) -> tuple:
    from collab.storage import persistence
    from tests.helpers import edits

    single, _ = persistence.append_statement([(document_id, edits("a"), [None])])
    takes = "FOR UPDATE" in single
    return "one document's append takes the lock step of several", "yes" if takes else "no", "no", not takes


if __name__ == "__main__":
    sys.exit(main())
