"""Rooms without sockets: fake connections record what the room sends them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from pycrdt import Doc, Text

from collab.access import rights as access
from collab.access.identity import identity_for
from collab.access.rights import Principal
from collab.models import Document, Role
from collab.realtime.members import Seat
from collab.realtime.registry import RoomRegistry
from collab.realtime.room import SeqTracker
from collab.storage import persistence
from collab.yjs import protocol
from collab.yjs.awareness import AwarenessStates
from collab.yjs.protocol import AwarenessEntry, SyncStep
from tests.conftest import until
from tests.helpers import FakeConnection, an_update, sender_and_listener

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")


edit = an_update


@pytest.mark.django_db(transaction=True)
async def test_an_update_is_committed_before_anyone_receives_it(owner):
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    seen_in_database = []

    async def check_database(frame):
        if protocol.decode_frame(frame)[0].step == SyncStep.UPDATE:
            seen_in_database.append(await database_sync_to_async(persistence.document_text)(document.id))

    registry = RoomRegistry()
    sender, listener = FakeConnection(owner.pk), FakeConnection(owner.pk, on_frame=check_database)
    room = await registry.join(document.id, sender, sender.seat)
    await registry.join(document.id, listener, listener.seat)
    await room.receive(sender, protocol.sync_update(edit("stored first")))
    await room.drain()
    assert seen_in_database == ["stored first"]
    assert len(sender.updates()) == 1  # the echo to the sender
    await registry.leave(room, sender)
    await registry.leave(room, listener)
    assert registry.rooms == {}


@pytest.mark.django_db(transaction=True)
async def test_one_room_per_document_is_shared_and_unloaded_after_the_last_leaves(owner):
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    a, b = FakeConnection(owner.pk), FakeConnection(owner.pk)
    room_a = await registry.join(document.id, a, a.seat)
    room_b = await registry.join(document.id, b, b.seat)
    assert room_a is room_b
    await room_a.receive(a, protocol.sync_update(edit("kept")))
    await registry.leave(room_a, a)
    assert registry.rooms  # b is still there
    await registry.leave(room_b, b)
    assert registry.rooms == {}
    assert await database_sync_to_async(persistence.document_text)(document.id) == "kept"


@pytest.mark.django_db(transaction=True)
async def test_a_read_only_connection_changes_nothing(owner):
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    viewer = FakeConnection(owner.pk, role=Role.VIEWER)
    room = await registry.join(document.id, viewer, viewer.seat)
    await room.receive(viewer, protocol.sync_update(edit("nope")))
    await room.receive(viewer, protocol.sync_step2(edit("nope either")))
    await room.drain()
    assert str(room.text) == ""
    await registry.leave(room, viewer)
    assert await database_sync_to_async(persistence.document_text)(document.id) == ""


def test_seq_tracker_advances_only_over_contiguous_entries():
    tracker = SeqTracker(3)
    tracker.add(6, 7)
    assert tracker.seq == 3
    tracker.add(4, 5)
    assert tracker.seq == 7 and tracker.ahead == []
    tracker.add(2, 3)
    assert tracker.seq == 7


def test_awareness_follows_the_clock_rule_and_expires():
    now = [0.0]
    states = AwarenessStates(timeout=30, clock=lambda: now[0])
    assert states.apply([AwarenessEntry(1, 2, '{"a":1}')])
    assert not states.apply([AwarenessEntry(1, 1, '{"a":0}')])  # older clock
    assert states.apply([AwarenessEntry(1, 2, "null")])  # removal at the same clock
    assert states.current() == []
    states.apply([AwarenessEntry(2, 1, "{}")])
    now[0] = 2.5
    states.apply([AwarenessEntry(3, 1, "{}")])
    now[0] = 31
    assert [e.client_id for e in states.expire()] == [2]
    now[0] = 33  # 3 is outdated now, but states are looked at every timeout / 10
    assert states.expire() == []
    now[0] = 34
    assert [e.client_id for e in states.expire()] == [3]
    assert states.current() == []


@pytest.mark.django_db(transaction=True)
async def test_an_update_with_a_gap_in_its_clocks_still_reaches_everyone(owner):
    """pycrdt integrates a root struct that starts past its client's known clock and
    reports an empty transaction update; the room relays the update as stored."""
    async with sender_and_listener(owner) as (document, room, sender, listener):
        # One struct of a fresh client, at clock 4, at the text's root: "word0 ".
        gap = bytes.fromhex("0101b0c9c4a986c8cb0304040107636f6e74656e7406776f7264302000")
        await room.receive(sender, protocol.sync_update(gap))
        await room.drain()
        assert str(room.text) == "word0 "
        assert listener.text() == "word0 "


@pytest.mark.django_db(transaction=True)
async def test_an_update_the_doc_holds_back_reaches_everyone_with_what_releases_it(owner):
    """Found by tests/test_fuzz.py. The first update's struct depends on one the
    second brings; pycrdt holds it back, then integrates both, and reports only the
    second update as the transaction's. Relaying what the Doc reported lost the
    first's text for every client, while the log and the Doc held it."""
    async with sender_and_listener(owner) as (document, room, sender, listener):
        held_back = bytes.fromhex("0101e7c09ca680e5c00b04c4e6c09ca680e5c00b01e6c09ca680e5c00b02027a7a00")
        releasing = bytes.fromhex(
            "0104e6c09ca680e5c00b00010107636f6e74656e740184e6c09ca680e5c00b00017584e6c09ca680e5c00b"
            "01027a7ac4e6c09ca680e5c00b01e6c09ca680e5c00b02027a7a01e6c09ca680e5c00b010001"
        )
        for update in (held_back, releasing):
            await room.receive(sender, protocol.sync_update(update))
            await room.drain()
        stored = await database_sync_to_async(persistence.document_text)(document.id)
        assert str(room.text) == stored == listener.text() == "uzzzzzz"


@pytest.mark.django_db(transaction=True)
async def test_a_keystroke_is_relayed_as_it_came_without_reading_the_state_vector(owner, monkeypatch):
    """The state vector grows with every client that ever edited the document:
    reading it for each keystroke would cost more the older the document."""
    async with sender_and_listener(owner) as (document, room, sender, listener):
        reads = []
        get_state = room.doc.get_state
        monkeypatch.setattr(room.doc, "get_state", lambda: reads.append(True) or get_state())
        typist = Doc()
        typed = []
        typist.observe(lambda event: typed.append(event.update))  # what a Yjs client sends
        text = typist.get("content", type=Text)
        for word in ("one ", "two ", "three"):
            text += word
        for update in typed:
            await room.receive(sender, protocol.sync_update(update))
            await room.drain()
        assert str(room.text) == "one two three" and reads == []
        assert listener.updates() == typed


@pytest.mark.django_db(transaction=True)
async def test_new_clients_get_the_whole_document_as_it_is_now(owner):
    """The whole-document answer is encoded once per version of the document."""
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    writer, first, second, third = (FakeConnection(owner.pk) for _ in range(4))
    room = await registry.join(document.id, writer, writer.seat)
    await room.receive(writer, protocol.sync_update(edit("one")))
    await room.drain()

    def whole_document(conn) -> str:
        [step2] = [m for f in conn.frames for m in protocol.decode_frame(f) if m.step == SyncStep.STEP2]
        client = Doc()
        client.apply_update(step2.payload)
        return str(client.get("content", type=Text))

    for conn in (first, second):
        await registry.join(document.id, conn, conn.seat)
        await room.receive(conn, protocol.sync_step1(Doc().get_state()))
    assert whole_document(first) == whole_document(second) == "one"
    assert first.frames[-1] is second.frames[-1]  # the same bytes, encoded once

    await room.receive(writer, protocol.sync_update(edit("two")))
    await room.drain()
    await registry.join(document.id, third, third.seat)
    await room.receive(third, protocol.sync_step1(Doc().get_state()))
    assert len(whole_document(third)) == 6 and {"one", "two"} <= {whole_document(third)[:3], whole_document(third)[3:]}
    for conn in (writer, first, second, third):
        await registry.leave(room, conn)


@pytest.mark.django_db(transaction=True)
async def test_a_seat_decided_on_older_rights_is_checked_again_on_join(shared_document, owner, editor, viewer):
    from collab.access import sharing
    from collab.exceptions import AccessRemoved, DisconnectedByModerator
    from collab.realtime.members import seat_for

    def seat(user, rights=None):
        rights = rights or access.load_rights(shared_document.id)  # as the registry loads them
        return seat_for(user=user, session=None, document_id=shared_document.id, rights=rights)

    registry = RoomRegistry()
    first = FakeConnection(owner.pk)
    room = await registry.join(shared_document.id, first, await database_sync_to_async(seat)(owner))
    old_editor = await database_sync_to_async(seat)(editor)
    old_viewer = await database_sync_to_async(seat)(viewer)

    await database_sync_to_async(sharing.membership_remove)(document=shared_document, user=editor)
    await database_sync_to_async(sharing.membership_set)(document=shared_document, user=viewer, role="editor")
    await room.reload_rights()
    late = FakeConnection(editor.pk)
    with pytest.raises(AccessRemoved):
        await registry.join(shared_document.id, late, old_editor)
    assert f"user:{editor.pk}" not in registry.connections_of and late not in room.members
    promoted = FakeConnection(viewer.pk)
    await registry.join(shared_document.id, promoted, old_viewer)
    assert room.members[promoted].role == Role.EDITOR

    def seat_without_queries(user, rights):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            result = seat(user, rights)
        assert len(queries) == 0
        return result

    current = await database_sync_to_async(seat_without_queries)(viewer, registry.open_rights(shared_document.id))
    assert current.role == Role.EDITOR and current.rights_version == room.rights.version

    from collab.moderation import actions as moderation

    await database_sync_to_async(moderation.document_disconnect_all)(document=shared_document, actor=owner)
    await room.reload_rights()
    with pytest.raises(DisconnectedByModerator):
        await registry.join(shared_document.id, FakeConnection(viewer.pk), current)
    for conn in list(room.members):
        await registry.leave(room, conn)


def test_the_ticker_judges_sessions_and_accounts_only_on_what_it_read():
    from collab.access.rights import WatchState
    from collab.exceptions import CloseCode
    from collab.realtime.members import Member
    from collab.realtime.registry import session_problem

    seat = Seat(Principal(user_id=7, session_key="s7"), Role.EDITOR, identity_for(key="user:7"), session_hash="h")
    member = Member(FakeConnection(7), seat, seat.role)
    live = WatchState(documents={}, live_sessions={"s7"}, user_hashes={7: ("h", True)})
    assert session_problem(member, live, {"s7"}, {7}) is None
    logged_out = WatchState(documents={}, live_sessions=set(), user_hashes={7: ("h", True)})
    assert session_problem(member, logged_out, {"s7"}, {7}) == CloseCode.UNAUTHORIZED
    new_password = WatchState(documents={}, live_sessions={"s7"}, user_hashes={7: ("other", True)})
    assert session_problem(member, new_password, {"s7"}, {7}) == CloseCode.UNAUTHORIZED
    banned = WatchState(documents={}, live_sessions={"s7"}, user_hashes={7: ("h", False)})
    assert session_problem(member, banned, {"s7"}, {7}) == CloseCode.ACCOUNT_DISABLED
    # Joined while the state was read: neither its session nor its account was asked for.
    read_before_it_joined = WatchState(documents={}, live_sessions=set(), user_hashes={})
    assert session_problem(member, read_before_it_joined, set(), set()) is None


@pytest.mark.django_db(transaction=True)
async def test_catching_up_from_the_log_repairs_the_clients_too(owner):
    """Another worker's relay of entry 1 is lost and entry 2 overtakes it: after the
    catch-up every client holds both, as the room does."""
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    conn = FakeConnection(owner.pk)
    room = await registry.join(document.id, conn, conn.seat)
    elsewhere = Doc()
    typed: list[bytes] = []
    elsewhere.observe(lambda event: typed.append(event.update))
    text = elsewhere.get("content", type=Text)
    text += "a"
    text += "b"
    text += "c"
    await database_sync_to_async(persistence.append)(document.id, typed)  # entries 1..3, by another worker
    await room.apply_relayed(typed[1:], first_seq=2, count=2, growth=None)  # overtaking entry 1
    await room.catch_up()
    assert str(room.text) == "abc"
    assert conn.text() == "abc"
    assert room.tracker.seq == 3
    await registry.leave(room, conn)


class RecordingLayer:
    """A channel layer to other workers that records what the room publishes."""

    def __init__(self):
        self.sent: list[dict] = []  # to the document's group
        self.inboxes: list[tuple[str, dict]] = []  # (a worker's inbox, message)

    async def new_channel(self, prefix="room."):
        return prefix + "test"

    async def group_add(self, group, channel):
        pass

    async def group_discard(self, group, channel):
        pass

    async def group_send(self, group, event):
        self.sent.append(event)

    async def send(self, channel, message):
        self.inboxes.append((channel, message))

    async def receive(self, channel):
        await asyncio.Event().wait()  # nothing comes from other workers here


@pytest.mark.django_db(transaction=True)
async def test_other_workers_get_the_stored_updates_even_if_a_catch_up_applied_them_first(owner, monkeypatch):
    """The ticker's catch-up can apply an entry while its own commit is still
    returning; the relay to other workers must still carry it, since they count
    the entry as applied."""
    from collab.realtime import db
    from collab.realtime.room import Room

    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    layer = RecordingLayer()
    room = Room(document.id, layer=layer)
    await room.start()
    conn = FakeConnection(owner.pk)
    await room.join(conn, conn.seat)
    append = db.append

    async def append_then_catch_up(*args):
        first = await append(*args)
        await room.catch_up()  # the ticker ran while the commit was in flight
        return first

    monkeypatch.setattr(db, "append", append_then_catch_up)
    update = edit("typed")
    await room.receive(conn, protocol.sync_update(update))
    await room.drain()
    await room.replication.drain_outbox()
    [event] = [e for e in layer.sent if e["type"] == "doc.updates"]
    assert event["first_seq"] == 1 and event["count"] == 1
    assert event["updates"] == [update]
    await room.stop(compact=False)


@pytest.mark.django_db(transaction=True)
async def test_other_workers_are_told_before_the_local_clients_are_sent_to(owner):
    """Sending to a large room's local clients takes a while; the other workers'
    clients should not wait for that as well."""
    from collab.realtime.room import Room

    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    order: list[str] = []
    layer = RecordingLayer()
    publish = layer.group_send

    async def recording_publish(group, event):
        order.append(event["type"])
        await publish(group, event)

    layer.group_send = recording_publish

    async def local_send(frame):
        if protocol.decode_frame(frame)[0].step == SyncStep.UPDATE:
            order.append("local")

    room = Room(document.id, layer=layer)
    await room.start()
    conns = [FakeConnection(owner.pk, on_frame=local_send) for _ in range(3)]
    for conn in conns:
        await room.join(conn, conn.seat)
    await room.replication.drain_outbox()
    order.clear()
    await room.receive(conns[0], protocol.sync_update(edit("typed")))
    await room.drain()
    await room.replication.drain_outbox()
    assert order == ["doc.updates", "local", "local", "local"]
    await room.stop(compact=False)


@pytest.mark.django_db(transaction=True)
async def test_connections_arriving_together_share_one_load_of_the_rights(owner, monkeypatch):
    from collab.realtime.room import Room

    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    loads = []
    load_rights = access.load_rights
    monkeypatch.setattr(access, "load_rights", lambda *args: loads.append(args) or load_rights(*args))
    together = await asyncio.gather(*(registry.current_rights(document.id) for _ in range(5)))
    assert len(loads) == 1 and all(rights == together[0] for rights in together)  # one load for all
    assert together[0].owner_id == owner.pk
    assert await registry.current_rights(uuid.uuid4()) is None  # no such document
    loads.clear()
    opening, release = asyncio.Event(), asyncio.Event()
    start = Room.start

    async def slow_start(self, *args):
        opening.set()
        await release.wait()
        await start(self, *args)

    monkeypatch.setattr(Room, "start", slow_start)
    first = FakeConnection(owner.pk)
    joining = asyncio.create_task(registry.join(document.id, first, first.seat))
    await opening.wait()
    waiting = asyncio.create_task(registry.current_rights(document.id))
    await asyncio.sleep(0.05)  # nothing to wait for: time enough for a query it should not make
    assert not waiting.done()  # it waits for the opening instead of querying
    release.set()
    room = await joining
    rights = await waiting
    assert rights is room.rights and rights.owner_id == owner.pk
    assert len(loads) == 1  # the room's own load only
    await registry.leave(room, first)


@pytest.mark.django_db(transaction=True)
async def test_a_connection_with_a_direct_writer_gets_relays_through_it(owner):
    """Under `manage.py serve` a relay writes to each socket at once, without awaiting
    the connection; connections without a writer are sent to as before."""
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    written: list[bytes] = []
    direct = FakeConnection(owner.pk)
    direct.write_frame = written.append
    plain = FakeConnection(owner.pk)
    registry = RoomRegistry()
    room = await registry.join(document.id, direct, direct.seat)
    await registry.join(document.id, plain, plain.seat)
    await room.receive(plain, protocol.sync_update(edit("typed")))
    await room.drain()
    updates = [m for f in written for m in protocol.decode_frame(f) if m.step == SyncStep.UPDATE]
    assert len(updates) == 1 and len(plain.updates()) == 1  # the echo went the usual way
    assert direct.updates() == []
    await registry.leave(room, direct)
    await registry.leave(room, plain)


@pytest.mark.django_db(transaction=True)
async def test_a_stored_update_the_doc_refuses_is_not_relayed(owner, monkeypatch):
    """Checked before the commit, an update can still fail in the Doc (a panic in
    pycrdt): it stays in the log, but clients are not sent what the server could not apply."""
    from collab.exceptions import RejectedUpdate
    from collab.realtime import room as room_module

    async with sender_and_listener(owner) as (document, room, sender, listener):
        bad, good = edit("bad"), edit("good")
        apply = room_module.apply_update

        def failing(doc, update):
            if update == bad:
                raise RejectedUpdate("panicked")
            apply(doc, update)

        monkeypatch.setattr(room_module, "apply_update", failing)
        for update in (bad, good):
            await room.receive(sender, protocol.sync_update(update))
            await room.drain()
        assert listener.updates() == [good] and str(room.text) == "good"


@asynccontextmanager
async def rooms_on_two_workers(owner, monkeypatch):
    """One document's rooms as two workers hold them: (open_room, connections), where
    `await open_room()` starts a room on the shared layer with one connection in it.
    New rooms do not publish before they know of another (no announcement window)."""
    from channels.layers import InMemoryChannelLayer

    from collab.realtime.replication import Replication
    from collab.realtime.room import Room

    monkeypatch.setattr(Replication, "ANNOUNCE_SECONDS", 0.0)
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    layer = InMemoryChannelLayer()
    rooms: list[Room] = []
    connections: dict[Room, FakeConnection] = {}

    async def open_room():
        room = Room(document.id, layer=layer)
        await room.start()
        conn = connections[room] = FakeConnection(owner.pk)
        await room.join(conn, conn.seat)
        rooms.append(room)
        return room

    yield open_room, connections
    for room in rooms:
        if not room.closed:
            await room.stop(compact=False)


async def room_telling_other_workers(owner):
    """A room past its announcement window on a RecordingLayer, with one connection;
    and a function that types through it and counts the updates published so far."""
    from collab.realtime.room import Room

    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    layer = RecordingLayer()
    room = Room(document.id, layer=layer)
    room.replication.ANNOUNCE_SECONDS = 0.0
    await room.start()
    conn = FakeConnection(owner.pk)
    await room.join(conn, conn.seat)

    async def type_and_count_relays(text: str) -> int:
        await room.receive(conn, protocol.sync_update(edit(text)))
        await room.drain()
        await room.replication.drain_outbox()
        return sum(e["type"] == "doc.updates" for e in layer.sent)

    return room, layer, conn, type_and_count_relays


@pytest.mark.django_db(transaction=True)
async def test_a_room_publishes_only_while_another_worker_has_the_document_open(owner):
    room, layer, conn, type_and_count_relays = await room_telling_other_workers(owner)

    await room.replication.drain_outbox()
    channel = room.replication.channel
    assert layer.sent == [{"type": "doc.awareness_query", "origin": channel, "seq": 0, "worker": "worker.test"}]
    assert await type_and_count_relays("alone") == 0
    await room.replication.on_event({"type": "doc.awareness_query", "origin": "room.elsewhere", "seq": 1})
    await room.replication.drain_outbox()
    assert layer.sent[-1] == {"type": "doc.here", "origin": channel, "seq": 1, "worker": "worker.test"}
    assert await type_and_count_relays("heard") == 1
    await room.replication.on_event({"type": "doc.bye", "origin": "room.elsewhere"})
    assert await type_and_count_relays("alone again") == 1
    assert conn.text().count("alone") == 2 and "heard" in conn.text()  # every keystroke reached the local client
    await room.stop(compact=False)
    assert layer.sent[-1] == {"type": "doc.bye", "origin": channel, "worker": "worker.test"}


@pytest.mark.django_db(transaction=True)
async def test_a_room_that_knows_every_peers_inbox_sends_there_instead_of_to_the_group(owner):
    """Each worker then reads one message for a batch of events rather than one per
    event; the group still gets what is for rooms this one may not know."""
    room, layer, conn, type_and_count_relays = await room_telling_other_workers(owner)
    await room.replication.on_event({"type": "doc.alive", "origin": "room.a", "worker": "worker.1"})
    await room.replication.on_event({"type": "doc.alive", "origin": "room.b", "worker": "worker.2"})
    await room.replication.drain_outbox()
    sent = len(layer.sent)
    assert await type_and_count_relays("direct") == 0  # none to the group
    assert [(inbox, [(c, e["type"]) for c, e in m["events"]]) for inbox, m in layer.inboxes] == [
        ("worker.1", [("room.a", "doc.updates")]),
        ("worker.2", [("room.b", "doc.updates")]),
    ]
    await room.replication.on_event({"type": "doc.alive", "origin": "room.c"})  # says no inbox
    assert await type_and_count_relays("grouped") == 1 and len(layer.inboxes) == 2
    await room.replication.on_event({"type": "doc.bye", "origin": "room.c"})
    await room.stop(compact=False)
    assert layer.sent[-1]["type"] == "doc.bye" and len(layer.sent) == sent + 2
    assert [(inbox, m["events"][0][1]["type"]) for inbox, m in layer.inboxes[2:]] == [
        ("worker.1", "doc.bye"),
        ("worker.2", "doc.bye"),
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_room_forgets_a_peer_it_has_not_heard_from_and_stops_publishing(owner, settings):
    """A worker that crashed sends no goodbye; its silence ends the relaying to it."""
    settings.COLLAB_PEER_TIMEOUT = 10.0
    room, layer, conn, type_and_count_relays = await room_telling_other_workers(owner)

    async def tick():
        await room.tick((room.tracker.seq, room.rights.version), rejoin=False)
        await room.replication.drain_outbox()

    await room.replication.on_event({"type": "doc.alive", "origin": "room.elsewhere"})
    assert await type_and_count_relays("heard") == 1
    room.replication._sent_at -= 4  # quiet for more than a third of the timeout: it says it is still here
    await tick()
    assert layer.sent[-1] == {"type": "doc.alive", "origin": room.replication.channel, "worker": "worker.test"}
    room.replication._peers["room.elsewhere"].heard_at -= 9  # silent, but not for the whole timeout yet
    await tick()
    assert room.replication.peers == {"room.elsewhere"}
    room.replication._peers["room.elsewhere"].heard_at -= 2
    await tick()
    assert room.replication.peers == set()
    sent = len(layer.sent)
    assert await type_and_count_relays("alone") == 1  # not published
    await tick()
    assert len(layer.sent) == sent  # no one left to tell it is alive
    await room.replication.on_event({"type": "doc.alive", "origin": "room.elsewhere"})  # it was only cut off
    assert await type_and_count_relays("heard again") == 2
    await room.stop(compact=False)


@pytest.mark.django_db(transaction=True)
async def test_a_room_opening_elsewhere_gets_what_was_committed_while_nobody_listened(owner, monkeypatch):
    """The new room reads the log, then announces itself; a keystroke the first room
    commits in between is not published (it knew of nobody), so the answer carries
    the first room's log position and the newcomer catches up to it from the log,
    without waiting for the ticker."""
    async with rooms_on_two_workers(owner, monkeypatch) as (open_room, connections):
        first = await open_room()
        answer = asyncio.Event()
        on_event = first.replication.on_event

        async def held_until_answered(event):
            await answer.wait()  # the announcement arrives after the keystroke below
            await on_event(event)

        first.replication.on_event = held_until_answered
        second = await open_room()
        await first.receive(connections[first], protocol.sync_update(edit("unheard")))
        await first.drain()
        assert first.replication.peers == set() and second.tracker.seq == 0
        answer.set()
        assert await until(lambda: connections[second].text() == "unheard")
        assert second.tracker.seq == 1 and str(second.text) == "unheard"
        a, b = first.replication, second.replication
        assert a.peers == {b.channel} and b.peers == {a.channel}


@pytest.mark.django_db(transaction=True)
async def test_rooms_that_know_each_other_relay_both_ways_until_one_closes(owner, monkeypatch):
    async with rooms_on_two_workers(owner, monkeypatch) as (open_room, connections):
        first = await open_room()
        second = await open_room()
        a, b = first.replication, second.replication
        assert await until(lambda: a.peers == {b.channel} and b.peers == {a.channel})
        await first.receive(connections[first], protocol.sync_update(edit("one ")))
        assert await until(lambda: connections[second].text() == "one ")
        await second.receive(connections[second], protocol.sync_update(edit("two ")))
        assert await until(lambda: sorted(connections[first].text().split()) == ["one", "two"])
        await second.stop(compact=False)
        assert await until(lambda: first.replication.peers == set())
        assert not a.publishing()


def test_known_accounts_are_what_the_ticker_read_lately(settings):
    registry = RoomRegistry()
    assert registry.known_accounts() == {}  # nothing read yet
    registry._accounts, registry._accounts_read_at = {7: "olivia"}, time.monotonic()
    assert registry.known_accounts() == {7: "olivia"}
    registry._accounts_read_at -= 2 * settings.COLLAB_RESYNC_INTERVAL + 0.1  # the ticker stopped reading
    assert registry.known_accounts() == {}


def rights_messages(conn: FakeConnection) -> list[dict]:
    return [
        json.loads(protocol.read_var_string(m.payload, 1)[0])
        for f in conn.frames
        for m in protocol.decode_frame(f, from_server=True)
        if m.type == protocol.MessageType.AUTH
    ]


@pytest.mark.django_db(transaction=True)
async def test_joining_a_locked_document_says_it_is_locked(shared_document, owner, editor, viewer, moderator):
    from collab.moderation import actions as moderation

    await database_sync_to_async(moderation.document_lock)(document=shared_document, actor=moderator)
    registry = RoomRegistry()
    joiners = [FakeConnection(owner.pk), FakeConnection(editor.pk, Role.EDITOR), FakeConnection(viewer.pk, Role.VIEWER)]
    for conn in joiners:
        room = await registry.join(shared_document.id, conn, conn.seat)
    assert [rights_messages(conn) for conn in joiners] == [
        [{"role": role, "canWrite": False, "reason": "locked"}] for role in ("owner", "editor", "viewer")
    ]
    await database_sync_to_async(moderation.document_unlock)(document=shared_document, actor=moderator)
    await room.reload_rights()
    assert [rights_messages(conn)[-1] for conn in joiners] == [
        {"role": "owner", "canWrite": True, "reason": ""},
        {"role": "editor", "canWrite": True, "reason": ""},
        {"role": "viewer", "canWrite": False, "reason": ""},
    ]
    for conn in joiners:
        await registry.leave(room, conn)


class RoomStandIn:
    """What RoomRights needs of a room: its members, a way to send and to close, and
    its discussion (told when what members may say changes)."""

    def __init__(self):
        from collab.realtime.discussion import RoomDiscussion
        from collab.yjs.crdt import new_doc

        self.id = "stand-in"
        self.doc, _ = new_doc()
        self.members = {}
        self.sent: list[tuple[object, bytes]] = []
        self.closed: list[tuple[object, int]] = []
        self.discussion = RoomDiscussion(self)
        self.permissions = None  # the RoomRights under test

    @property
    def rights(self):
        return self.permissions.rights

    async def send(self, member, frame):
        self.sent.append((member, frame))

    async def close_member(self, member, code, reason):
        self.closed.append((member, code))


async def test_room_rights_on_their_own_tell_a_new_role_close_a_removed_member_and_notice_an_expiry():
    from datetime import timedelta

    from django.utils import timezone

    from collab.exceptions import CloseCode
    from collab.realtime.members import Member
    from collab.realtime.room_rights import RoomRights

    room = RoomStandIn()
    editor, guest = FakeConnection(2, Role.EDITOR), FakeConnection(None, Role.VIEWER)
    guest.seat = Seat(Principal(link_tokens=("t",)), Role.VIEWER, identity_for(key="link:t"))
    for conn in (editor, guest):
        room.members[conn] = Member(conn, conn.seat, conn.seat.role)
    soon = timezone.now() + timedelta(hours=1)
    rights = room.permissions = RoomRights(
        room, access.DocumentRights("d", owner_id=1, version=1, members={2: Role.EDITOR})
    )
    assert rights.can_write(room.members[editor]) and not rights.stale(1) and rights.stale(2)

    await rights.apply(
        access.DocumentRights("d", owner_id=1, version=2, members={2: Role.VIEWER}, links={"t": (Role.VIEWER, soon)})
    )
    assert room.closed == [] and room.members[editor].role == Role.VIEWER
    assert not rights.can_write(room.members[editor])
    editor.frames = [frame for member, frame in room.sent if member is room.members[editor]]
    assert rights_messages(editor) == [{"role": "viewer", "canWrite": False, "reason": ""}]
    assert not rights.stale(2)

    rights.expiry = timezone.now() - timedelta(seconds=1)  # the link's expiry has come
    assert rights.stale(2)
    await rights.apply(access.DocumentRights("d", owner_id=1, version=3, members={2: Role.VIEWER}))
    assert room.closed == [(room.members[guest], CloseCode.FORBIDDEN)]
