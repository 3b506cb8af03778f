"""What each connection of a room may do, and how it learns of a change.

The room holds the document's rights (`collab.access.rights.DocumentRights`) as
they were last read; every member has a role under them. Writes from a member
that may not write are dropped and answered with a rights message; a change of
rights (the ticker noticed a new version, or a share link's expiry) re-checks
every member: a lost access closes the connection, a new role is told live.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from django.utils import timezone

from collab.access.rights import DocumentRights
from collab.exceptions import AccessRemoved, ConnectionClosingError, DisconnectedByModerator
from collab.realtime.members import Member, Seat
from collab.yjs.protocol import rights_frame, sync_step1

if TYPE_CHECKING:
    from collab.realtime.room import Room

logger = logging.getLogger(__name__)

REFUSAL_NOTICE_SECONDS = 5  # a read-only connection that keeps writing is told at most this often


def role_under(rights: DocumentRights, seat: Seat):
    """The seat's role under `rights`; DisconnectedByModerator or AccessRemoved if none."""
    if seat.epoch < rights.epoch:
        raise DisconnectedByModerator("disconnected by a moderator")
    role = rights.role_of(seat.principal)
    if role is None:
        raise AccessRemoved("access removed")
    return role


class RoomRights:
    """The rights of one room's document, applied to its members."""

    def __init__(self, room: Room, rights: DocumentRights | None = None):
        self.room = room
        self.rights = rights

    @property
    def rights(self) -> DocumentRights | None:
        return self._rights

    @rights.setter
    def rights(self, rights: DocumentRights | None) -> None:
        self._rights = rights
        # The next link expiry, taken now: once it has passed, next_expiry() no longer names it.
        self.expiry = rights.next_expiry() if rights is not None else None

    @property
    def locked(self) -> bool:
        return bool(self.rights and self.rights.locked)

    def can_write(self, member: Member) -> bool:
        return member.role.can_write and not (self.rights and self.rights.locked)

    def recheck(self, seat: Seat) -> Seat:
        """The seat under the room's rights, if they changed after it was decided.

        Raises AccessRemoved or DisconnectedByModerator if it no longer holds.
        """
        rights = self.rights
        if rights is None or seat.rights_version >= rights.version:
            return seat
        role = role_under(rights, seat)
        return replace(seat, role=role, epoch=rights.epoch, rights_version=rights.version)

    def stale(self, version: int) -> bool:
        """Whether the rights must be read again: a new version, or a share link expired."""
        if self.rights is None or self.rights.version != version:
            return True
        return self.expiry is not None and self.expiry <= timezone.now()

    async def tell(self, member: Member, reason: str = "") -> None:
        """Send the member its role and whether it may write, with why not (e.g. "locked")."""
        await self.room.send(member, rights_frame(member.role.value, self.can_write(member), reason))

    async def refuse_write(self, member: Member) -> None:
        """A read-only connection sent changes: they are dropped; tell it (at most every few seconds)."""
        now = time.monotonic()
        if now - member.denied_notice_at > REFUSAL_NOTICE_SECONDS:
            member.denied_notice_at = now
            logger.info("room %s: ignoring changes from a read-only connection", self.room.id)
            await self.tell(member, "read-only")

    async def apply(self, rights: DocumentRights) -> None:
        """Re-check every connection against new rights: close the ones that lost access."""
        room = self.room
        was_locked = self.locked
        # What each connection may do with comments and chat, to tell those for whom it changes.
        talk_before = {id(m): room.discussion.flags(m) for m in room.members.values()} if self.rights else {}
        self.rights = rights
        for member in list(room.members.values()):
            try:
                role = role_under(rights, member.seat)
            except ConnectionClosingError as exc:
                logger.info("room %s: closing a connection: %s", room.id, exc)
                await room.close_member(member, exc.code, str(exc))
                continue
            if role != member.role or rights.locked != was_locked:
                could_write = member.role.can_write and not was_locked
                member.role = role
                await self.tell(member, "locked" if rights.locked else "")
                if self.can_write(member) and not could_write:
                    # It may hold changes we refused meanwhile, and later changes depend on
                    # them: our sync step 1 makes it send all we lack.
                    await room.send(member, sync_step1(room.doc.get_state()))
        await room.discussion.retell(talk_before)
