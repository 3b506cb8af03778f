"""Non-browser clients on share links (`?share=`, no cookie), against a real worker."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from channels.db import database_sync_to_async

from collab.access import sharing
from collab.exceptions import CloseCode
from collab.models import Document
from tests.conftest import session_cookie
from tests.yclient import YClient

pytestmark = pytest.mark.processes


def make_link(owner, title: str, role: str = "editor"):
    document = Document.objects.create(owner=owner, title=title)
    return document, sharing.link_create(document=document, role=role, expires_at=None, created_by=owner)


async def share_client(server, document, token: str, *, origin=None, cookie=None, name="bot") -> YClient:
    url = f"{server.ws_url}/ws/docs/{document.id}/?share={token}"
    return await YClient.websocket(url, cookie=cookie, origin=origin, name=name).connect()


async def refused_status(server, document, token: str, *, origin=None, cookie=None) -> int | None:
    """The HTTP status the handshake was refused with; None if it was accepted."""
    try:
        client = await share_client(server, document, token, origin=origin, cookie=cookie)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code
    await client.close()
    return None


async def test_a_share_link_client_needs_no_origin_unless_it_sends_a_cookie(server, owner):
    document, link = await database_sync_to_async(make_link)(owner, "For bots")
    cookie = await database_sync_to_async(session_cookie)(owner)

    bot = await share_client(server, document, link.token)  # no Origin, no cookie
    bot.insert(0, "written by a script")
    await bot.wait_for(lambda: bot.received_updates >= 1)  # stored and echoed
    await bot.close()
    assert await refused_status(server, document, link.token, origin=server.url) is None
    # The same request with a cookie could come from anywhere a browser was tricked into: refused.
    assert await refused_status(server, document, link.token, cookie=cookie) == 403
    assert await refused_status(server, document, link.token, cookie="csrftoken=abc") == 403
    assert await refused_status(server, document, link.token, origin=server.url, cookie=cookie) is None
    # Other origins stay refused, token or not; so does a missing Origin with no token to check.
    assert await refused_status(server, document, link.token, origin="https://evil.example") == 403
    assert await refused_status(server, document, link.token, origin="null") == 403
    assert await refused_status(server, document, "not-a-token") == 403
    with pytest.raises(websockets.InvalidStatus):
        await YClient.websocket(f"{server.ws_url}/ws/docs/{document.id}/", cookie=cookie, origin=None).connect()


async def test_cookie_less_clients_are_counted_per_share_link(server, owner, settings):
    """150 clients on two links stay within the per-person limit (100 per worker)
    that one key for them all exceeded; each link is still held to it."""
    (doc_a, link_a), (doc_b, link_b) = [await database_sync_to_async(make_link)(owner, t) for t in ("A", "B")]
    limit = settings.COLLAB_MAX_CONNECTIONS_PER_USER
    assert limit == 100  # the worker runs with the default

    async def open_many(document, link, count: int) -> list[YClient]:
        clients = []
        for start in range(0, count, 25):
            batch = [share_client(server, document, link.token, name=f"{link.token[:4]}-{i}") for i in range(25)]
            clients += await asyncio.gather(*batch[: count - start])
        return clients

    clients = await open_many(doc_a, link_a, 75) + await open_many(doc_b, link_b, 75)
    assert len(clients) == 150 and not any(client.closed.is_set() for client in clients)
    clients += await open_many(doc_a, link_a, limit - 75)  # link A now at the limit
    async with websockets.connect(f"{server.ws_url}/ws/docs/{doc_a.id}/?share={link_a.token}") as one_too_many:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(one_too_many.recv(), 10)  # accepted, then closed at once
    assert closed.value.rcvd.code == CloseCode.RATE_LIMITED
    another_b = await share_client(server, doc_b, link_b.token, name="another on B")
    another_b.insert(0, "B still takes writers")
    await another_b.wait_for(lambda: another_b.received_updates >= 1)  # stored and echoed: not closed
    assert not another_b.closed.is_set()
    assert not any(client.closed.is_set() for client in clients)
    for client in [*clients, another_b]:
        await client.close()
