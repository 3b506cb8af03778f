"""Several real daphne workers behind a real Redis, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import secrets
import time
import urllib.request

import pytest
import redis
import websockets
from channels.db import database_sync_to_async

from collab.models import Document
from collab.storage import persistence
from tests.conftest import running_workers, session_cookie, until
from tests.servers import RedisServer, Server
from tests.yclient import YClient, open_client, random_edit

pytestmark = pytest.mark.processes


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Shared")


async def converge(clients: list[YClient], expected: str | None = None, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        values = {client.value() for client in clients}
        if len(values) == 1 and (expected is None or values == {expected}):
            return values.pop()
        if time.monotonic() > deadline:
            raise AssertionError(f"no convergence in {timeout}s: {sorted(len(v) for v in values)} chars")
        await asyncio.sleep(0.05)


async def stored_text(document) -> str:
    return await database_sync_to_async(persistence.document_text)(document.id)


async def stored_is(document, text: str) -> bool:
    return await stored_text(document) == text


async def test_ten_clients_on_two_workers_converge(two_workers, document, cookie):
    clients = [await open_client(two_workers[i % 2], document, cookie, f"c{i}") for i in range(10)]
    rng = random.Random(20261126)
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        random_edit(rng.choice(clients), rng)
        await asyncio.sleep(rng.uniform(0, 0.01))
    text = await converge(clients)
    assert len(text) > 50
    fresh = [await open_client(worker, document, cookie, f"fresh{i}") for i, worker in enumerate(two_workers)]
    await converge(fresh, text)
    assert await stored_text(document) == text
    for client in clients + fresh:
        await client.close()


async def test_nothing_received_is_lost_when_every_worker_is_killed(two_workers, document, cookie):
    writer = await open_client(two_workers[0], document, cookie, "writer")
    reader = await open_client(two_workers[1], document, cookie, "reader")
    for i in range(50):
        writer.insert(len(writer.text), f"{i},")
    expected = "".join(f"{i}," for i in range(50))
    await converge([reader], expected)  # the last update reached the client on the other worker...
    for worker in two_workers:
        worker.kill()  # ...and right away every worker dies
    await writer.close()
    await reader.close()
    for worker in two_workers:
        worker.start()
    fresh = await open_client(two_workers[1], document, cookie, "fresh")
    assert fresh.value() == expected
    await fresh.close()


async def test_replicas_converge_after_a_redis_restart_and_relay_through_it_again(
    transactional_db, redis_server, document, cookie
):
    # At INFO a worker logs each repair from the log ("caught up from the log").
    with running_workers(redis_server.url, env={"LOG_LEVEL": "INFO"}, name="restart") as workers:
        a = await open_client(workers[0], document, cookie, "a")
        b = await open_client(workers[1], document, cookie, "b")
        a.insert(0, "before ")
        await converge([a, b], "before ")
        redis_server.restart()  # every subscription is gone
        a.insert(len(a.text), "after-a ")
        b.insert(0, "after-b ")
        text = await converge([a, b])
        assert text == "after-b before after-a "
        assert await stored_text(document) == text
        # The log repair alone would converge too: an edit that reaches the other
        # worker without that worker catching up from the log came through Redis.
        deadline = time.monotonic() + 30
        while True:
            mark = workers[1].log_path.stat().st_size
            a.insert(0, "!")
            text = await converge([a, b], "!" + text)
            if "caught up from the log" not in workers[1].log_path.read_bytes()[mark:].decode():
                break
            assert time.monotonic() < deadline, "edits reach the other worker only through the log"
        await a.close()
        await b.close()


async def test_a_redis_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    two_workers, redis_server, document, cookie
):
    a = await open_client(two_workers[0], document, cookie, "a")
    b = await open_client(two_workers[1], document, cookie, "b")
    a.insert(0, "before ")
    await converge([a, b], "before ")
    marks = [worker.log_path.stat().st_size for worker in two_workers]

    redis_server.stop()
    for i in range(8):  # typing on both workers through the outage: a failed publish each
        (a, b)[i % 2].insert(0, f"{i} ")
        await asyncio.sleep(0.5)
    redis_server.start()
    text = await converge([a, b], timeout=10)  # through the database meanwhile, Redis afterwards
    assert len(text) == len("before ") + 8 * 2
    assert await stored_text(document) == text

    def since_the_outage(worker: Server, mark: int) -> str:
        return worker.log_path.read_bytes()[mark:].decode()

    assert await until(
        lambda: all("Redis answers again: " in since_the_outage(w, m) for w, m in zip(two_workers, marks, strict=True)),
        timeout=30,
    ), "no worker said Redis answered again"
    for worker, mark in zip(two_workers, marks, strict=True):
        log = since_the_outage(worker, mark)
        # Without the outage's account: a traceback a second from channels-redis's
        # receiver, and a warning per failed publish.
        assert "Traceback" not in log
        warnings = [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]
        assert len(warnings) == 2, warnings
        assert "Redis unreachable (" in warnings[0]
        assert "Redis answers again: " in warnings[1]
    await a.close()
    await b.close()


async def test_sigterm_stores_every_update_received_and_asks_clients_to_reconnect(two_workers, document, cookie):
    worker = two_workers[0]
    client = await open_client(worker, document, cookie, "client")
    for i in range(20):
        client.insert(len(client.text), f"{i} ")
    expected = client.value()
    # Frames are handled in order: once the awareness echo is back the server has
    # read every update (stored or not yet).
    await client.set_awareness({"cursor": None})
    await client.wait_for(lambda: client.client_id in client.present())
    worker.proc.terminate()
    assert await client.wait_closed(timeout=10) == 4503
    assert worker.proc.wait(timeout=10) == 0
    await client.close()
    assert await stored_text(document) == expected


async def test_a_role_change_reaches_and_a_revocation_closes_connections_on_every_worker(
    two_workers, shared_document, editor, owner
):
    from collab.access import sharing

    cookie = await database_sync_to_async(session_cookie)(editor)
    link = await database_sync_to_async(sharing.link_create)(
        document=shared_document, role="editor", expires_at=None, created_by=owner
    )
    members = [await open_client(worker, shared_document, cookie, f"editor{i}") for i, worker in enumerate(two_workers)]
    guests = []
    for i, worker in enumerate(two_workers):
        guest = YClient.websocket(
            f"{worker.ws_url}/ws/docs/{shared_document.id}/?share={link.token}", origin=worker.url, name=f"guest{i}"
        )
        guests.append(await guest.connect())

    await database_sync_to_async(sharing.membership_set)(document=shared_document, user=editor, role="viewer")
    for client in members:
        await client.wait_for(lambda c=client: (c.rights or {}).get("canWrite") is False)

    await database_sync_to_async(sharing.membership_remove)(document=shared_document, user=editor)
    await database_sync_to_async(sharing.link_revoke)(link=link)
    codes = [await client.wait_closed(timeout=10) for client in members + guests]
    assert codes == [4403] * 4


async def test_a_room_opening_on_another_worker_learns_who_is_already_there(two_workers, document, cookie):
    a = await open_client(two_workers[0], document, cookie, "a")
    await a.set_awareness({"cursor": None})
    await a.wait_for(lambda: a.client_id in a.present())
    b = await open_client(two_workers[1], document, cookie, "b")  # worker 2 opens its room now
    await b.wait_for(lambda: a.client_id in b.present())  # this client never renews its state: no stand-in
    assert b.present()[a.client_id]["user"]["name"] == "olivia"
    await a.close()
    await b.wait_for(lambda: a.client_id not in b.present())
    await b.close()


async def test_a_worker_alone_with_a_document_tells_a_second_one_as_soon_as_it_opens(
    transactional_db, redis_server, document, cookie
):
    """A worker alone with a document publishes nothing once its announcement window
    has passed; when a second worker opens the document the two find each other and
    relay at once both ways. The ticker is slowed to 30 s so that it cannot stand in."""
    from collab.realtime.replication import Replication

    with running_workers(redis_server.url, env={"COLLAB_RESYNC_INTERVAL": "30"}, name="alone") as workers:
        a = await open_client(workers[0], document, cookie, "a")
        a.insert(0, "first ")
        await asyncio.sleep(Replication.ANNOUNCE_SECONDS + 0.5)
        a.insert(len(a.value()), "alone ")  # committed while no other worker listens
        assert await until(lambda: stored_is(document, "first alone "))
        b = await open_client(workers[1], document, cookie, "b")
        await converge([a, b], "first alone ")
        await asyncio.sleep(Replication.ANNOUNCE_SECONDS + 0.5)  # b's room no longer publishes unless it knows of a's
        a.insert(0, "then ")
        b.insert(len(b.value()), "both")
        text = await converge([a, b])
        assert text.startswith("then first alone ") and text.endswith("both")
        assert await stored_text(document) == text
        await a.close()
        await b.close()


async def messages_on(listener, seconds: float, *, enough: int | None = None) -> int:
    """How many messages a Redis Pub/Sub subscription gets within `seconds` (or sooner, `enough`)."""
    count, deadline = 0, time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and count != enough:
        if await listener.get_message(ignore_subscribe_messages=True, timeout=left) is not None:
            count += 1
    return count


async def test_a_worker_stops_relaying_to_one_that_crashed(transactional_db, redis_server, document, cookie):
    """A killed worker says no goodbye; the other forgets it after COLLAB_PEER_TIMEOUT
    of silence and stops publishing the document's updates to Redis."""
    from collab.realtime.replication import Replication

    env = {"COLLAB_PEER_TIMEOUT": "1.5", "COLLAB_RESYNC_INTERVAL": "0.1", "LOG_LEVEL": "INFO"}
    client = redis.asyncio.Redis.from_url(redis_server.url)
    listener = client.pubsub()
    await listener.subscribe(f"asgi__group__doc.{document.id}")  # channels-redis's name for the group
    await listener.psubscribe("asgiworker.*")  # and for the workers' inboxes (collab.realtime.inbox)
    try:
        with running_workers(redis_server.url, env=env, name="crash") as workers:
            a = await open_client(workers[0], document, cookie, "a")
            b = await open_client(workers[1], document, cookie, "b")
            await asyncio.sleep(Replication.ANNOUNCE_SECONDS + 0.5)
            await messages_on(listener, 0.1)
            a.insert(0, "relayed ")
            await converge([a, b], "relayed ")
            assert await messages_on(listener, 10, enough=1) == 1  # published while worker 2 holds the document
            mark = workers[0].log_path.stat().st_size
            workers[1].kill()
            assert await until(lambda: b"no longer relaying to it" in workers[0].log_path.read_bytes()[mark:])
            await messages_on(listener, 0.1)
            a.insert(len(a.value()), "alone")
            await a.wait_for(lambda: a.received_updates >= 2)  # the echo: stored, and past any relay
            assert await stored_text(document) == "relayed alone"
            # Nothing to wait for: a short look finds that nothing was published.
            assert await messages_on(listener, 1.0) == 0
            await a.close()
    finally:
        await listener.aclose()
        await client.aclose()


def log_out(server: Server, cookie: str) -> int:
    """POST the logout form to `server` as the browser would; the response's status."""
    token = secrets.token_hex(16)  # any 32-character CSRF secret, sent as cookie and header
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {"Cookie": f"{cookie}; csrftoken={token}", "X-CSRFToken": token, "Origin": server.url}
        conn.request("POST", "/accounts/logout/", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


async def test_a_logout_on_one_worker_ends_the_session_on_every_worker(two_workers, redis_server, document, cookie):
    await (await open_client(two_workers[1], document, cookie, "before")).close()  # worker 2 has read the session
    cached = redis.Redis.from_url(redis_server.url)
    try:
        assert await asyncio.to_thread(cached.keys, "collab:*")  # in the cache the workers share
    finally:
        cached.close()
    assert await asyncio.to_thread(log_out, two_workers[0], cookie) == 302
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_client(two_workers[1], document, cookie, "after")
    assert refused.value.response.status_code == 403


def test_people_who_join_one_after_another_get_different_colours():
    from collab.access.identity import color_for

    colours = {color_for(f"user:{n}")[0] for n in range(1, 9)}
    assert len(colours) == 8


async def test_two_workers_behind_a_redis_that_speaks_only_tls(transactional_db, document, cookie, tmp_path):
    # rediss:// for the channel layer, the session cache and presence alike; the
    # URL names the CA that signed the server's certificate.
    with RedisServer(tls_dir=tmp_path) as tls, running_workers(tls.url, name="tls") as workers:
        a = await open_client(workers[0], document, cookie, "a")
        b = await open_client(workers[1], document, cookie, "b")
        await a.set_awareness({"cursor": None})
        await b.set_awareness({"cursor": None})
        a.insert(0, "over TLS")
        await converge([a, b], "over TLS")
        await b.wait_for(lambda: a.client_id in b.present())
        await a.wait_for(lambda: b.client_id in a.present())
        for worker in workers:
            with urllib.request.urlopen(worker.url + "/healthz", timeout=5) as response:
                assert json.load(response) == {"database": "ok", "channel_layer": "ok"}
        cached = redis.Redis.from_url(tls.url)
        try:

            async def both_tickers_wrote_presence() -> bool:
                return len(await asyncio.to_thread(cached.keys, "collab:presence:*")) >= 2

            assert await until(both_tickers_wrote_presence)
            assert await asyncio.to_thread(cached.keys, "collab:*session*")  # the sessions the handshakes read
        finally:
            cached.close()
        await a.close()
        await b.close()
        assert await stored_text(document) == "over TLS"
