"""A room's comments and chat: what its connections say is checked, stored, then relayed.

The messages (collab.discussion.messages, docs/protocol.md) travel on the document's
socket as collab's extension messages, to and from connections that asked for them
(`?ext=1`) only. As with edits, nothing is relayed before it is stored: the sender
gets its own change back with the `ref` it gave. Other workers get it through the
channel layer; a room that misses one (the layer lost it) sees the document's
`discussion_seq` ahead of what it relayed at the ticker's next look, and reads what
changed since from the database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from collab.discussion import anchors, service
from collab.discussion.messages import parse
from collab.realtime import db
from collab.realtime.members import Member
from collab.yjs.protocol import extension_frame

if TYPE_CHECKING:
    from collab.realtime.room import Room

logger = logging.getLogger(__name__)

WRITES = {
    "thread.create": service.thread_create,
    "comment.create": service.comment_create,
    "comment.edit": service.comment_edit,
    "comment.delete": service.comment_delete,
    "thread.resolve": service.thread_resolve,
    "chat.send": service.chat_send,
}


class RoomDiscussion:
    def __init__(self, room: Room):
        from collab.realtime.room import SeqTracker

        self.room = room
        self.tracker: SeqTracker | None = None  # set as the room starts, from the rights' read
        self.behind_at = 0

    async def reattach(self) -> None:
        """Anchor again the threads whose quoted words an edit wrote anew (an undo in the
        browser does: Yjs writes deleted text back as new items); pages get the new
        anchors from the catch-up that the changed `discussion_seq` starts."""
        room = self.room
        try:
            threads = await db.run(service.quoted_threads, room.id)
            found = service.anchors_found_again(room.text, threads) if threads else {}  # the Doc lives on this loop
            if found:
                await db.run(service.threads_anchor, room.id, found)
                logger.info("room %s: %d comment threads anchored again", room.id, len(found))
        except Exception:
            logger.exception("room %s: could not anchor detached threads again", room.id)

    # -- from a connection ------------------------------------------------------

    async def receive(self, member: Member, payload: bytes) -> None:
        """One discussion message from a member; MalformedMessage closes its connection (4400)."""
        message = parse(payload)
        kind, ref = message["type"], message.get("ref", "")
        if not member.talk.take(1):
            await self.refuse(member, ref, "too many messages: wait a moment")
            return
        room = self.room
        if kind == "discussion.load":
            await self.tell_state(await self.state(), member)
            return
        if kind == "chat.older":
            messages, more = await db.run(service.chat_page, room.id, before=message["before"])
            await room.send_extension({"type": "chat.page", "messages": messages, "more": more}, [member])
            return
        reason = self.refusal(member, kind)
        if reason:
            await self.refuse(member, ref, reason)
            return
        fields = {key: value for key, value in message.items() if key not in ("type", "ref")}
        if kind == "thread.create":
            await room.drain()  # the text it anchors to may still be on its way to the log
            anchor = fields["anchor"]
            if anchors.resolve(room.text, anchor["start"]) is None or anchors.resolve(room.text, anchor["end"]) is None:
                await self.refuse(member, ref, "the commented text is not in the document")
                return
        try:
            out = await db.run(WRITES[kind], document_id=room.id, author=member.author, **fields)
        except service.NotAllowed as exc:
            await self.refuse(member, ref, str(exc))
            return
        await self.relay([out], sender=member, ref=ref)

    async def state(self) -> dict:
        """The `discussion` message, without what the owner turned off."""
        state = await db.run(service.discussion_state, self.room.id)
        rights = self.room.rights
        state["threads"] = state["threads"] if rights.comments else []
        state["chat"] = state["chat"] if rights.chat else []
        return state

    def flags(self, member: Member) -> dict:
        rights = self.room.rights
        can = member.role.can_comment and not rights.locked
        return {
            "comments_on": rights.comments,
            "chat_on": rights.chat,
            "can_comment": can and rights.comments,
            "can_chat": can and rights.chat,
        }

    async def retell(self, before: dict[int, dict]) -> None:
        """The rights changed: members whose flags (``id(member)`` -> flags) changed get the
        discussion again, as if they had asked, so a page shows or hides its panels live."""
        changed = [m for m in self.room.members.values() if id(m) in before and before[id(m)] != self.flags(m)]
        changed = [m for m in changed if m.seat.extensions]
        if not changed:
            return
        state = await self.state()
        for member in changed:
            await self.tell_state(state, member)

    async def tell_state(self, state: dict, member: Member) -> None:
        """Send the `discussion` message, with the member's flags. One too large for a
        message (daphne drops a connection sent one over its cap) goes without its
        threads, which follow one by one, as changes to them would."""
        message = {**state, **self.flags(member)}
        if len(extension_frame(message)) <= self.room.max_message // 2:
            await self.room.send_extension(message, [member])
            return
        await self.room.send_extension({**message, "threads": []}, [member])
        for thread in message["threads"]:
            await self.room.send_extension({"type": "thread", "thread": thread, "seq": thread["seq"]}, [member])

    def refusal(self, member: Member, kind: str) -> str:
        """Why the member may not send this, or ""."""
        rights = self.room.rights
        if not member.role.can_comment:
            return "viewers cannot comment or chat"
        if rights.locked:
            return "the document is locked"
        if kind == "chat.send" and not rights.chat:
            return "the chat is turned off for this document"
        if kind != "chat.send" and not rights.comments:
            return "comments are turned off for this document"
        return ""

    async def refuse(self, member: Member, ref: str, reason: str) -> None:
        await self.room.send_extension({"type": "discussion.refused", "ref": ref, "reason": reason}, [member])

    # -- to the pages ---------------------------------------------------------------

    async def relay(self, messages: list[dict], *, sender: Member | None = None, ref: str = "") -> None:
        """Messages for changes stored here: to this worker's pages and to the other workers."""
        self._seen(messages)
        replication = self.room.replication
        if replication is not None and replication.publishing():
            await replication.publish_discussion(messages)
        await self._send_local(messages, sender, ref)

    async def apply_relayed(self, messages: list[dict]) -> None:
        """Messages another worker's room stored and sent."""
        self._seen(messages)
        await self._send_local(messages)

    async def _send_local(self, messages: list[dict], sender: Member | None = None, ref: str = "") -> None:
        rights = self.room.rights
        for message in messages:
            if message["type"] == "chat.message" and not rights.chat:
                continue
            if message["type"] != "chat.message" and not rights.comments:
                continue
            others = [m for m in self.room.members.values() if m is not sender]
            await self.room.send_extension(message, others)
            if sender is not None:
                await self.room.send_extension({**message, "ref": ref}, [sender])

    def _seen(self, messages: list[dict]) -> None:
        if self.tracker is not None:
            for message in messages:
                self.tracker.add(message["seq"], message["seq"])

    # -- anti-entropy -----------------------------------------------------------------

    def start(self, seq: int) -> None:
        """Pages load the discussion as it is when they open it; the room relays what changes after `seq`."""
        from collab.realtime.room import SeqTracker

        self.tracker = SeqTracker(seq)

    async def tick(self, db_seq: int | None) -> None:
        """Called by the ticker with the document's discussion_seq in the database."""
        from collab.realtime.room import SeqTracker

        if db_seq is None:
            return
        if self.tracker is None:
            self.tracker = SeqTracker(db_seq)
            return
        if self.behind_at and self.tracker.seq < self.behind_at:
            await self.catch_up()
        self.behind_at = db_seq if self.tracker.seq < db_seq else 0

    async def catch_up(self) -> None:
        since = self.tracker.seq
        messages, upto = await db.run(service.changes_since, self.room.id, since)
        if upto > since:
            logger.info("room %s: comments and chat caught up from the database, %d..%d", self.room.id, since + 1, upto)
            relayed = self.tracker.ahead  # already sent here, past the gap
            await self._send_local([m for m in messages if not any(a <= m["seq"] <= b for a, b in relayed)])
            self.tracker.add(since + 1, upto)
