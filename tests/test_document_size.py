"""The document size limit, and the size of what the server sends.

No update may make a document larger than the server can send to whoever opens
it (COLLAB_MAX_DOCUMENT_BYTES, 4507), and no relay or awareness message it sends
is larger than COLLAB_MAX_MESSAGE_BYTES.
"""

from __future__ import annotations

import json
import re

import pytest
from channels.db import database_sync_to_async
from pycrdt import Doc, Text

from collab.exceptions import CloseCode
from collab.models import Document
from collab.realtime import db
from collab.realtime.registry import RoomRegistry
from collab.yjs import protocol
from collab.yjs.crdt import new_doc
from collab.yjs.protocol import AwarenessEntry, MessageType, SyncStep
from tests.helpers import FakeConnection, sender_and_listener, stored
from tests.servers import Server
from tests.yclient import open_client

KIB = 1024
MIB = 1024 * KIB


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Large")


class Typist:
    """A Yjs client's document: what each change sends."""

    def __init__(self):
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.sent: list[bytes] = []
        self.doc.observe(lambda event: self.sent.append(event.update))

    def type(self, index: int, content: str) -> bytes:
        self.text.insert(index, content)
        return self.sent[-1]

    def delete(self, start: int, end: int) -> bytes:
        del self.text[start:end]
        return self.sent[-1]

    def catch_up(self, conn: FakeConnection) -> None:
        for update in conn.updates():
            self.doc.apply_update(update)


def update_frames(conn: FakeConnection) -> list[bytes]:
    return [f for f in conn.frames if protocol.decode_frame(f)[0].step == SyncStep.UPDATE]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_an_update_that_would_pass_the_document_limit_closes_its_connection_and_changes_nothing(
    owner, settings, caplog
):
    typist = Typist()
    filling = typist.type(0, "a" * 3000)
    settings.COLLAB_MAX_DOCUMENT_BYTES = limit = len(protocol.sync_step2(typist.doc.get_update()))  # exactly full
    async with sender_and_listener(owner) as (document, room, sender, listener):
        await room.receive(sender, protocol.sync_update(filling))
        await room.drain()
        assert str(room.text) == "a" * 3000 and sender.closed_with is None
        too_much = typist.type(3000, "b")
        await room.receive(sender, protocol.sync_update(too_much))
        await room.receive(sender, protocol.sync_update(typist.type(3001, "c")))  # builds on the refused one
        await room.drain()
        assert sender.closed_with == CloseCode.DOCUMENT_TOO_LARGE
        assert str(room.text) == await stored(document) == listener.text() == "a" * 3000
        [refusal] = [r.getMessage() for r in caplog.records if "refusing an update" in r.getMessage()]
        would_be = int(re.search(r"would weigh (\d+) bytes", refusal)[1])
        assert f"refusing an update of {len(too_much)} bytes" in refusal and limit < would_be < limit + 50
        assert f"over COLLAB_MAX_DOCUMENT_BYTES ({limit}); closing its connection with 4507" in refusal

        # The others go on: at the limit, a deletion that makes room is accepted.
        other = Typist()
        other.catch_up(listener)
        await room.receive(listener, protocol.sync_update(other.delete(0, 2000)))
        await room.drain()
        await room.receive(listener, protocol.sync_update(other.type(0, "d" * 1500)))
        await room.drain()
        assert str(room.text) == await stored(document) == listener.text() == "d" * 1500 + "a" * 1000
        assert listener.closed_with is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_clients_resending_what_a_full_document_holds_are_not_refused(owner, settings, monkeypatch):
    """As after a worker restart: each reconnecting client sends what it holds."""
    typist = Typist()
    filling = typist.type(0, "a" * 3000)
    settings.COLLAB_MAX_DOCUMENT_BYTES = len(protocol.sync_step2(typist.doc.get_update()))
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    conns = [FakeConnection(owner.pk) for _ in range(4)]
    for conn in conns:
        room = await registry.join(document.id, conn, conn.seat)
    await room.receive(conns[0], protocol.sync_update(filling))
    await room.drain()
    copies = []
    monkeypatch.setattr("collab.realtime.room.new_doc", lambda: copies.append(1) or new_doc())
    for conn in conns[1:]:
        await room.receive(conn, protocol.sync_step2(filling))
    await room.drain()
    assert copies == [1]  # one copy of the document for the whole batch
    assert [conn.closed_with for conn in conns] == [None] * 4
    await room.receive(conns[1], protocol.sync_step2(filling))
    await room.receive(conns[2], protocol.sync_update(typist.type(0, "b")))
    await room.receive(conns[3], protocol.sync_step2(filling))
    await room.drain()
    assert [conn.closed_with for conn in conns] == [None, None, CloseCode.DOCUMENT_TOO_LARGE, None]
    assert str(room.text) == await stored(document) == "a" * 3000
    for conn in conns:
        await registry.leave(room, conn)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_keystrokes_far_from_the_limit_do_not_encode_the_document(owner, monkeypatch):
    async with sender_and_listener(owner) as (document, room, sender, listener):
        typist = Typist()
        await room.receive(sender, protocol.sync_update(typist.type(0, "start ")))
        await room.drain()  # the first write after the room opened measures it
        encodes = []
        get_update = room.doc.get_update
        monkeypatch.setattr(room.doc, "get_update", lambda *a: encodes.append(a) or get_update(*a))
        for i in range(100):
            await room.receive(sender, protocol.sync_update(typist.type(len(typist.text), str(i % 10))))
            await room.drain()
        assert encodes == [] and len(str(room.text)) == 106


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_a_batch_too_large_for_one_message_is_relayed_in_several(owner, settings, monkeypatch):
    settings.COLLAB_MAX_MESSAGE_BYTES = 1000
    async with sender_and_listener(owner) as (document, room, sender, listener):
        commits = []
        append = db.append

        async def counted(document_id, updates, authors):
            commits.append(len(updates))
            return await append(document_id, updates, authors)

        monkeypatch.setattr(db, "append", counted)
        typist = Typist()
        for i in range(5):
            await room.receive(sender, protocol.sync_update(typist.type(len(typist.text), str(i) * 400)))
        await room.drain()
        assert commits == [5]  # one batch
        frames = update_frames(listener)
        assert 1 < len(frames) < 5 and all(len(frame) <= 1000 for frame in frames)
        expected = "".join(str(i) * 400 for i in range(5))
        assert listener.text() == sender.text() == str(room.text) == expected


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_awareness_states_a_newcomer_gets_are_split_by_size(owner, settings):
    settings.COLLAB_MAX_MESSAGE_BYTES = 2000
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    present = [FakeConnection(owner.pk) for _ in range(3)]
    for i, conn in enumerate(present):
        room = await registry.join(document.id, conn, conn.seat)
        state = json.dumps({"cursor": None, "note": str(i) * 900})
        await room.receive(conn, protocol.awareness_frame(protocol.encode_awareness([AwarenessEntry(i + 1, 1, state)])))
    newcomer = FakeConnection(owner.pk)
    await registry.join(document.id, newcomer, newcomer.seat)
    frames = [f for f in newcomer.frames if protocol.decode_frame(f)[0].type == MessageType.AWARENESS]
    states = [e for f in frames for e in protocol.decode_awareness(protocol.decode_frame(f)[0].payload)]
    assert len(frames) > 1 and all(len(frame) <= 2000 for frame in frames)
    assert [e.client_id for e in states] == [1, 2, 3]
    for conn in [*present, newcomer]:
        await registry.leave(room, conn)


# daphne's cap is COLLAB_MAX_MESSAGE_BYTES + 1 MiB = 1.2 MiB here: nine updates of
# 150 KiB, each well within the message limit, would make a 1.3 MiB document.
SMALL_LIMITS = {
    "COLLAB_MAX_MESSAGE_BYTES": str(200 * KIB),
    "COLLAB_MAX_DOCUMENT_BYTES": str(1 * MIB),
    "COLLAB_RATE_BYTES": str(16 * MIB),  # the bytes rate is not what this is about
}
DAPHNE_CAP = 200 * KIB + 1 * MIB


@pytest.mark.processes
async def test_updates_within_the_message_limit_cannot_make_a_document_nobody_can_open(
    transactional_db, document, cookie
):
    chunks = [letter * (150 * KIB) for letter in "abcdefghi"]
    with Server(env=SMALL_LIMITS, log_name="small-limits") as server:
        bystander = await open_client(server, document, cookie, "bystander", timeout=30)
        closes = []
        for i, chunk in enumerate(chunks):
            # Each from a new tab, which first gets the whole document; none of
            # them reads a message larger than daphne may send.
            writer = await open_client(server, document, cookie, f"writer{i}", max_size=DAPHNE_CAP, timeout=30)
            writer.insert(len(writer.text), chunk)
            await writer.wait_for(lambda w=writer: w.received_updates or w.closed.is_set(), timeout=30)
            closes.append(writer.close_code)
            await writer.close()
        # Six fit in 1 MiB; each of the others would pass it.
        assert closes == [None] * 6 + [CloseCode.DOCUMENT_TOO_LARGE] * 3
        kept = "".join(chunks[:6])
        await bystander.wait_for(lambda: bystander.value() == kept, timeout=30)
        assert await stored(document) == kept

        bystander.insert(0, "still editing. ")
        newcomer = await open_client(server, document, cookie, "newcomer", max_size=DAPHNE_CAP, timeout=30)
        await newcomer.wait_for(lambda: newcomer.value() == "still editing. " + kept, timeout=30)
        assert not bystander.closed.is_set() and not newcomer.closed.is_set()
        for client in (bystander, newcomer):
            await client.close()
        log = server.log_path.read_text()
    assert "PayloadExceededError" not in log and log.count("refusing an update") == 3


@pytest.mark.processes
async def test_an_update_of_two_mebibytes_is_accepted_under_the_default_limits(server, document, cookie):
    writer = await open_client(server, document, cookie, "writer", timeout=30)
    reader = await open_client(server, document, cookie, "reader", timeout=30)
    text = "0123456789abcdef" * (2 * MIB // 16)
    writer.insert(0, text)
    await reader.wait_for(lambda: len(reader.text) == len(text), timeout=30)
    assert reader.value() == text and not writer.closed.is_set()
    newcomer = await open_client(server, document, cookie, "newcomer", timeout=30)
    assert newcomer.value() == text
    assert await stored(document) == text
    for client in (writer, reader, newcomer):
        await client.close()
