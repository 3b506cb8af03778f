"""The WebSocket endpoint in process, through Channels' WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import copy
import uuid

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from collab.exceptions import CloseCode
from collab.models import Document, DocumentUpdate
from collab.storage import persistence
from collab.yjs import protocol
from config.asgi import application
from tests.conftest import session_cookie, until
from tests.yclient import CommunicatorTransport, YClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Live")


def communicator(document_id, cookie: str | None, origin: bytes = b"http://127.0.0.1"):
    headers = [(b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, f"/ws/docs/{document_id}/", headers=headers)


async def connect(document_id, cookie, name="client", sync=True) -> YClient:
    comm = communicator(document_id, cookie)
    connected, code = await comm.connect()
    assert connected, f"refused with {code}"
    return await YClient(CommunicatorTransport(comm), name=name).connect(sync=sync)


async def stored_text(document_id) -> str:
    return await sync_to_async(persistence.document_text)(document_id)


# The trips to the database threads a handshake takes, and channels' hops to close
# connections, are costs: bench/budgets.py prints them beside their budgets.


async def test_a_room_opened_again_serves_what_was_stored_and_stores_what_follows(document, cookie):
    """On PostgreSQL from the event loop's own connections, on SQLite in the threads."""
    from django.db import connection

    from collab.realtime import db
    from collab.realtime.registry import get_registry

    first = await connect(document.id, cookie, "first")
    first.insert(0, "stored before")
    await first.wait_for(lambda: first.received_updates >= 1)
    await first.close()
    assert await until(lambda: str(document.id) not in get_registry().rooms)
    on_loop = db.use_loop_connections()
    assert on_loop == (connection.vendor == "postgresql")
    try:
        second = await connect(document.id, cookie, "second")
        assert second.value() == "stored before"
        echoes = second.received_updates
        second.insert(0, "and after, ")
        await second.wait_for(lambda: second.received_updates > echoes)  # stored: the append went through the loop
        await second.close()
    finally:
        await db.close_loop_connections()
    assert await stored_text(document.id) == "and after, stored before"


async def test_handshake_sends_sync_step1_and_answers_ours(document, cookie):
    comm = communicator(document.id, cookie)
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_from()
    assert protocol.decode_frame(first)[0].step == protocol.SyncStep.STEP1
    await comm.send_to(bytes_data=protocol.sync_step1(b"\x00"))
    reply = protocol.decode_frame(await comm.receive_from())[0]
    assert (reply.type, reply.step, reply.payload) == (protocol.MessageType.SYNC, protocol.SyncStep.STEP2, b"\x00\x00")
    await comm.disconnect()


@pytest.mark.parametrize("who", ["anonymous", "outsider", "unknown document", "foreign origin"])
async def test_others_are_refused_at_the_handshake(document, cookie, outsider, who):
    target, sent_cookie, origin = document.id, cookie, b"http://127.0.0.1"
    if who == "anonymous":
        sent_cookie = None
    elif who == "outsider":
        sent_cookie = await sync_to_async(session_cookie)(outsider)
    elif who == "unknown document":
        target = uuid.uuid4()
    else:
        origin = b"https://evil.example"
    connected, _ = await communicator(target, sent_cookie, origin).connect()
    assert connected is False


async def test_two_clients_converge_and_the_database_agrees(document, cookie):
    a = await connect(document.id, cookie, "a")
    b = await connect(document.id, cookie, "b")
    a.insert(0, "hello")
    await b.wait_for(lambda: b.value() == "hello")
    b.insert(5, " world")
    await a.wait_for(lambda: a.value() == "hello world")
    await a.close()
    await b.close()
    assert await stored_text(document.id) == "hello world"
    await sync_to_async(document.refresh_from_db)()
    assert document.last_seq == 2


async def test_a_new_client_receives_the_stored_document(document, cookie):
    a = await connect(document.id, cookie, "a")
    a.insert(0, "persisted")
    await a.wait_for(lambda: a.received_updates >= 1)  # the echo: it is stored
    await a.close()
    c = await connect(document.id, cookie, "c")
    assert c.value() == "persisted"
    await c.close()


async def test_the_sender_gets_its_update_back_once_stored(document, cookie):
    a = await connect(document.id, cookie, "a")
    a.insert(0, "x")
    await a.wait_for(lambda: a.received_updates == 1)
    assert await stored_text(document.id) == "x"
    await a.close()


async def test_offline_edits_reach_the_server_through_sync_step2(document, cookie):
    comm = communicator(document.id, cookie)
    assert (await comm.connect())[0]
    offline = YClient(CommunicatorTransport(comm), name="offline")
    offline._remote = True  # edits made before connecting are not sent as updates
    offline.insert(0, "written offline")
    offline._remote = False
    await offline.connect()
    other = await connect(document.id, cookie, "other")
    await other.wait_for(lambda: other.value() == "written offline")
    await offline.close()
    await other.close()


BAD_FRAMES = {
    "truncated varuint": (b"\x00\x02\x85", CloseCode.MALFORMED),
    "unknown message type": (b"\x09\x00", CloseCode.MALFORMED),
    "rejected update": (protocol.sync_update(b"\x01\x02\x03"), CloseCode.MALFORMED),
    "hostile state vector": (protocol.sync_step1(b"\xff\xff\xff\x7a"), CloseCode.MALFORMED),
    "malformed awareness": (protocol.awareness_frame(b"\x01\x01\x01\x03abc"), CloseCode.MALFORMED),
    "text frame": ("hello", CloseCode.TEXT_FRAME),
    "too large": (protocol.sync_update(b"\x00" * 3000), CloseCode.TOO_LARGE),
}


@pytest.mark.parametrize("case", BAD_FRAMES)
async def test_bad_input_closes_only_that_connection(document, cookie, settings, case, caplog):
    settings.COLLAB_MAX_MESSAGE_BYTES = 2048
    frame, code = BAD_FRAMES[case]
    good = await connect(document.id, cookie, "good")
    bad = await connect(document.id, cookie, "bad")
    good.insert(0, "before ")
    await bad.wait_for(lambda: bad.value() == "before ")
    await bad.send(frame)
    assert await bad.wait_closed() == code
    good.insert(7, "after")
    await good.wait_for(lambda: good.received_updates >= 2)
    assert good.value() == "before after"
    assert await stored_text(document.id) == "before after"
    assert any(str(code) in record.getMessage() for record in caplog.records)
    await good.close()


async def test_awareness_is_relayed_to_everyone_and_removed_on_close(document, cookie):
    a = await connect(document.id, cookie, "a")
    b = await connect(document.id, cookie, "b")
    await a.set_awareness({"user": {"name": "Mallory", "color": "#000000"}, "cursor": None})
    await a.wait_for(lambda: a.client_id in a.present())  # the sender hears its own state back
    await b.wait_for(lambda: a.client_id in b.present())
    state = b.present()[a.client_id]
    assert state["user"]["name"] == "olivia"  # the account's name, not the claimed one
    assert state["user"]["color"] != "#000000" and "cursor" in state
    c = await connect(document.id, cookie, "c")
    await c.wait_for(lambda: a.client_id in c.present())  # a newcomer gets the current states
    await a.close()
    await b.wait_for(lambda: a.client_id not in b.present())
    await c.wait_for(lambda: a.client_id not in c.present())
    await b.close()
    await c.close()


async def test_the_awareness_name_is_the_account_s_display_name_on_every_handshake(
    document, cookie, owner, monkeypatch, settings
):
    """Read with the account, on the database thread: the first handshake with the
    user's row, the next ones from the ticker's read of everyone connected."""
    from django.contrib.auth.models import AnonymousUser

    from collab.models import Profile
    from collab.realtime import middleware
    from collab.realtime.registry import get_registry

    settings.COLLAB_RESYNC_INTERVAL = 0.1
    await sync_to_async(Profile.objects.create)(user=owner, display_name="Olivia Hart")
    first = await connect(document.id, cookie, "first")
    assert await until(lambda: owner.pk in get_registry().known_accounts())
    read = []
    monkeypatch.setattr(middleware, "load_session_user", lambda scope: read.append(scope) or AnonymousUser())
    second = await connect(document.id, cookie, "second")  # as an anonymous user it would be refused
    assert read == []
    for client in (first, second):
        await client.set_awareness({"user": {"name": "Mallory"}, "cursor": None})
    await second.wait_for(lambda: {first.client_id, second.client_id} <= second.present().keys())
    assert [second.present()[c]["user"]["name"] for c in (first.client_id, second.client_id)] == ["Olivia Hart"] * 2
    await first.close()
    await second.close()


async def test_a_client_that_stops_reading_is_closed(document, cookie, settings):
    settings.COLLAB_PROBE_BYTES = 1000
    settings.COLLAB_MAX_BACKLOG_BYTES = 20000
    writer = await connect(document.id, cookie, "writer")
    # A raw connection that never answers the server's sync step 1: to the server
    # it is a client that reads nothing.
    silent = communicator(document.id, cookie)
    assert (await silent.connect())[0]
    for i in range(100):
        writer.insert(0, "x" * 500)
        await writer.wait_for(lambda n=i: writer.received_updates > n)  # it reads as it writes
    while True:
        message = await silent.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            assert message["code"] == CloseCode.TOO_SLOW
            break
    assert len(writer.value()) == 50000
    await writer.close()


async def test_export_returns_the_current_text(document, cookie, owner):
    a = await connect(document.id, cookie, "a")
    a.insert(0, "# Title\n\nBody")
    await a.wait_for(lambda: a.received_updates >= 1)
    await a.close()

    def export():
        from django.test import Client

        client = Client()
        client.force_login(owner)
        return client.get(f"/docs/{document.id}/export.md")

    response = await sync_to_async(export)()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.content.decode() == "# Title\n\nBody"


async def test_an_unknown_websocket_path_is_refused(cookie):
    comm = WebsocketCommunicator(application, "/ws/elsewhere/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await comm.connect()
    assert connected is False


async def test_handshakes_load_their_users_side_by_side(document, owner, monkeypatch):
    """Many clients connecting at once (a reconnect after a restart) must not queue
    their session and user queries on one thread."""
    import threading

    from collab.realtime import middleware

    both_inside = threading.Barrier(2, timeout=10)
    load_user = middleware.load_user

    def load_user_together(scope, *args):
        both_inside.wait()  # breaks (and the handshake fails) if the other never gets here
        return load_user(scope, *args)

    monkeypatch.setattr(middleware, "load_user", load_user_together)
    cookie = await sync_to_async(session_cookie)(owner)
    comms = [communicator(document.id, cookie) for _ in range(2)]
    results = await asyncio.gather(*(comm.connect() for comm in comms))
    assert [connected for connected, _ in results] == [True, True]  # both were loading at the same time
    for comm in comms:
        await comm.disconnect()


async def test_a_handshake_of_someone_connected_here_reads_no_account(document, cookie, owner, monkeypatch, settings):
    """The ticker reads the account of everyone connected; their next handshakes
    take it from that read instead of querying it again."""
    from django.contrib.auth.models import AnonymousUser

    from collab.realtime import middleware
    from collab.realtime.registry import get_registry

    settings.COLLAB_RESYNC_INTERVAL = 0.1
    first = await connect(document.id, cookie, "first")
    assert await until(lambda: owner.pk in get_registry().known_accounts())
    read = []
    monkeypatch.setattr(middleware, "load_session_user", lambda scope: read.append(scope) or AnonymousUser())
    second = await connect(document.id, cookie, "second")  # as an anonymous user it would be refused
    second.insert(0, "by olivia")
    await first.wait_for(lambda: first.value() == "by olivia")
    assert read == []
    authors = await sync_to_async(lambda: list(DocumentUpdate.objects.values_list("author_id", flat=True)))()
    assert authors == [owner.pk]
    await first.close()
    await second.close()


@pytest.mark.parametrize("change", ["disabled", "password changed", "another backend"])
def test_a_known_account_stands_in_only_where_django_would_sign_in(
    owner, change, monkeypatch, django_assert_num_queries
):
    from django.contrib.auth import BACKEND_SESSION_KEY

    from collab.access.sessions import SessionStore
    from collab.realtime import middleware

    key = session_cookie(owner).split("=", 1)[1]
    scope = {"session": SessionStore(session_key=key)}
    with django_assert_num_queries(0):  # the session from the cache, the account as given
        taken = middleware.load_user(scope, {owner.pk: owner})
    assert taken.pk == owner.pk and taken is not owner  # a copy of the ticker's
    known = copy.copy(owner)
    if change == "disabled":
        known.is_active = False
    elif change == "password changed":
        known.set_password("changed since the session signed in")
    else:
        scope["session"][BACKEND_SESSION_KEY] = "django.contrib.auth.backends.AllowAllUsersModelBackend"
    from_database = object()
    monkeypatch.setattr(middleware, "load_session_user", lambda scope: from_database)
    assert middleware.load_user(scope, {owner.pk: known}) is from_database
