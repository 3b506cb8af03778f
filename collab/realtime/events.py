"""Messages the rooms of different workers exchange through the channel layer.

Each document has one group; each worker's room joins it with one channel of its
own, so an update crosses Redis once per worker, not once per client. A room
that knows every other room of its document sends straight to their channels,
through their workers' inboxes (`collab.realtime.inbox`); announcements go to the group.
"""

from __future__ import annotations

from typing import Literal, TypedDict


def group_name(document_id) -> str:
    return f"doc.{document_id}"


class Event(TypedDict, total=False):
    worker: str  # the sending worker's inbox, added as it is sent: where to answer it


class UpdatesEvent(Event):
    """Updates committed to the log as entries first_seq, first_seq + 1, ..."""

    type: Literal["doc.updates"]
    origin: str  # the sending room's channel: it skips its own events
    first_seq: int
    count: int  # log entries committed (changes may be fewer: some changed nothing)
    updates: list[bytes]  # what they changed in the sender's Doc
    growth: int  # the most they can add to the document's encoded size (collab.yjs.crdt.check_update)


class AwarenessEvent(Event):
    type: Literal["doc.awareness"]
    origin: str
    update: bytes  # an encoded awareness update


class DiscussionEvent(Event):
    """Comment and chat changes stored by the sending room (collab.realtime.discussion):
    the messages its pages were sent, each with the change's `discussion_seq`."""

    type: Literal["doc.discussion"]
    origin: str
    messages: list[dict]


class AwarenessQueryEvent(Event):
    """A room that just opened announces itself and asks the others for their
    connections' awareness states; a room that had to catch up announces itself again."""

    type: Literal["doc.awareness_query"]
    origin: str
    seq: int  # the log entries it holds: all up to here


class HereEvent(Event):
    """The answer to an announcement: this worker has the document open too."""

    type: Literal["doc.here"]
    origin: str
    seq: int  # what the answering room has applied; the announcer catches up to it from the log


class AliveEvent(Event):
    """Sent by a room that has sent nothing else for a while: it still has the
    document open (rooms forget a peer they have not heard from in `COLLAB_PEER_TIMEOUT`)."""

    type: Literal["doc.alive"]
    origin: str


class ByeEvent(Event):
    """The room closed: there is nothing to relay to it any more."""

    type: Literal["doc.bye"]
    origin: str
