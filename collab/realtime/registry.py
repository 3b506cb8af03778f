"""The rooms open in this process, one per document, and their shared ticker."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from collections import Counter

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from collab.access import rights as access
from collab.access.documents import HeadingTitles
from collab.exceptions import CloseCode, RateLimited
from collab.infra import metrics, outage
from collab.realtime import db, presence
from collab.realtime.connection_limits import ConnectionCounts
from collab.realtime.members import Connection, Member, Seat
from collab.realtime.room import Room
from collab.webhooks import changes as webhook_changes

logger = logging.getLogger(__name__)

REJOIN_EVERY_TICKS = 4


class RoomRegistry:
    def __init__(self):
        self.rooms: dict[str, Room] = {}
        self._opening: dict[str, asyncio.Future] = {}
        self._loading_rights: dict[str, asyncio.Future] = {}
        self._closing: dict[str, asyncio.Task] = {}
        self._ticker: asyncio.Task | None = None
        self.connections_of: Counter[str] = Counter()  # open connections per person (access's Principal.key)
        # What the ticker watches, counted as connections come and go rather than
        # gathered from every member on every tick.
        self.sessions: Counter[str] = Counter()
        self.users: Counter[int] = Counter()
        self._user_hashes: dict = {}  # the accounts' state at the last tick
        self._headings = HeadingTitles()  # the documents' first headings, for their titles
        self._accounts: dict = {}  # the users of this worker's connections, as the ticker last read them
        self._accounts_read_at = float("-inf")  # when that read began (time.monotonic)
        self._newcomers: list[tuple[Room, Member]] = []  # joined since the ticker's last read began
        self.presence = presence.Publisher()
        self.counts = ConnectionCounts(self.presence.redis)  # on all the workers, with Redis
        self._presence_dirty: set[str] = set()
        self._presence_gone: set[str] = set()
        self._changes_noted_at = self._changes_flushed_at = time.monotonic()  # for the webhooks

    async def join(self, document_id, conn: Connection, seat: Seat, rights=None) -> Room:
        """Put a connection in its document's room; RateLimited if a limit is reached.

        `rights`: the document's, as `current_rights` gave them for this handshake;
        a room opened for it starts from them rather than read them again.
        """
        # This worker's own counts first: all there is without Redis, or while it is unreachable.
        key = seat.principal.key
        if self.connections_of[key] >= settings.COLLAB_MAX_CONNECTIONS_PER_USER:
            raise RateLimited("too many connections for this user")
        await self.counts.admit(conn, person=key, document_id=document_id)
        try:
            room = await self._get(str(document_id), rights)
            if len(room.members) >= settings.COLLAB_MAX_CONNECTIONS_PER_DOCUMENT:
                raise RateLimited("too many connections to this document")
            seat = room.recheck(seat)  # decided on rights older than the room's?
        except BaseException:
            self.counts.release(conn)
            raise
        self._count(seat.principal, 1)
        # No await between getting the room and joining it: it cannot close meanwhile.
        member = await room.join(conn, seat)
        await room.tell_title([member])  # it may have changed since the page was made
        self._newcomers.append((room, member))
        self._presence_dirty.add(room.id)
        return room

    def open_rights(self, document_id):
        """The rights of the document's open room, kept current by the ticker; None if not open."""
        room = self.rooms.get(str(document_id))
        return room.rights if room is not None and not room.closed else None

    async def current_rights(self, document_id):
        """The document's rights for a new connection; None if it does not exist.

        The open room's if there is one (kept current by the ticker), after waiting
        for it if it is being opened; else loaded once for every connection asking
        meanwhile. Clients of a document tend to connect together (a reconnect after
        a restart, say): they share one load instead of each making its own.
        """
        document_id = str(document_id)
        opening = self._opening.get(document_id)
        if opening is not None:
            await asyncio.shield(opening)
        rights = self.open_rights(document_id)
        if rights is not None:
            return rights
        loading = self._loading_rights.get(document_id)
        if loading is None:
            loading = self._loading_rights[document_id] = asyncio.ensure_future(db.load_rights(document_id))
            loading.add_done_callback(lambda _: self._loading_rights.pop(document_id, None))
        return await asyncio.shield(loading)

    async def leave(self, room: Room, conn: Connection) -> None:
        member = await room.leave(conn)
        if member is not None:
            self._count(member.principal, -1)
            self.counts.release(conn)
        self._presence_dirty.add(room.id)
        if room.members or self.rooms.get(room.id) is not room:
            return
        self._presence_gone.add(room.id)
        # The last one out: store everything, then unload. A newcomer meanwhile
        # waits for this and loads a fresh room from the database.
        del self.rooms[room.id]
        metrics.ROOMS.labels(metrics.WORKER).dec()
        task = self._closing[room.id] = asyncio.create_task(room.stop())
        try:
            await asyncio.shield(task)
        finally:
            if self._closing.get(room.id) is task:
                del self._closing[room.id]

    def _count(self, principal, step: int) -> None:
        for counter, key in (
            (self.connections_of, principal.key),
            (self.sessions, principal.session_key),
            (self.users, principal.user_id),
        ):
            if key is not None:
                counter[key] += step
                if not counter[key]:
                    del counter[key]

    async def _get(self, document_id: str, rights=None) -> Room:
        while True:
            if document_id in self._closing:
                await asyncio.shield(self._closing[document_id])
                continue
            if document_id in self.rooms:
                return self.rooms[document_id]
            if document_id in self._opening:
                await asyncio.shield(self._opening[document_id])
                continue
            opened = self._opening[document_id] = asyncio.get_running_loop().create_future()
            try:
                room = Room(document_id, layer=cross_worker_layer())
                await room.start(rights)
                self.rooms[document_id] = room
                metrics.ROOMS.labels(metrics.WORKER).inc()
            finally:
                del self._opening[document_id]
                opened.set_result(None)
            if self._ticker is None or self._ticker.done():
                self._ticker = asyncio.create_task(self._tick_loop(), name="room-ticker")
            return room

    async def _tick_loop(self) -> None:
        for count in itertools.count(1):
            await asyncio.sleep(settings.COLLAB_RESYNC_INTERVAL)
            rooms = list(self.rooms.values())
            await self._publish_presence(heartbeat=count % REJOIN_EVERY_TICKS == 0)
            await self.counts.renew()
            if not rooms:
                if not self._opening:
                    return
                continue
            sessions, users = set(self.sessions), set(self.users)
            newcomers, self._newcomers = self._newcomers, []
            read_at = time.monotonic()
            try:
                state = await db.run(access.watch_state, [room.id for room in rooms], sessions, users)
            except Exception as exc:
                logger.warning("ticker: could not read the database: %r", exc)
                self._newcomers[:0] = [(room, m) for room, m in newcomers if room.members.get(m.conn) is m]
                continue
            self._accounts, self._accounts_read_at = state.accounts, read_at
            # Members are checked one by one only when a session ended or an account changed,
            # and each newcomer once: it may have been let in on the previous read (or
            # have read its account just before a change that read missed).
            suspect = state.user_hashes != self._user_hashes or not state.live_sessions.issuperset(sessions)
            self._user_hashes = state.user_hashes
            for room, member in newcomers:
                code = session_problem(member, state, sessions, users)
                if code and room.members.get(member.conn) is member:
                    await room.close_member(member, code, "session ended")
            changed = await self._note_changes(rooms, read_at)
            await self._titles_from_headings(rooms, changed, state.titles, state.following)
            for room in rooms:
                if room.closed:
                    continue
                try:
                    await room.tick(state.documents.get(room.id), rejoin=count % REJOIN_EVERY_TICKS == 0)
                    if room.id in state.titles and not room.closed:
                        await room.retitle(state.titles[room.id])
                        await room.discussion.tick(state.discussions.get(room.id))
                    for member in list(room.members.values()) if suspect else ():
                        code = session_problem(member, state, sessions, users)
                        if code:
                            await room.close_member(member, code, "session ended")
                except Exception:
                    logger.exception("ticker: room %s failed its tick", room.id)

    async def _note_changes(self, rooms: list[Room], now: float) -> list[str]:
        """Tell the webhooks which documents changed since the last tick (collab.webhooks.changes),
        and let them send what is due, at least every second; the ids of those documents."""
        since, self._changes_noted_at = self._changes_noted_at, now
        changed = [room.id for room in rooms if room.edited_at is not None and room.edited_at >= since]
        if not changed and now - self._changes_flushed_at < 1:
            return changed
        self._changes_flushed_at = now
        try:
            await db.run(webhook_changes.tick, changed)
        except Exception:
            logger.exception("ticker: could not note changes for webhooks")
        return changed

    async def _titles_from_headings(
        self, rooms: list[Room], changed: list[str], titles: dict[str, str], following: set[str]
    ) -> None:
        """Documents titled after their first heading follow it (collab.access.documents.HeadingTitles)."""
        edited = set(changed)
        texts = {
            room.id: (titles[room.id], str(room.text))
            for room in rooms
            if room.id in following and self._headings.looks_at(room.id, edited=room.id in edited)
        }
        self._headings.keep(following)
        if texts:
            try:
                await db.run(self._headings.retitle, texts)
            except Exception:
                logger.exception("ticker: could not title documents after their headings")

    def known_accounts(self) -> dict:
        """{user id: user} of the accounts with connections here, as the ticker read
        them within the last two ticks; empty if it has not (no rooms, or no database).

        A handshake of someone already connected takes the account from here instead
        of reading it again (collab.realtime.middleware). It is as current as what the open
        connections are held to: the ticker closes those of an account disabled or
        whose password changed at its next look, and these with them.
        """
        if time.monotonic() - self._accounts_read_at > 2 * settings.COLLAB_RESYNC_INTERVAL:
            return {}
        return self._accounts

    async def _publish_presence(self, *, heartbeat: bool) -> None:
        """Publish the rooms whose connections changed (all of them on a heartbeat)."""
        gone = self._presence_gone - set(self.rooms)
        ids = set(self.rooms) if heartbeat else (self._presence_dirty & set(self.rooms))
        self._presence_dirty.clear()
        self._presence_gone.clear()
        if not ids and not gone:
            return
        try:
            await self.presence.publish({i: self.rooms[i] for i in ids}, list(gone))
        except Exception as exc:
            outage.redis.failed("publishing presence", exc)
        else:
            outage.redis.ok()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Store what is pending, then ask every client to reconnect elsewhere."""
        rooms = list(self.rooms.values())
        await asyncio.wait_for(asyncio.gather(*(room.drain() for room in rooms), return_exceptions=True), timeout)
        for room in rooms:
            await room.close_all(CloseCode.GOING_AWAY, "server restarting")
        await self.counts.forget_all()  # its clients reconnect to other workers now
        logger.info("shutdown: %d rooms stored, their clients asked to reconnect", len(rooms))


def cross_worker_layer():
    """The channel layer that reaches other workers; None when there can be none.

    The in-memory layer lives in one process: a room would only hear itself.
    """
    layer = get_channel_layer()
    return None if layer is None or isinstance(layer, InMemoryChannelLayer) else layer


def session_problem(member: Member, state: access.WatchState, sessions: set, users: set) -> int | None:
    """A close code if the member's session or account no longer holds.

    `sessions`, `users`: what `state` was read for. A member who joined while it
    was being read is judged at the next tick, not on a state that lacks them.
    """
    principal = member.principal
    if principal.user_id in users:
        auth_hash, active = state.user_hashes.get(principal.user_id, ("", False))
        if not active:
            return CloseCode.ACCOUNT_DISABLED
        if member.seat.session_hash and auth_hash != member.seat.session_hash:
            return CloseCode.UNAUTHORIZED  # the password changed
    if principal.session_key in sessions and principal.session_key not in state.live_sessions:
        return CloseCode.UNAUTHORIZED  # logged out, or the session expired
    return None


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomRegistry] = weakref.WeakKeyDictionary()


def get_registry() -> RoomRegistry:
    """The registry of the running event loop (daphne has one; tests make many)."""
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = RoomRegistry()
    return registry
