"""A connection's place in a room: who it is, what it may do, what it has read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from django.conf import settings
from django.utils import timezone

from collab.access.identity import Identity
from collab.access.rights import Principal
from collab.history.authorship import Author, person_of
from collab.models import Role
from collab.realtime.limits import TokenBucket


class Connection(Protocol):
    """What a room needs from a client connection (the consumer provides it).

    `write_frame`, if not None, sends a frame at once without awaiting anything
    (collab.realtime.sockets); a room relaying to many members uses it instead of `send_frame`.
    """

    write_frame: Callable[[bytes], None] | None

    async def send_frame(self, frame: bytes) -> None: ...

    async def close_with(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class Seat:
    """Who joins, decided at the handshake."""

    principal: Principal
    role: Role
    identity: Identity
    session_hash: str = ""  # the account's session auth hash at connect: a password change alters it
    epoch: int = 0  # the document's connection epoch at connect
    rights_version: int = 0  # the version of the rights the role was decided on
    extensions: bool = False  # asked for collab's extension messages (`?ext=1`; collab.yjs.protocol)


@dataclass(eq=False)
class Member:
    conn: Connection
    seat: Seat
    role: Role
    awareness_ids: set[int] = field(default_factory=set)
    sent: int = 0  # bytes sent to it
    acked: int = 0  # bytes it has certainly read: it answered a sync step 1 sent after them
    probe_at: int | None = None  # `sent` when our outstanding sync step 1 went out
    closing: bool = False
    denied_notice_at: float = 0.0  # when we last told it that it may not write
    joined_at: str = field(default_factory=lambda: timezone.now().isoformat(timespec="seconds"))
    messages: TokenBucket = field(init=False)
    bytes: TokenBucket = field(init=False)
    author: Author = field(init=False)  # whom what it writes belongs to (collab.history.authorship)
    talk: TokenBucket = field(init=False)  # comment and chat messages (collab.realtime.discussion)

    def __post_init__(self):
        identity = self.seat.identity
        self.author = Author(
            person_of(self.seat.principal.key), identity.name, identity.color, self.seat.principal.user_id
        )
        rate = settings.COLLAB_RATE_MESSAGES
        self.messages = TokenBucket(rate, rate * 3)
        talk_rate = settings.COLLAB_RATE_DISCUSSION
        self.talk = TokenBucket(talk_rate, talk_rate * 3)
        byte_rate = settings.COLLAB_RATE_BYTES
        self.bytes = TokenBucket(byte_rate, byte_rate + settings.COLLAB_MAX_MESSAGE_BYTES)

    @property
    def principal(self) -> Principal:
        return self.seat.principal


def seat_for(*, user, session, document_id, rights, extra_tokens=(), extensions=False) -> Seat | None:
    """The seat of whoever opens a socket to the document, or None if they may not.

    `rights`: the document's, from `RoomRegistry.current_rights` (the room re-checks
    the seat on join if its rights moved on meanwhile).
    """
    from django.contrib.auth import HASH_SESSION_KEY

    from collab.access.identity import identity_for
    from collab.access.rights import SESSION_GUEST_NAME, principal_for

    principal = principal_for(user=user, session=session, document_id=document_id, extra_tokens=extra_tokens)
    # Only the document's links count: a client with no cookie is counted per link
    # (Principal.key), and made-up tokens must not give it a count of its own.
    principal = replace(principal, link_tokens=tuple(t for t in principal.link_tokens if t in rights.links))
    role = rights.role_of(principal)
    if role is None:
        return None
    guest_name = session.get(SESSION_GUEST_NAME, "") if session is not None else ""
    identity = identity_for(user=user, guest_name=guest_name, key=principal.key)
    session_hash = session.get(HASH_SESSION_KEY, "") if session is not None and principal.user_id else ""
    return Seat(
        principal,
        role,
        identity,
        session_hash=session_hash,
        epoch=rights.epoch,
        rights_version=rights.version,
        extensions=extensions,
    )
