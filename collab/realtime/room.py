"""A room: one open document in this worker process, shared by all its connections.

The room holds one pycrdt Doc and the awareness states. Its Doc only ever holds
what is committed to the database: a client's update is checked, appended to the
log (one transaction for everything that arrived meanwhile: group commit), and
only then applied and relayed, to every local connection including its sender
(the echo is the sender's proof that the server stored it) and, once, to the
other workers (see below). So whatever any client has received from the server
is in the database, even if every worker dies.

Channel layers drop messages (Redis Pub/Sub while a worker is cut off from
Redis, the in-memory layer over `capacity`). Each room numbers what it has
applied by log `seq`; the registry's ticker compares that with the database and
re-reads the log when a room has stayed behind for a full tick, and re-joins the
group. That bounds divergence to about two ticks (`COLLAB_RESYNC_INTERVAL`).

A room publishes only while another worker has the document open: a publish,
and reading it back (Pub/Sub delivers to the publisher's own subscription too),
took a third of a worker's CPU for documents no other worker held. Rooms learn
of each other from an announcement when one opens (answered with the answerer's
log position, so that the newcomer catches up on what was committed while
nobody listened), from every event they receive, and from a goodbye when one
closes, or, for one on a worker that crashed, from its silence: a room sends
something at least every third of `COLLAB_PEER_TIMEOUT` and forgets a peer it
has not heard from in that long. A new room publishes everything for its first
`ANNOUNCE_SECONDS` while the answers come in, and one that had to catch up from
the log announces itself again, so a lost announcement costs a catch-up, not
more. Past that window, a room that knows every peer's worker sends its events
to those rooms directly, through their workers' inboxes (`collab.realtime.inbox`): a
worker then reads one message per batch of events, not one per event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.utils import timezone
from pycrdt import merge_updates

from collab.access.rights import DocumentRights
from collab.exceptions import (
    AccessRemoved,
    ClientTooSlow,
    CloseCode,
    ConnectionClosingError,
    DisconnectedByModerator,
    DocumentTooLarge,
    RateLimited,
    RejectedUpdate,
)
from collab.infra import outage
from collab.realtime import db
from collab.realtime.events import (
    AliveEvent,
    AwarenessEvent,
    AwarenessQueryEvent,
    ByeEvent,
    HereEvent,
    UpdatesEvent,
    group_name,
)
from collab.realtime.inbox import Inbox, inbox_for, listen
from collab.realtime.members import Connection, Member, Seat
from collab.realtime.publisher import Publisher, publisher_for
from collab.storage import persistence
from collab.yjs.awareness import AwarenessStates, stamp_identity
from collab.yjs.crdt import (
    EMPTY_STATE_VECTOR,
    EMPTY_UPDATE,
    apply_stored,
    apply_update,
    check_state_vector,
    check_update,
    new_doc,
)
from collab.yjs.protocol import (
    AWARENESS_HEADER_BYTES,
    AwarenessEntry,
    Message,
    MessageType,
    SyncStep,
    awareness_frame,
    awareness_frames,
    decode_awareness,
    decode_frame,
    encode_awareness,
    extension_frame,
    rights_frame,
    sync_step1,
    sync_step2,
    sync_update,
)

logger = logging.getLogger(__name__)

UPDATE_HEADER_BYTES = 7  # a sync update message's bytes before its payload: type, step, length (< 32 GiB)


def role_under(rights: DocumentRights, seat: Seat):
    """The seat's role under `rights`; DisconnectedByModerator or AccessRemoved if none."""
    if seat.epoch < rights.epoch:
        raise DisconnectedByModerator("disconnected by a moderator")
    role = rights.role_of(seat.principal)
    if role is None:
        raise AccessRemoved("access removed")
    return role


class SeqTracker:
    """Which log entries the room has applied: all up to `seq`, plus ranges beyond it."""

    def __init__(self, seq: int = 0):
        self.seq = seq
        self.ahead: list[tuple[int, int]] = []

    def add(self, first: int, last: int) -> None:
        self.ahead.append((first, last))
        self.ahead.sort()
        while self.ahead and self.ahead[0][0] <= self.seq + 1:
            self.seq = max(self.seq, self.ahead.pop(0)[1])


@dataclass(slots=True)
class Peer:
    """This document's room on another worker, as far as this room knows it."""

    heard_at: float  # when it last sent anything (time.monotonic)
    inbox: str | None  # its worker's inbox (collab.realtime.inbox), if it said


@dataclass
class Pending:
    update: bytes
    author_id: int | None
    member: Member
    growth: int  # the most it can add to the document's encoded size


class Room:
    ANNOUNCE_SECONDS = 2.0  # a new room publishes everything this long, whether or not it knows of others

    def __init__(self, document_id, *, layer=None):
        """`layer`: the channel layer to the other workers, or None for a single process."""
        self.id = str(document_id)
        self.group = group_name(self.id)
        self.layer = layer
        self.rights: DocumentRights | None = None
        self.doc, self.text = new_doc()
        self.awareness = AwarenessStates()
        self.awareness_owners: dict[int, Member] = {}  # which local connection introduced a client id
        self.members: dict[Connection, Member] = {}
        self.tracker = SeqTracker()
        self.behind_at: int = 0  # the database's seq at the last tick, if we were behind it
        self.channel: str | None = None
        self._peers: dict[str, Peer] = {}  # by channel
        self._sent_at = 0.0  # when this room last sent the other workers anything
        self._announced_until = 0.0
        self.pending: list[Pending] = []
        self.since_compaction = 0
        self._whole_doc_step2: bytes | None = None  # what a client holding nothing gets, until the Doc changes
        self.size: int | None = None  # at least what `_whole_doc_step2` weighs, once measured (_within_limit)
        self._wake_flusher = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task] = []
        self._catch_up_lock = asyncio.Lock()
        self._publisher: Publisher | None = None  # the worker's queue of events for the other workers
        self._inbox: Inbox | None = None  # where the other workers' rooms send to this one
        self._last_ticket = 0  # of this room's latest event in it
        self.closed = False
        self.title: str | None = None  # as the ticker last read it
        # Read once: Django's settings object costs a lookup through LazyObject per
        # attribute, and these are read for every frame sent.
        self._max_backlog = settings.COLLAB_MAX_BACKLOG_BYTES
        self._probe_bytes = settings.COLLAB_PROBE_BYTES
        self._max_message = settings.COLLAB_MAX_MESSAGE_BYTES
        self._max_document = settings.COLLAB_MAX_DOCUMENT_BYTES

    # -- lifecycle ------------------------------------------------------------

    async def start(self, rights: DocumentRights | None = None) -> None:
        """Load the document (and its rights, unless given) and join the other workers' rooms.

        A room opened for a handshake is given the rights that decided it, read
        moments before: a reconnect opens many rooms at once, and each read of the
        rights is three queries. The ticker catches any change since, as for every room.
        """
        self.rights = rights or await db.load_rights(self.id)
        if self.rights is None:
            raise persistence.DocumentGone(self.id)
        state = await db.read_since(self.id)
        self._apply_stored(state)
        if self.layer is not None:
            self.channel = await self.layer.new_channel("room.")
            await self.layer.group_add(self.group, self.channel)
            self._publisher = publisher_for(self.layer)
            self._inbox = inbox_for(self.layer)
            await self._inbox.open()
            self._inbox.add(self.channel, self._on_event)
            receiving = listen(self.layer, self.channel, self._on_group_event, f"room {self.id}")
            self._tasks.append(asyncio.create_task(receiving, name=f"room-receive-{self.id}"))
            # Rooms of this document on other workers answer: who they are, who is there.
            self._announced_until = time.monotonic() + self.ANNOUNCE_SECONDS
            await self._announce()
        self._tasks.append(asyncio.create_task(self._flush_loop(), name=f"room-flush-{self.id}"))

    async def stop(self, *, compact: bool = True) -> None:
        """Persist what is pending, relay it, leave the group, stop the tasks."""
        self.closed = True
        await self.drain()
        if self.layer is not None:
            # To the whole group, for rooms that learnt of this one but it not of them;
            # and to each known peer's inbox, behind the events sent there before.
            bye: ByeEvent = {"type": "doc.bye", "origin": self.channel}
            await self._group_send(bye, everyone=True)
            if self._addressees():
                await self._group_send(dict(bye))
            await self._drain_outbox()
            self._inbox.discard(self.channel)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.layer is not None and self.channel:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception as exc:
                outage.redis.failed(f"room {self.id} leaving its group", exc)
        if compact and self.since_compaction:
            await self._compact()

    async def _drain_outbox(self, timeout: float = 5.0) -> None:
        """Wait until this room's events so far are sent to the other workers."""
        if self._publisher is None:
            return
        try:
            await asyncio.wait_for(self._publisher.wait_sent(self._last_ticket), timeout)
        except TimeoutError:
            logger.warning("room %s: events for other workers not sent in %g s", self.id, timeout)

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed and applied."""
        while self.pending or not self._idle.is_set():
            self._wake_flusher.set()
            await self._idle.wait()
            if self.pending:
                await asyncio.sleep(0)

    # -- members --------------------------------------------------------------

    async def join(self, conn: Connection, seat: Seat) -> Member:
        member = self.members[conn] = Member(conn, seat, seat.role)
        # Our sync step 1 asks the client for what we lack (its offline edits);
        # it also serves as the first backlog probe.
        member.probe_at = 0
        await self._send(member, sync_step1(self.doc.get_state()))
        current = self.awareness.current()
        if current:
            await self._send_awareness(member, current)
        if not self.can_write(member):
            # Why, as connected members are told when it changes: the page shows the lock.
            await self._send_rights(member, "locked" if self.rights and self.rights.locked else "")
        return member

    def recheck(self, seat: Seat) -> Seat:
        """The seat under the room's rights, if they changed after it was decided.

        Raises AccessRemoved or DisconnectedByModerator if it no longer holds.
        """
        rights = self.rights
        if rights is None or seat.rights_version >= rights.version:
            return seat
        role = role_under(rights, seat)
        return replace(seat, role=role, epoch=rights.epoch, rights_version=rights.version)

    async def leave(self, conn: Connection) -> Member | None:
        member = self.members.pop(conn, None)
        if member is None:
            return None
        for client_id in member.awareness_ids:
            if self.awareness_owners.get(client_id) is member:
                del self.awareness_owners[client_id]
        removed = self.awareness.remove(member.awareness_ids)
        if removed:
            await self._broadcast_awareness(encode_awareness(removed))
        return member

    # -- incoming frames ------------------------------------------------------

    async def receive(self, conn: Connection, frame: bytes) -> None:
        """Handle one frame from a member; ConnectionClosingError ends that connection."""
        member = self.members.get(conn)
        if member is None or member.closing:
            return
        if not member.messages.take(1) or not member.bytes.take(len(frame)):
            raise RateLimited("too many messages or bytes per second")
        for message in decode_frame(frame):
            await self._handle(member, message)

    async def _handle(self, member: Member, message: Message) -> None:
        if message.type == MessageType.SYNC:
            if message.step == SyncStep.STEP1:
                check_state_vector(message.payload)
                # Always answer, even with an empty update: the client is synced only then.
                await self._send(member, self._sync_step2(message.payload))
            else:
                if message.step == SyncStep.STEP2 and member.probe_at is not None:
                    # Replies come in order, so the client has read all we sent before the probe.
                    member.acked, member.probe_at = member.probe_at, None
                if self.can_write(member):
                    self.submit(member, message.payload)
                elif message.payload != EMPTY_UPDATE:
                    await self._refuse_write(member)
        elif message.type == MessageType.AWARENESS:
            await self._client_awareness(member, message.payload)
        elif message.type == MessageType.QUERY_AWARENESS:
            await self._send_awareness(member, self.awareness.current())

    def _sync_step2(self, state_vector: bytes) -> bytes:
        if state_vector != EMPTY_STATE_VECTOR:
            return sync_step2(self.doc.get_update(state_vector))
        # New tabs all ask for the whole document: encode it once per version, not per
        # joiner (milliseconds for a large document).
        if self._whole_doc_step2 is None:
            self._whole_doc_step2 = sync_step2(self.doc.get_update(state_vector))
        return self._whole_doc_step2

    def submit(self, member: Member, update: bytes) -> None:
        if update == EMPTY_UPDATE:
            return
        growth = check_update(update)
        self.pending.append(Pending(update, member.principal.user_id, member, growth))
        self._idle.clear()
        self._wake_flusher.set()

    async def _client_awareness(self, member: Member, payload: bytes) -> None:
        entries = []
        user = member.seat.identity.as_awareness_user()
        for entry in decode_awareness(payload):
            owner = self.awareness_owners.get(entry.client_id)
            if owner is not None and owner is not member:
                continue  # another connection's client id: nobody may speak for someone else
            if entry.removed:
                member.awareness_ids.discard(entry.client_id)
                self.awareness_owners.pop(entry.client_id, None)
            else:
                member.awareness_ids.add(entry.client_id)
                self.awareness_owners[entry.client_id] = member
            entries.append(stamp_identity(entry, user))
        if not entries:
            return
        self.awareness.apply(entries)
        # Relayed to everyone, the sender included: for an idle client this echo is
        # the only traffic, and without traffic the browser client reconnects.
        await self._broadcast_awareness(encode_awareness(entries))

    # -- commit, then relay ---------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._wake_flusher.wait()
            self._wake_flusher.clear()
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    await self._commit(batch)
                except persistence.DocumentGone:
                    logger.info("room %s: the document was deleted", self.id)
                    await self.close_all(CloseCode.NOT_FOUND, "document deleted")
                    self.pending.clear()
                except Exception:
                    # The database is unreachable or failing. Nothing of the batch was
                    # relayed; its senders reconnect and resend (Yjs resends on sync).
                    logger.exception(
                        "room %s: could not store %d updates; closing their connections", self.id, len(batch)
                    )
                    await self.close_all(CloseCode.INTERNAL, "storage failed")
                    self.pending.clear()
            self._idle.set()

    async def _commit(self, batch: list[Pending]) -> None:
        batch = await self._within_limit(batch)
        if not batch:
            return
        updates = [p.update for p in batch]
        first = await db.append(self.id, updates, [p.author_id for p in batch])
        self.since_compaction += len(batch)
        applied = self._apply_all(updates)
        growth = sum(p.growth for p in batch)
        self._grown(growth)
        self.tracker.add(first, first + len(batch) - 1)
        await self._relay(applied, first_seq=first, stored=updates, growth=growth)
        if self.since_compaction >= settings.COLLAB_COMPACT_EVERY:
            self.since_compaction = 0
            asyncio.create_task(self._compact())

    async def _within_limit(self, batch: list[Pending]) -> list[Pending]:
        """The batch without the updates that would make the document larger than
        COLLAB_MAX_DOCUMENT_BYTES; their connections are closed with 4507.

        `self.size` is an upper bound of what the whole document's sync step 2
        weighs: measured at the first write after the room opened (or caught up
        from the log), plus the most each update applied since can add
        (`check_update`). So a keystroke costs an addition. Only updates that
        would take the bound past the limit are looked at closely: the document
        is measured as it is (once per batch), then, if that is not enough,
        with them applied to a copy, all at once (clients that reconnect to a
        full document send what it holds already: one copy for all of them),
        and only if that passes the limit one by one. A deletion may make the
        document smaller, so one that makes room is accepted at the limit. A
        refused connection's later updates in the batch are dropped with it:
        they may build on the refused one.
        """
        accepted: list[Pending] = []
        undecided: list[Pending] = []  # the bound says they may pass the limit
        refused: dict[Member, tuple[int, int]] = {}  # (the update's bytes, what the document would have weighed)
        measured = self.size is None
        size = self._measure() if measured else self.size
        for pending in batch:
            if undecided and any(p.member is pending.member for p in undecided):
                undecided.append(pending)  # after its own earlier update
                continue
            if size + pending.growth > self._max_document and not measured:
                size, measured = self._measure() + sum(p.growth for p in accepted), True
            if size + pending.growth <= self._max_document:
                size += pending.growth
                accepted.append(pending)
            else:
                undecided.append(pending)
        if undecided:
            applied = [p.update for p in accepted]
            if self._measure(applied + [p.update for p in undecided]) <= self._max_document:
                return accepted + undecided
            for pending in undecided:
                if pending.member in refused:
                    continue
                await asyncio.sleep(0)  # each copy takes milliseconds: let other rooms' frames through
                would_be = self._measure(applied + [pending.update])
                if would_be <= self._max_document:
                    accepted.append(pending)
                    applied.append(pending.update)
                else:
                    refused[pending.member] = (len(pending.update), would_be)
        for member, (update_bytes, would_be) in refused.items():
            logger.warning(
                "room %s: refusing an update of %d bytes: the document would weigh %d bytes, over "
                "COLLAB_MAX_DOCUMENT_BYTES (%d); closing its connection with %d",
                self.id,
                update_bytes,
                would_be,
                self._max_document,
                CloseCode.DOCUMENT_TOO_LARGE,
            )
            exc = DocumentTooLarge(f"the document would pass {self._max_document} bytes")
            await self.close_member(member, exc.code, str(exc))
        return accepted

    def _grown(self, growth: int | None) -> None:
        """Updates that can add up to `growth` bytes (None: unknown) were applied."""
        if growth is None:
            self.size = None
        elif self.size is not None:
            self.size += growth

    def _measure(self, updates: list[bytes] = ()) -> int:
        """Exactly what the whole document's sync step 2 weighs, or would with `updates` applied."""
        if not updates:
            whole = self._whole_doc_step2
            self.size = len(whole) if whole is not None else len(sync_step2(self.doc.get_update()))
            return self.size
        doc, _ = new_doc()
        for update in [self.doc.get_update(), *updates]:
            try:
                apply_update(doc, update)
            except RejectedUpdate:
                pass  # it would not apply to the room's Doc either
        return len(sync_step2(doc.get_update()))

    def _apply_all(self, updates: list[bytes], *, stored: bool = False) -> list[bytes]:
        """Apply updates to the Doc; return those that applied, to be relayed.

        They are relayed as they came and as the log holds them, not as the Doc
        reports its transactions: it may hold back structs whose dependencies it
        lacks and, once those arrive, integrate them without reporting them, or
        integrate a struct past a gap in its client's clocks and report nothing.
        Clients given what the log holds do as the Doc did (and read a duplicate as
        a no-op); a client given the Doc's reports lost such text.
        """
        self._whole_doc_step2 = None
        applied = []
        for update in updates:
            if stored:
                if not apply_stored(self.doc, update):
                    continue
            else:
                try:
                    apply_update(self.doc, update)
                except Exception as exc:  # checked before commit, so this is rare: keep going
                    logger.error("room %s: a committed update did not apply: %s", self.id, exc)
                    continue
            applied.append(update)
        return applied

    async def _relay(
        self, updates: list[bytes], *, first_seq: int | None = None, stored: list[bytes] = (), growth: int = 0
    ) -> None:
        """Send `updates` to every local member; with `first_seq`, tell the other workers
        about the log entries `stored` from there on (and the most they can add to the
        document's encoded size: `growth`)."""
        if first_seq is not None and self._publishing():
            # Every stored entry, also one that did not apply here: the other workers
            # count these entries as applied.
            event: UpdatesEvent = {
                "type": "doc.updates",
                "origin": self.channel,
                "first_seq": first_seq,
                "updates": list(stored),
                "count": len(stored),
                "growth": growth,
            }
            await self._group_send(event)
            # Let the publisher send it before the local sends: those take a
            # while in a large room, and the other workers' clients wait meanwhile.
            await asyncio.sleep(0)
        for frame in self._update_frames(updates):
            await self._send_all(frame)

    def _update_frames(self, updates: list[bytes]) -> list[bytes]:
        """Update messages carrying `updates`, each within COLLAB_MAX_MESSAGE_BYTES.

        One frame for the whole batch, encoded once, when it fits: under load a
        group commit holds several clients' updates, and every frame costs each
        recipient. A batch that does not fit is merged in runs that do, in order.
        A single update larger than that is sent alone, as stored: a client sent
        it within the limit, or it is a snapshot a catch-up read, which the
        document limit bounds.
        """
        runs: list[list[bytes]] = []
        space = 0  # left in the last run
        for update in updates:
            if not runs or len(update) > space:
                runs.append([])
                space = self._max_message - UPDATE_HEADER_BYTES
            runs[-1].append(update)
            space -= len(update)
        frames = []
        for run in runs:
            frame = sync_update(run[0] if len(run) == 1 else merge_updates(*run))
            if len(frame) > self._max_message and len(run) > 1:
                frames += [sync_update(update) for update in run]  # merging made it larger: unmerged
            else:
                frames.append(frame)
        return frames

    @property
    def peers(self):
        """Channels of this document's rooms on other workers (as a set-like view)."""
        return self._peers.keys()

    def _publishing(self) -> bool:
        """Whether to tell other workers: one of them has the document open, or may."""
        return self.layer is not None and (bool(self._peers) or time.monotonic() < self._announced_until)

    def _addressees(self) -> dict[str, str] | None:
        """{peer's channel: its worker's inbox} when the peers are all known, else
        None: while the room may not know them all yet (its announcement window),
        or one did not say its inbox, events go to the whole group."""
        if time.monotonic() < self._announced_until:
            return None
        to = {}
        for channel, peer in self._peers.items():
            if peer.inbox is None:
                return None
            to[channel] = peer.inbox
        return to

    async def _announce(self) -> None:
        event: AwarenessQueryEvent = {"type": "doc.awareness_query", "origin": self.channel, "seq": self.tracker.seq}
        await self._group_send(event, everyone=True)

    async def _group_send(self, event, *, everyone: bool = False) -> None:
        """Queue an event for the other workers; the worker's publisher sends them in order.

        To the peers' inboxes when this room knows them all (`everyone` sends to the
        whole group: an announcement is for rooms it does not know yet). The caller
        does not wait for Redis, so a slow round trip never holds up the next group
        commit or the local relay. If the queue is full the event is dropped: the
        other workers' ticker repairs that from the log.
        """
        event["worker"] = self._inbox.channel
        ticket = self._publisher.publish(self.group, event, None if everyone else self._addressees())
        if ticket is None:
            logger.warning("room %s: relay queue full, dropping a %s event", self.id, event["type"])
        else:
            self._last_ticket = ticket
            self._sent_at = time.monotonic()

    # -- from other workers ---------------------------------------------------

    async def _on_group_event(self, event) -> None:
        if event.get("origin") != self.channel:  # the group includes this room
            await self._on_event(event)

    async def _on_event(self, event) -> None:
        """An event from another worker's room, through the group or this worker's inbox."""
        kind = event.get("type")
        origin = event.get("origin")
        if kind == "doc.bye":
            self._peers.pop(origin, None)
            return
        if origin:
            peer = self._peers.get(origin)
            if peer is None:
                self._peers[origin] = Peer(time.monotonic(), event.get("worker"))
            else:
                peer.heard_at = time.monotonic()
        if kind == "doc.updates":
            applied = self._apply_all(event["updates"])
            self._grown(event.get("growth"))
            self.tracker.add(event["first_seq"], event["first_seq"] + event["count"] - 1)
            await self._relay(applied)
        elif kind == "doc.awareness":
            entries = decode_awareness(event["update"])
            self.awareness.apply(entries)
            if len(event["update"]) + AWARENESS_HEADER_BYTES <= self._max_message:
                await self._send_all(awareness_frame(event["update"]))
            else:  # every state of that worker's connections, answering our announcement
                for frame in awareness_frames(entries, self._max_message):
                    await self._send_all(frame)
        elif kind == "doc.here":
            if event.get("seq", 0) > self.tracker.seq:
                await self.catch_up()  # committed there while no one here listened
        elif kind == "doc.awareness_query":
            here: HereEvent = {"type": "doc.here", "origin": self.channel, "seq": self.tracker.seq}
            # Through the group, as the announcement came: the announcer may catch up
            # from the log on it, which it does on its own task, not on the inbox's.
            await self._group_send(here, everyone=True)
            local = [self.awareness.entries[cid] for cid in self.awareness_owners if cid in self.awareness.entries]
            local = [entry for entry in local if not entry.removed]
            if local:
                event: AwarenessEvent = {
                    "type": "doc.awareness",
                    "origin": self.channel,
                    "update": encode_awareness(local),
                }
                await self._group_send(event)

    # -- extension messages (collab.yjs.protocol), to the pages that asked ---------

    async def send_extension(self, message: dict, members: list[Member] | None = None) -> None:
        frame = extension_frame(message)
        for member in list(self.members.values()) if members is None else members:
            if member.seat.extensions:
                await self._send(member, frame)

    async def retitle(self, title: str) -> None:
        """The title as the ticker read it: the pages are told when it changed."""
        if title != self.title:
            self.title = title
            await self.tell_title()

    async def tell_title(self, members: list[Member] | None = None) -> None:
        if self.title is not None:
            await self.send_extension({"type": "title", "title": self.title}, members)

    # -- rights ---------------------------------------------------------------

    def can_write(self, member: Member) -> bool:
        return member.role.can_write and not (self.rights and self.rights.locked)

    async def _send_rights(self, member: Member, reason: str = "") -> None:
        await self._send(member, rights_frame(member.role.value, self.can_write(member), reason))

    async def _refuse_write(self, member: Member) -> None:
        """A read-only connection sent changes: they are dropped; tell it (at most every few seconds)."""
        now = time.monotonic()
        if now - member.denied_notice_at > 5:
            member.denied_notice_at = now
            logger.info("room %s: ignoring changes from a read-only connection", self.id)
            await self._send_rights(member, "read-only")

    async def apply_rights(self, rights: DocumentRights) -> None:
        """Re-check every connection against new rights: close the ones that lost access."""
        was_locked = bool(self.rights and self.rights.locked)
        self.rights = rights
        for member in list(self.members.values()):
            try:
                role = role_under(rights, member.seat)
            except ConnectionClosingError as exc:
                logger.info("room %s: closing a connection: %s", self.id, exc)
                await self.close_member(member, exc.code, str(exc))
                continue
            if role != member.role or rights.locked != was_locked:
                could_write = member.role.can_write and not was_locked
                member.role = role
                await self._send_rights(member, "locked" if rights.locked else "")
                if self.can_write(member) and not could_write:
                    # It may hold changes we refused meanwhile, and later changes depend on
                    # them: our sync step 1 makes it send all we lack.
                    await self._send(member, sync_step1(self.doc.get_state()))

    async def reload_rights(self) -> None:
        rights = await db.load_rights(self.id)
        if rights is None:
            await self.close_all(CloseCode.NOT_FOUND, "document deleted")
        else:
            await self.apply_rights(rights)

    def rights_stale(self, version: int) -> bool:
        if self.rights is None or self.rights.version != version:
            return True
        expiry = self.rights.next_expiry()
        return False if expiry is None else expiry <= timezone.now()

    # -- anti-entropy ---------------------------------------------------------

    async def tick(self, state: tuple[int, int] | None, *, rejoin: bool) -> None:
        """Called by the registry every COLLAB_RESYNC_INTERVAL with the database's (seq, rights version)."""
        if state is None:
            await self.close_all(CloseCode.NOT_FOUND, "document deleted")
            return
        db_seq, rights_version = state
        if self.rights_stale(rights_version):
            await self.reload_rights()
        if self.behind_at and self.tracker.seq < self.behind_at:
            await self.catch_up()
        self.behind_at = db_seq if self.tracker.seq < db_seq else 0
        expired = self.awareness.expire()
        if expired:
            await self._send_all(awareness_frame(encode_awareness(expired)))
        if rejoin and self.layer is not None and self.channel:
            try:
                await self.layer.group_add(self.group, self.channel)  # Redis may have restarted
            except Exception as exc:
                outage.redis.failed(f"room {self.id} re-joining its group", exc)
        await self._keep_peers()

    async def _keep_peers(self) -> None:
        """Forget peers not heard from in a while, and tell them we are still here.

        A worker that crashed sends no goodbye: its peers would publish every update
        to no one until their rooms closed. Each room therefore sends something at
        least every third of the timeout (an alive event when nothing else went),
        and forgets a peer silent for the whole timeout. One forgotten by mistake
        (Redis cut off meanwhile) is learnt again from its next event, or from the
        announcement that follows a catch-up.
        """
        if not self._peers:
            return
        now = time.monotonic()
        timeout = settings.COLLAB_PEER_TIMEOUT
        for channel in [c for c, peer in self._peers.items() if now - peer.heard_at > timeout]:
            logger.info("room %s: nothing from %s in %g s; no longer relaying to it", self.id, channel, timeout)
            del self._peers[channel]
        if self._peers and now - self._sent_at > timeout / 3:
            alive: AliveEvent = {"type": "doc.alive", "origin": self.channel}
            await self._group_send(alive)

    async def catch_up(self) -> None:
        """Apply what the log holds beyond our seq (relays we missed)."""
        async with self._catch_up_lock:
            since = self.tracker.seq
            state = await db.read_since(self.id, since)
            if state.seq > since:
                logger.info("room %s: caught up from the log, entries %d..%d", self.id, since + 1, state.seq)
                applied = self._apply_all(state.all_updates(), stored=True)
                self.size = None  # measured again when next needed
                self.tracker.add(since + 1, state.seq)
                # Entries relayed to us after the lost one wait, in the Doc and in
                # each client, for what they depend on: the log's entries release them.
                await self._relay(applied)
                if self.layer is not None:
                    await self._announce()  # a worker that did not know of us now does

    def _apply_stored(self, state: persistence.LogState) -> None:
        self._apply_all(state.all_updates(), stored=True)
        self.tracker = SeqTracker(state.seq)

    async def _compact(self) -> None:
        try:
            folded = await db.run(persistence.compact, self.id)
            if folded:
                logger.debug("room %s: compacted %d log entries", self.id, folded)
        except persistence.DocumentGone:
            pass
        except Exception:
            logger.exception("room %s: compaction failed", self.id)

    # -- sending --------------------------------------------------------------

    async def _broadcast_awareness(self, update: bytes) -> None:
        await self._send_all(awareness_frame(update))
        if self._publishing():
            event: AwarenessEvent = {"type": "doc.awareness", "origin": self.channel, "update": update}
            await self._group_send(event)

    async def _send_awareness(self, member: Member, entries: list[AwarenessEntry]) -> None:
        for frame in awareness_frames(entries, self._max_message):
            await self._send(member, frame)

    async def _send_all(self, frame: bytes) -> None:
        for member in list(self.members.values()):
            await self._send(member, frame)

    async def _send(self, member: Member, frame: bytes) -> None:
        if member.closing:
            return
        member.sent += len(frame)
        try:
            if member.conn.write_frame is not None:
                member.conn.write_frame(frame)
            else:
                await member.conn.send_frame(frame)
            backlog = member.sent - member.acked
            if backlog > self._max_backlog:
                raise ClientTooSlow(f"{backlog} bytes unread")
            if member.probe_at is None and backlog >= self._probe_bytes:
                # A sync step 1 is answered by a sync step 2: a read receipt for all before it.
                member.probe_at = member.sent
                await member.conn.send_frame(sync_step1(self.doc.get_state()))
        except ClientTooSlow as exc:
            logger.warning("room %s: closing a client that stopped reading (%s)", self.id, exc)
            await self.close_member(member, exc.code, str(exc))
        except Exception as exc:
            logger.info("room %s: send failed, dropping the connection: %r", self.id, exc)
            await self.close_member(member, CloseCode.INTERNAL, "send failed")

    async def close_member(self, member: Member, code: int, reason: str) -> None:
        if member.closing:
            return
        member.closing = True
        try:
            await member.conn.close_with(code, reason)
        except Exception as exc:
            logger.debug("room %s: close failed: %r", self.id, exc)

    async def close_all(self, code: int, reason: str) -> None:
        for member in list(self.members.values()):
            await self.close_member(member, code, reason)
