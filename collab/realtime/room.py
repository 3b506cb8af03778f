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

Three parts, one module each: this one holds the document's local state and
connections and does the commit and relay; `collab.realtime.replication` links
the room to the same document's rooms on other workers; and
`collab.realtime.room_rights` decides what each connection may do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from pycrdt import merge_updates

from collab.access import search
from collab.access.rights import DocumentRights
from collab.exceptions import ClientTooSlow, CloseCode, DocumentTooLarge, ForgedAuthor, RateLimited, RejectedUpdate
from collab.history import authorship, restore, versions
from collab.infra import metrics
from collab.realtime import db
from collab.realtime.discussion import RoomDiscussion
from collab.realtime.members import Connection, Member, Seat
from collab.realtime.replication import Replication
from collab.realtime.room_rights import RoomRights
from collab.storage import persistence
from collab.yjs.awareness import AwarenessStates, stamp_identity
from collab.yjs.crdt import (
    EMPTY_STATE_VECTOR,
    EMPTY_UPDATE,
    apply_stored,
    apply_update,
    check_state_vector,
    checked_update,
    decode_state_vector,
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
    sync_step1,
    sync_step2,
    sync_update,
)

logger = logging.getLogger(__name__)

UPDATE_HEADER_BYTES = 7  # a sync update message's bytes before its payload: type, step, length (< 32 GiB)


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


@dataclass
class Pending:
    update: bytes
    author_id: int | None
    member: Member
    growth: int  # the most it can add to the document's encoded size
    clients: dict[int, int]  # its state vector: the client ids it writes under, and how far


class Room:
    def __init__(self, document_id, *, layer=None):
        """`layer`: the channel layer to the other workers, or None for a single process."""
        self.id = str(document_id)
        self.permissions = RoomRights(self)
        self.discussion = RoomDiscussion(self)
        self.replication: Replication | None = Replication(self, layer) if layer is not None else None
        self.doc, self.text = new_doc()
        self.awareness = AwarenessStates()
        self.awareness_owners: dict[int, Member] = {}  # which local connection introduced a client id
        self.members: dict[Connection, Member] = {}
        self.tracker = SeqTracker()
        self.behind_at: int = 0  # the database's seq at the last tick, if we were behind it
        self.pending: list[Pending] = []
        self.since_compaction = 0
        self._whole_doc_step2: bytes | None = None  # what a client holding nothing gets, until the Doc changes
        self.size: int | None = None  # at least what `_whole_doc_step2` weighs, once measured (_within_limit)
        self._wake_flusher = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task] = []
        self._catch_up_lock = asyncio.Lock()
        self.closed = False
        self.title: str | None = None  # as the ticker last read it
        # Frames and bytes in, frames and bytes out since the ticker last handed them to
        # the metrics (collab.infra.metrics): plain additions on the keystroke path.
        self.traffic = [0, 0, 0, 0]
        self.commits: list[tuple[float, int]] = []  # (seconds, updates) of group commits, likewise
        self.owners: dict[int, str] = {}  # client id -> the person it belongs to, as far as known here
        # Versions (collab.history.versions): when the text last changed here, and
        # when it first changed since this room last cut one (time.monotonic).
        self.edited_at: float | None = None
        self.unversioned_since: float | None = None
        self._cutting: asyncio.Task | None = None
        # Search (collab.access.search): when the text first changed since it was last
        # stored for searching.
        self.unindexed_since: float | None = None
        self._indexing: asyncio.Task | None = None
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
        self.permissions.rights = rights or await db.load_rights(self.id)
        if self.rights is None:
            raise persistence.DocumentGone(self.id)
        self.discussion.start(self.rights.discussion_seq)
        state = await db.read_since(self.id)
        self._apply_stored(state)
        if self.replication is not None:
            await self.replication.open()
        self._tasks.append(asyncio.create_task(self._flush_loop(), name=f"room-flush-{self.id}"))

    async def stop(self, *, compact: bool = True) -> None:
        """Persist what is pending, relay it, leave the group, stop the tasks."""
        self.closed = True
        await self.drain()
        self.report_traffic()
        if self.replication is not None:
            await self.replication.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if compact and self.since_compaction:
            await self._compact()
        if self.unversioned_since is not None:  # the last person here left
            await self.cut_version()
        while self.unindexed_since is not None:  # a write under way may hold older text: then one more
            await self.index_text()

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed and applied."""
        while self.pending or not self._idle.is_set():
            self._wake_flusher.set()
            await self._idle.wait()
            if self.pending:
                await asyncio.sleep(0)

    @property
    def max_message(self) -> int:
        """COLLAB_MAX_MESSAGE_BYTES, as read when the room opened."""
        return self._max_message

    @property
    def rights(self) -> DocumentRights | None:
        """The document's rights as this room last read them."""
        return self.permissions.rights

    # -- members --------------------------------------------------------------

    async def join(self, conn: Connection, seat: Seat) -> Member:
        member = self.members[conn] = Member(conn, seat, seat.role)
        # Our sync step 1 asks the client for what we lack (its offline edits);
        # it also serves as the first backlog probe.
        member.probe_at = 0
        await self.send(member, sync_step1(self.doc.get_state()))
        current = self.awareness.current()
        if current:
            await self._send_awareness(member, current)
        if not self.permissions.can_write(member):
            # Why, as connected members are told when it changes: the page shows the lock.
            await self.permissions.tell(member, "locked" if self.permissions.locked else "")
        return member

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
        self.traffic[0] += 1
        self.traffic[1] += len(frame)
        if not member.messages.take(1) or not member.bytes.take(len(frame)):
            raise RateLimited("too many messages or bytes per second")
        for message in decode_frame(frame, extensions=member.seat.extensions):
            await self._handle(member, message)

    async def _handle(self, member: Member, message: Message) -> None:
        if message.type == MessageType.SYNC:
            if message.step == SyncStep.STEP1:
                check_state_vector(message.payload)
                # Always answer, even with an empty update: the client is synced only then.
                await self.send(member, self._sync_step2(message.payload))
            else:
                if message.step == SyncStep.STEP2 and member.probe_at is not None:
                    # Replies come in order, so the client has read all we sent before the probe.
                    member.acked, member.probe_at = member.probe_at, None
                if self.permissions.can_write(member):
                    self.submit(member, message.payload)
                elif message.payload != EMPTY_UPDATE:
                    await self.permissions.refuse_write(member)
        elif message.type == MessageType.AWARENESS:
            await self._client_awareness(member, message.payload)
        elif message.type == MessageType.QUERY_AWARENESS:
            await self._send_awareness(member, self.awareness.current())
        elif message.type == MessageType.EXTENSION:
            await self.discussion.receive(member, message.payload)

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
        growth, clients = checked_update(update)
        self.pending.append(Pending(update, member.principal.user_id, member, growth, clients))
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
        started = time.perf_counter()
        batch = await self._authored(batch)
        batch = await self._within_limit(batch)
        if not batch:
            return
        batch_size = len(batch)
        updates = [p.update for p in batch]
        first = await db.append(self.id, updates, [p.author_id for p in batch])
        self.since_compaction += len(batch)
        applied = self._apply_all(updates)
        growth = sum(p.growth for p in batch)
        self._grown(growth)
        self.tracker.add(first, first + len(batch) - 1)
        await self._relay(applied, first_seq=first, stored=updates, growth=growth)
        if len(self.commits) < 10_000:
            self.commits.append((time.perf_counter() - started, batch_size))
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

    async def _authored(self, batch: list[Pending], *, caught_up: bool = False) -> list[Pending]:
        """The batch without the updates that add text under a client id that another
        person owns; their connections are closed with 4422.

        The usual update writes only under ids its own person owns here: a lookup.
        Ids not known here are claimed for its person where nobody has them yet
        (one query). Only an update that still writes under another person's id
        is looked at closely: refused if it adds text under it, past the Doc's
        clocks. Before refusing, the room catches up from the log: text it had
        not received yet is not new.
        """
        suspects = [p for p in batch if any(self.owners.get(c) != p.member.author.person for c in p.clients)]
        if not suspects:
            return batch
        claims: dict[Member, set[int]] = {}
        for p in suspects:
            claims.setdefault(p.member, set()).update(c for c in p.clients if c not in self.owners)
        for member, clients in claims.items():
            if clients:
                self.owners.update(await db.run(authorship.claim, self.id, clients, member.author))
        others = [p for p in suspects if any(self.owners.get(c) != p.member.author.person for c in p.clients)]
        if not others:
            return batch
        clocks = decode_state_vector(self.doc.get_state())
        forged = {
            p.member
            for p in others
            if any(
                self.owners.get(c) != p.member.author.person and end > clocks.get(c, 0) for c, end in p.clients.items()
            )
        }
        if forged and not caught_up:
            await self.catch_up()
            return await self._authored(batch, caught_up=True)
        for member in forged:
            logger.warning("room %s: refusing an update that writes under another person's client id", self.id)
            exc = ForgedAuthor("an update under another person's client id")
            await self.close_member(member, exc.code, str(exc))
        return [p for p in batch if p.member not in forged]

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
        self._edited()
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
        if first_seq is not None and self.replication is not None and self.replication.publishing():
            await self.replication.publish_updates(first_seq, stored, growth)
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

    # -- from other workers (collab.realtime.replication) ----------------------

    async def apply_relayed(self, updates: list[bytes], first_seq: int, count: int, growth: int | None) -> None:
        """Log entries `first_seq`.. that another worker's room stored: apply and relay them here."""
        applied = self._apply_all(updates)
        self._grown(growth)
        self.tracker.add(first_seq, first_seq + count - 1)
        await self._relay(applied)

    async def apply_relayed_awareness(self, update: bytes) -> None:
        entries = decode_awareness(update)
        self.awareness.apply(entries)
        if len(update) + AWARENESS_HEADER_BYTES <= self._max_message:
            await self._send_all(awareness_frame(update))
        else:  # every state of that worker's connections, answering our announcement
            for frame in awareness_frames(entries, self._max_message):
                await self._send_all(frame)

    def local_awareness(self) -> bytes | None:
        """The awareness states of this worker's connections, encoded; None if there are none."""
        local = [self.awareness.entries[cid] for cid in self.awareness_owners if cid in self.awareness.entries]
        local = [entry for entry in local if not entry.removed]
        return encode_awareness(local) if local else None

    # -- extension messages (collab.yjs.protocol), to the pages that asked ---------

    async def send_extension(self, message: dict, members: list[Member] | None = None) -> None:
        frame = extension_frame(message)
        for member in list(self.members.values()) if members is None else members:
            if member.seat.extensions:
                await self.send(member, frame)

    async def retitle(self, title: str) -> None:
        """The title as the ticker read it: the pages are told when it changed."""
        if title != self.title:
            self.title = title
            await self.tell_title()

    async def tell_title(self, members: list[Member] | None = None) -> None:
        if self.title is not None:
            await self.send_extension({"type": "title", "title": self.title}, members)

    # -- rights (collab.realtime.room_rights) ----------------------------------

    def recheck(self, seat: Seat) -> Seat:
        return self.permissions.recheck(seat)

    async def apply_rights(self, rights: DocumentRights) -> None:
        await self.permissions.apply(rights)

    async def reload_rights(self) -> None:
        rights = await db.load_rights(self.id)
        if rights is None:
            await self.close_all(CloseCode.NOT_FOUND, "document deleted")
        else:
            await self.permissions.apply(rights)

    # -- anti-entropy ---------------------------------------------------------

    async def tick(self, state: tuple[int, int] | None, *, rejoin: bool) -> None:
        """Called by the registry every COLLAB_RESYNC_INTERVAL with the database's (seq, rights version)."""
        if state is None:
            await self.close_all(CloseCode.NOT_FOUND, "document deleted")
            return
        db_seq, rights_version = state
        if self.permissions.stale(rights_version):
            await self.reload_rights()
        if self.behind_at and self.tracker.seq < self.behind_at:
            await self.catch_up()
        self.behind_at = db_seq if self.tracker.seq < db_seq else 0
        self.report_traffic()
        now = time.monotonic()
        if versions.due(now, self.edited_at, self.unversioned_since):
            self.cut_version()
        if self.unindexed_since is not None and now - self.unindexed_since >= settings.COLLAB_SEARCH_INDEX_SECONDS:
            self.index_text()
        expired = self.awareness.expire()
        if expired:
            await self._send_all(awareness_frame(encode_awareness(expired)))
        if self.replication is not None:
            if rejoin:
                await self.replication.rejoin()
            await self.replication.keep_peers()

    async def catch_up(self) -> None:
        """Apply what the log holds beyond our seq (relays we missed)."""
        async with self._catch_up_lock:
            since = self.tracker.seq
            state = await db.read_since(self.id, since)
            if state.seq > since:
                logger.info("room %s: caught up from the log, entries %d..%d", self.id, since + 1, state.seq)
                metrics.CATCH_UPS.inc()
                applied = self._apply_all(state.all_updates(), stored=True)
                self.size = None  # measured again when next needed
                self.tracker.add(since + 1, state.seq)
                # Entries relayed to us after the lost one wait, in the Doc and in
                # each client, for what they depend on: the log's entries release them.
                await self._relay(applied)
                if self.replication is not None:
                    await self.replication.announce()  # a worker that did not know of us now does
                await self._tell_restores(since, state.seq)

    def report_traffic(self) -> None:
        """Hand what the room counted since the last tick to the metrics, off the keystroke's path."""
        commits, self.commits = self.commits, []
        for seconds, updates in commits:
            metrics.COMMIT_SECONDS.observe(seconds)
            metrics.COMMIT_BATCH.observe(updates)
        frames_in, bytes_in, frames_out, bytes_out = self.traffic
        if frames_in or frames_out:
            self.traffic = [0, 0, 0, 0]
            metrics.MESSAGES_IN.inc(frames_in)
            metrics.BYTES_IN.inc(bytes_in)
            metrics.MESSAGES_OUT.inc(frames_out)
            metrics.BYTES_OUT.inc(bytes_out)

    async def _tell_restores(self, after: int, upto: int) -> None:
        """Tell the pages about restores among the log entries after..upto (they reach rooms from the log)."""
        for restored in await db.run(restore.restores_between, self.id, after, upto):
            await self.send_extension(
                {"type": "restored", "by": restored.by_name, "version": restored.version_created.isoformat()}
            )

    def _apply_stored(self, state: persistence.LogState) -> None:
        self._apply_all(state.all_updates(), stored=True)
        self.tracker = SeqTracker(state.seq)
        self.edited_at = self.unversioned_since = self.unindexed_since = None  # loading is not editing

    # -- versions (collab.history.versions) -----------------------------------

    def _edited(self) -> None:
        self.edited_at = time.monotonic()
        if self.unversioned_since is None:
            self.unversioned_since = self.edited_at
        if self.unindexed_since is None:
            self.unindexed_since = self.edited_at

    def cut_version(self) -> asyncio.Task:
        """Cut a version of what is stored, in the background, one cut at a time.

        Every worker with the document open does this at about the same moment;
        the cut itself makes sure only one version comes of it.
        """
        if self._cutting is None or self._cutting.done():
            self.unversioned_since = None
            self._cutting = asyncio.create_task(self._cut(), name=f"room-version-{self.id}")
        return self._cutting

    async def _cut(self) -> None:
        try:
            await db.run(versions.version_cut, document_id=self.id)
        except persistence.DocumentGone:
            pass
        except Exception:
            logger.exception("room %s: could not cut a version", self.id)

    def index_text(self) -> asyncio.Task:
        """Store the text as it is now for searching, and anchor again the comment threads
        whose words came back, in the background, one at a time."""
        if self._indexing is None or self._indexing.done():
            self.unindexed_since = None
            self._indexing = asyncio.create_task(self._index(str(self.text)), name=f"room-search-{self.id}")
        return self._indexing

    async def _index(self, text: str) -> None:
        try:
            await db.run(search.search_index, {self.id: text})
        except Exception:
            logger.exception("room %s: could not store its text for searching", self.id)
        await self.discussion.reattach()

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
        if self.replication is not None and self.replication.publishing():
            await self.replication.publish_awareness(update)

    async def _send_awareness(self, member: Member, entries: list[AwarenessEntry]) -> None:
        for frame in awareness_frames(entries, self._max_message):
            await self.send(member, frame)

    async def _send_all(self, frame: bytes) -> None:
        for member in list(self.members.values()):
            await self.send(member, frame)

    async def send(self, member: Member, frame: bytes) -> None:
        if member.closing:
            return
        member.sent += len(frame)
        self.traffic[2] += 1
        self.traffic[3] += len(frame)
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
