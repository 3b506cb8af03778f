"""Connections per person and per document, counted across workers in Redis."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis
import redis.asyncio
import websockets

from collab.exceptions import CloseCode, RateLimited
from collab.realtime.connection_limits import ConnectionCounts, document_key, person_key
from tests.conftest import running_workers, session_cookie, until
from tests.servers import RedisServer
from tests.yclient import YClient

pytestmark = pytest.mark.processes

LEASE = 3.0  # seconds, for the workers below: renewed every second


# -- the bookkeeping, on a real Redis -----------------------------------------------


@pytest.fixture
async def client(redis_server):
    connection = redis.asyncio.from_url(redis_server.url)
    yield connection
    await connection.aclose()


@pytest.fixture
def limits(settings):
    settings.COLLAB_MAX_CONNECTIONS_PER_USER = 2
    settings.COLLAB_MAX_CONNECTIONS_PER_DOCUMENT = 3
    settings.COLLAB_CONNECTION_LEASE = 0.5
    return settings


async def counted(client, key: str) -> int:
    return await client.zcard(key)


async def test_a_person_over_the_limit_on_two_workers_is_refused_and_a_release_frees_a_place(client, limits):
    one, two = ConnectionCounts(client), ConnectionCounts(client)
    first, second, third = object(), object(), object()
    await one.admit(first, person="user:1", document_id="d")
    await two.admit(second, person="user:1", document_id="d")
    with pytest.raises(RateLimited, match="for this user"):
        await one.admit(third, person="user:1", document_id="d")
    assert third not in one.held
    one.release(first)
    assert await until(lambda: _is(counted(client, person_key("user:1")), 1), timeout=5)
    await one.admit(third, person="user:1", document_id="d")
    assert await counted(client, person_key("user:1")) == 2
    assert await counted(client, document_key("d")) == 2


async def test_a_document_over_the_limit_is_refused_whoever_asks(client, limits):
    one, two = ConnectionCounts(client), ConnectionCounts(client)
    for i in range(3):
        await (one, two)[i % 2].admit(object(), person=f"user:{i}", document_id="d")
    with pytest.raises(RateLimited, match="to this document"):
        await two.admit(object(), person="user:9", document_id="d")
    assert await counted(client, person_key("user:9")) == 0  # refused: counted nowhere
    await two.admit(object(), person="user:9", document_id="other")


async def test_of_many_handshakes_at_once_on_two_workers_only_the_limit_get_in(client, limits):
    limits.COLLAB_MAX_CONNECTIONS_PER_DOCUMENT = 5
    workers = [ConnectionCounts(client), ConnectionCounts(client)]

    async def handshake(i: int) -> bool:
        try:
            await workers[i % 2].admit(object(), person=f"user:{i}", document_id="d")
        except RateLimited:
            return False
        return True

    admitted = await asyncio.gather(*(handshake(i) for i in range(20)))
    assert sum(admitted) == 5
    assert await counted(client, document_key("d")) == 5


async def test_renewed_leases_keep_counting_and_lapsed_ones_stop(client, limits):
    limits.COLLAB_MAX_CONNECTIONS_PER_USER = 1
    alive, killed = ConnectionCounts(client), ConnectionCounts(client)
    await alive.admit(object(), person="user:1", document_id="a")
    await killed.admit(object(), person="user:2", document_id="b")
    # Three leases of renewals every tick (as the ticker calls it); the killed worker renews nothing.
    deadline = time.monotonic() + 3 * limits.COLLAB_CONNECTION_LEASE
    while time.monotonic() < deadline:
        await alive.renew()
        await asyncio.sleep(0.05)
    with pytest.raises(RateLimited):
        await alive.admit(object(), person="user:1", document_id="a")
    await killed.admit(object(), person="user:2", document_id="b")  # its lapsed lease no longer counts
    assert await counted(client, person_key("user:2")) == 1


async def test_an_idle_count_leaves_no_key_behind(client, limits):
    await ConnectionCounts(client).admit(object(), person="user:1", document_id="d")
    assert await client.exists(person_key("user:1"), document_key("d")) == 2
    assert await until(lambda: _is(client.exists(person_key("user:1"), document_key("d")), 0), timeout=5)


async def test_a_stopping_worker_forgets_its_connections_at_once(client, limits):
    counts = ConnectionCounts(client)
    for i in range(3):
        await counts.admit(object(), person="user:1" if i < 2 else "user:2", document_id="d")
    await counts.forget_all()
    assert counts.held == {}
    assert await client.exists(person_key("user:1"), person_key("user:2"), document_key("d")) == 0


async def test_while_redis_is_unreachable_a_handshake_gets_in_logged_and_counts_once_it_answers(limits, caplog):
    limits.COLLAB_MAX_CONNECTIONS_PER_USER = 1
    down = RedisServer()  # not started: nothing listens on its port
    client = redis.asyncio.from_url(down.url, socket_timeout=2, socket_connect_timeout=2)
    counts = ConnectionCounts(client)
    try:
        with caplog.at_level(logging.WARNING, logger="collab.infra.outage"):
            await counts.admit(object(), person="user:1", document_id="d")
            await counts.admit(object(), person="user:1", document_id="d")  # over 1: this worker's count decides
        assert "Redis unreachable (counting connections" in caplog.text
        assert len(counts.held) == 2
        down.start()
        await counts.renew()
        assert await client.zcard(person_key("user:1")) == 2
        with pytest.raises(RateLimited):
            await ConnectionCounts(client).admit(object(), person="user:1", document_id="d")
    finally:
        await client.aclose()
        down.stop()


async def test_without_redis_nothing_is_counted_here(limits):
    counts = ConnectionCounts(None)
    for _ in range(5):
        await counts.admit(object(), person="user:1", document_id="d")  # the registry counts alone
    await counts.renew()
    assert counts.held == {}


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


# -- two real workers sharing a real Redis -----------------------------------------


@pytest.fixture
def workers(transactional_db, redis_server):
    env = {
        "COLLAB_MAX_CONNECTIONS_PER_USER": "2",
        "COLLAB_MAX_CONNECTIONS_PER_DOCUMENT": "3",
        "COLLAB_CONNECTION_LEASE": str(LEASE),
    }
    with running_workers(redis_server.url, env=env, name="limits") as running:
        yield running


@pytest.fixture
def cookies(shared_document, owner, editor, viewer):
    return {"owner": session_cookie(owner), "editor": session_cookie(editor), "viewer": session_cookie(viewer)}


async def attempt(worker, document, cookie: str) -> YClient | int:
    """A client of `worker` on `document`: connected and synced, or the code it was closed with."""
    client = YClient.websocket(f"{worker.ws_url}/ws/docs/{document.id}/", cookie=cookie, origin=worker.url)
    try:
        await client.connect(sync=False)
    except websockets.ConnectionClosed:
        pass  # closed before our sync step 1 went out
    synced, closed = (asyncio.ensure_future(event.wait()) for event in (client.synced, client.closed))
    await asyncio.wait({synced, closed}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    synced.cancel()
    closed.cancel()
    if client.synced.is_set():
        return client
    await client.close()
    return await client.wait_closed()


async def admitted(worker, document, cookie: str, timeout: float) -> YClient | None:
    """A client that got in within `timeout` seconds (trying again while refused), else None."""
    got: list[YClient] = []

    async def tried() -> bool:
        result = await attempt(worker, document, cookie)
        if isinstance(result, YClient):
            got.append(result)
        return bool(got)

    await until(tried, timeout=timeout)
    return got[0] if got else None


async def after_killing(dead, alive, document, cookie: str) -> YClient:
    """Kill `dead` without a word: its connections go on counting, so `cookie` is refused
    on `alive`, until their lease runs out; the client let in then."""
    dead.kill()
    assert await attempt(alive, document, cookie) == CloseCode.RATE_LIMITED
    client = await admitted(alive, document, cookie, timeout=LEASE + 5)
    assert client is not None, "a killed worker's connections went on counting past their lease"
    return client


async def test_a_person_at_the_limit_across_two_workers_is_refused_until_a_place_frees(
    workers, shared_document, cookies
):
    one, two = workers
    owner = cookies["owner"]
    first = await attempt(one, shared_document, owner)
    second = await attempt(two, shared_document, owner)
    assert isinstance(first, YClient) and isinstance(second, YClient)
    # Worker one holds one of them: on its own count it would let a second in.
    assert await attempt(one, shared_document, owner) == CloseCode.RATE_LIMITED
    assert await attempt(two, shared_document, owner) == CloseCode.RATE_LIMITED
    other = await attempt(one, shared_document, cookies["editor"])  # someone else still may
    assert isinstance(other, YClient)
    await other.close()  # not to fill the document (three) meanwhile

    await first.close()
    third = await admitted(one, shared_document, owner, timeout=5)
    assert third is not None
    # Renewed by the workers' tickers, their leases hold while the workers live.
    assert await admitted(one, shared_document, owner, timeout=1.5 * LEASE) is None

    fourth = await after_killing(two, one, shared_document, owner)  # worker two, with `second`
    for client in (second, third, fourth):
        await client.close()


async def test_a_document_at_the_limit_across_two_workers_is_refused_until_a_place_frees(
    workers, shared_document, cookies, redis_server
):
    one, two = workers
    clients = [
        await attempt(one, shared_document, cookies["owner"]),
        await attempt(two, shared_document, cookies["owner"]),
        await attempt(one, shared_document, cookies["editor"]),
    ]
    assert all(isinstance(client, YClient) for client in clients)
    # Worker two holds one of the three: on its own count it would let two more in.
    assert await attempt(two, shared_document, cookies["viewer"]) == CloseCode.RATE_LIMITED

    await clients.pop().close()  # the editor's, on worker one
    viewer = await admitted(two, shared_document, cookies["viewer"], timeout=5)
    assert viewer is not None

    editor = await after_killing(one, two, shared_document, cookies["editor"])  # with the owner's first

    # Every close is taken off the counts; what the killed worker held is gone with its lease.
    for client in (clients[1], viewer, editor):
        await client.close()
    store = redis.from_url(redis_server.url)
    try:
        assert await until(lambda: not store.keys("collab:connections:*"), timeout=LEASE + 2)
    finally:
        store.close()
