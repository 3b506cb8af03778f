"""Helpers shared by several test files: Yjs updates made here, and rooms without sockets."""

from __future__ import annotations

from contextlib import asynccontextmanager

from channels.db import database_sync_to_async
from pycrdt import Doc, Text

from collab.access.identity import identity_for
from collab.access.rights import Principal
from collab.models import Document, Role
from collab.realtime.members import Seat
from collab.realtime.registry import RoomRegistry
from collab.yjs import protocol
from collab.yjs.protocol import SyncStep


async def stored(document) -> str:
    """The text the database holds for a document (or a document's id)."""
    from collab.storage import persistence

    return await database_sync_to_async(persistence.document_text)(getattr(document, "id", document))


def an_update(text: str) -> bytes:
    """A fresh document's update inserting `text`."""
    doc = Doc()
    doc.get("content", type=Text).insert(0, text)
    return doc.get_update()


def edits(*words: str) -> list[bytes]:
    """One update per word appended to a fresh document's text."""
    doc = Doc()
    text = doc.get("content", type=Text)
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    for word in words:
        text += word
    return updates


class FakeConnection:
    """A connection to a room that records what the room sends it."""

    write_frame = None  # sent to through `send_frame`, as under a server without collab.realtime.sockets

    def __init__(self, user_id=None, role=Role.OWNER, on_frame=None):
        self.seat = Seat(Principal(user_id=user_id), Role(role), identity_for(key=f"user:{user_id}"))
        self.frames: list[bytes] = []
        self.closed_with: int | None = None
        self.on_frame = on_frame

    async def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)
        if self.on_frame:
            await self.on_frame(frame)

    async def close_with(self, code: int, reason: str) -> None:
        self.closed_with = code

    def updates(self) -> list[bytes]:
        return [m.payload for f in self.frames for m in protocol.decode_frame(f) if m.step == SyncStep.UPDATE]

    def text(self) -> str:
        """The text of a client that applied every update it was sent."""
        client = Doc()
        for update in self.updates():
            client.apply_update(update)
        return str(client.get("content", type=Text))


@asynccontextmanager
async def sender_and_listener(owner):
    """A new document's room with two of the owner's connections in it: (document, room, sender, listener)."""
    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    registry = RoomRegistry()
    sender, listener = FakeConnection(owner.pk), FakeConnection(owner.pk)
    room = await registry.join(document.id, sender, sender.seat)
    await registry.join(document.id, listener, listener.seat)
    yield document, room, sender, listener
    await registry.leave(room, sender)
    await registry.leave(room, listener)
