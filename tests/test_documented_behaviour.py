"""Promises of the README, each kept by a real `manage.py serve` worker: storage
failing (4500), a share link expiring (4403), /healthz without a database,
compaction, SIGTERM with updates pending, and awareness client ids."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta

import pytest
import websockets
from channels.db import database_sync_to_async
from django.db import connection
from django.utils import timezone

from collab.access import sharing
from collab.exceptions import CloseCode
from collab.models import Document, DocumentSnapshot, DocumentUpdate
from collab.yjs import protocol
from collab.yjs.crdt import apply_update, new_doc
from tests.conftest import guest_cookie, session_cookie
from tests.helpers import stored
from tests.servers import Server
from tests.yclient import open_client

pytestmark = pytest.mark.processes


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="As documented")


async def eventually(read, expected, timeout: float = 30):
    """Wait until `await read()` returns `expected`; return it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await read()) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r} after {timeout}s, expected {expected!r}")
        await asyncio.sleep(0.05)
    return value


# -- storage failing: 4500 ------------------------------------------------------------

LOG_TABLE = DocumentUpdate._meta.db_table

REFUSE_APPENDS = {
    "sqlite": [
        f"CREATE TRIGGER refuse_appends BEFORE INSERT ON {LOG_TABLE} BEGIN SELECT RAISE(ABORT, 'disk failure'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_appends() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk failure'; END $$",
        f"CREATE TRIGGER refuse_appends BEFORE INSERT ON {LOG_TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_appends()",
    ],
}
ACCEPT_APPENDS = {
    "sqlite": ["DROP TRIGGER refuse_appends"],
    "postgresql": [f"DROP TRIGGER refuse_appends ON {LOG_TABLE}", "DROP FUNCTION refuse_appends()"],
}


def execute(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@asynccontextmanager
async def failing_storage():
    """Every append to the update log fails in the database, as on a failing disk."""
    await database_sync_to_async(execute)(REFUSE_APPENDS[connection.vendor])
    try:
        yield
    finally:
        await database_sync_to_async(execute)(ACCEPT_APPENDS[connection.vendor])


async def test_when_storage_fails_clients_are_closed_with_4500_and_lose_nothing_once_they_reconnect(
    server, document, cookie
):
    a = await open_client(server, document, cookie, "a")
    b = await open_client(server, document, cookie, "b")
    a.insert(0, "stored. ")
    await b.wait_for(lambda: b.value() == "stored. ", timeout=30)
    async with failing_storage():
        a.insert(8, "sent while the disk failed.")
        assert await a.wait_closed(timeout=30) == CloseCode.INTERNAL
        assert await b.wait_closed(timeout=30) == CloseCode.INTERNAL  # the whole room: it cannot store
        assert b.value() == "stored. "  # nothing was relayed that was not stored
        b.insert(0, "Offline: ")  # kept in b's document until it is back
    assert await stored(document) == "stored. "
    await a.reconnect(timeout=30)
    await b.reconnect(timeout=30)
    expected = "Offline: stored. sent while the disk failed."
    for client in (a, b):
        await client.wait_for(lambda c=client: c.value() == expected, timeout=30)
    await eventually(lambda: stored(document), expected)
    for client in (a, b):
        await client.close()
    assert "could not store 1 updates; closing their connections" in server.log_path.read_text()


# -- a share link expiring: 4403 --------------------------------------------------------


async def test_a_share_link_expiring_while_connected_closes_that_connection_with_4403(server, document, cookie, owner):
    link = await database_sync_to_async(sharing.link_create)(
        document=document, role="editor", expires_at=timezone.now() + timedelta(seconds=5), created_by=owner
    )
    visitor = await database_sync_to_async(guest_cookie)(link.token)
    guest = await open_client(server, document, visitor, "guest")
    member = await open_client(server, document, cookie, "owner")
    guest.insert(0, "a guest was here")
    await member.wait_for(lambda: member.value() == "a guest was here", timeout=30)
    assert await guest.wait_closed(timeout=30) == CloseCode.FORBIDDEN
    assert timezone.now() >= link.expires_at  # at its expiry, not before
    member.insert(0, "Still open: ")
    await member.wait_for(lambda: member.received_updates >= 2, timeout=30)
    assert not member.closed.is_set()
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_client(server, document, visitor, "guest again")
    assert refused.value.response.status_code == 403
    await member.close()


# -- /healthz without a database ---------------------------------------------------------


def health(server: Server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_healthz_answers_503_naming_the_database_while_it_cannot_be_opened(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    with Server(env={"DATABASE_URL": f"sqlite:///{volume / 'collab.sqlite3'}"}, log_name="healthz") as server:
        assert health(server) == (200, {"database": "ok", "channel_layer": "ok"})
        volume.rename(tmp_path / "unmounted")  # the volume is gone from under the running worker
        status, body = health(server)
        assert status == 503
        assert body["database"].startswith("error: OperationalError") and body["channel_layer"] == "ok"
        (tmp_path / "unmounted").rename(volume)
        assert health(server) == (200, {"database": "ok", "channel_layer": "ok"})


# -- compaction ---------------------------------------------------------------------------


def log_and_snapshot(document) -> tuple[int, str | None]:
    """How many entries the update log holds for `document`, and its snapshot's text (None: no snapshot)."""
    entries = DocumentUpdate.objects.filter(document=document).count()
    snapshot = DocumentSnapshot.objects.filter(document=document).values_list("data", flat=True).first()
    if snapshot is None:
        return entries, None
    doc, text = new_doc()
    apply_update(doc, bytes(snapshot))
    return entries, str(text)


async def test_the_log_is_folded_into_a_snapshot_every_collab_compact_every_entries_and_when_the_room_unloads(
    transactional_db, document, cookie
):
    read = database_sync_to_async(log_and_snapshot)
    with Server(env={"COLLAB_COMPACT_EVERY": "5"}, log_name="compaction") as server:
        client = await open_client(server, document, cookie, "client")

        async def write(word: str) -> None:
            client.insert(len(client.text), word)
            count = client.received_updates
            await client.wait_for(lambda: client.received_updates > count, timeout=30)  # stored: one entry

        for word in ("one ", "two ", "three ", "four "):
            await write(word)
        assert await read(document) == (4, None)
        await write("five ")
        await eventually(lambda: read(document), (0, "one two three four five "))
        await write("six ")
        await write("seven")
        assert await read(document) == (2, "one two three four five ")  # fewer than 5 since: kept
        await client.close()  # the last one out: the room unloads
        await eventually(lambda: read(document), (0, "one two three four five six seven"))
        assert await stored(document) == "one two three four five six seven"


# -- SIGTERM with updates pending: 4503 -------------------------------------------------------


@contextmanager
def appends_held(document):
    """Another connection holds the lock every append to `document` takes, until the block ends."""
    if connection.vendor == "sqlite":
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the database's one write lock
    else:
        import psycopg

        s = connection.settings_dict
        other = psycopg.connect(
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            user=s["USER"],
            password=s["PASSWORD"],
            dbname=s["NAME"],
        )
        # The document's row, which every append updates first.
        other.execute(f"SELECT 1 FROM {Document._meta.db_table} WHERE id = %s FOR UPDATE", [document.id])
    try:
        yield
    finally:
        other.rollback()
        other.close()


async def logged(server: Server, text: str, *, after: int, timeout: float = 30) -> None:
    """Wait until the server's log holds `text` past byte `after`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while text.encode() not in server.log_path.read_bytes()[after:]:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the server never logged {text!r}")
        await asyncio.sleep(0.05)


async def test_sigterm_stores_the_updates_still_pending_before_closing_with_4503(transactional_db, document, cookie):
    with Server(log_name="sigterm") as server:
        client = await open_client(server, document, cookie, "client")
        with appends_held(document):
            for i in range(20):
                client.insert(len(client.text), f"{i} ")
            # Frames are handled in order: once the awareness echo is back, the
            # server holds every update, none stored (or it would have relayed them).
            await client.set_awareness({"cursor": None})
            await client.wait_for(lambda: client.client_id in client.present(), timeout=30)
            assert client.received_updates == 0
            log_size = server.log_path.stat().st_size
            server.proc.terminate()
            await logged(server, "shutting down: storing pending updates", after=log_size)
        assert await client.wait_closed(timeout=30) == CloseCode.GOING_AWAY
        assert client.received_updates >= 1  # stored and relayed before the close
        assert server.proc.wait(timeout=30) == 0
    assert await stored(document) == client.value() == "".join(f"{i} " for i in range(20))


# -- awareness client ids ---------------------------------------------------------------------


async def test_a_connection_speaking_for_an_awareness_client_id_it_did_not_introduce_is_ignored(
    server, shared_document, owner, editor
):
    cookies = [await database_sync_to_async(session_cookie)(user) for user in (owner, editor, owner)]
    alice, mallory, watcher = [
        await open_client(server, shared_document, cookie, name)
        for cookie, name in zip(cookies, ("alice", "mallory", "watcher"), strict=True)
    ]
    await alice.set_awareness({"cursor": {"anchor": 1, "head": 1}})
    await watcher.wait_for(lambda: alice.client_id in watcher.present(), timeout=30)
    before = watcher.awareness[alice.client_id]
    # A newer state for Alice's client id, then its removal; then Mallory's own state,
    # which the server handles after both and relays behind anything they caused.
    for state in ({"cursor": {"anchor": 99, "head": 99}}, None):
        entry = protocol.AwarenessEntry(alice.client_id, before[0] + 10, json.dumps(state))
        await mallory.send(protocol.awareness_frame(protocol.encode_awareness([entry])))
    await mallory.set_awareness({"cursor": None})
    await watcher.wait_for(lambda: mallory.client_id in watcher.present(), timeout=30)
    assert watcher.awareness[alice.client_id] == before
    assert not mallory.closed.is_set()
    await alice.set_awareness({"cursor": {"anchor": 2, "head": 2}})  # Alice herself still may
    await watcher.wait_for(lambda: watcher.present()[alice.client_id]["cursor"] == {"anchor": 2, "head": 2}, timeout=30)
    for client in (alice, mallory, watcher):
        await client.close()
