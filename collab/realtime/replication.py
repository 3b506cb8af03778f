"""A room's link to the rooms of the same document on other workers.

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
to those rooms directly, through their workers' inboxes (`collab.realtime.inbox`):
a worker then reads one message per batch of events, not one per event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from collab.infra import outage
from collab.realtime.events import (
    AliveEvent,
    AwarenessEvent,
    AwarenessQueryEvent,
    ByeEvent,
    DiscussionEvent,
    HereEvent,
    UpdatesEvent,
    group_name,
)
from collab.realtime.inbox import Inbox, inbox_for, listen
from collab.realtime.publisher import Publisher, publisher_for

if TYPE_CHECKING:
    from collab.realtime.room import Room

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Peer:
    """This document's room on another worker, as far as this room knows it."""

    heard_at: float  # when it last sent anything (time.monotonic)
    inbox: str | None  # its worker's inbox (collab.realtime.inbox), if it said


class Replication:
    """One room's channel in its document's group, its peers, and the events between them."""

    ANNOUNCE_SECONDS = 2.0  # a new room publishes everything this long, whether or not it knows of others

    def __init__(self, room: Room, layer):
        self.room = room
        self.id = room.id
        self.layer = layer
        self.group = group_name(room.id)
        self.channel: str | None = None
        self._peers: dict[str, Peer] = {}  # by channel
        self._sent_at = 0.0  # when this room last sent the other workers anything
        self._announced_until = 0.0
        self._publisher: Publisher | None = None  # the worker's queue of events for the other workers
        self._inbox: Inbox | None = None  # where the other workers' rooms send to this one
        self._last_ticket = 0  # of this room's latest event in it
        self._receiving: asyncio.Task | None = None

    async def open(self) -> None:
        """Join the group and say so: the rooms of this document on other workers answer."""
        self.channel = await self.layer.new_channel("room.")
        await self.layer.group_add(self.group, self.channel)
        self._publisher = publisher_for(self.layer)
        self._inbox = inbox_for(self.layer)
        await self._inbox.open()
        self._inbox.add(self.channel, self.on_event)
        receiving = listen(self.layer, self.channel, self._on_group_event, f"room {self.id}")
        self._receiving = asyncio.create_task(receiving, name=f"room-receive-{self.id}")
        self._announced_until = time.monotonic() + self.ANNOUNCE_SECONDS
        await self.announce()

    async def close(self) -> None:
        """Say goodbye, send what is queued, leave the group."""
        # To the whole group, for rooms that learnt of this one but it not of them;
        # and to each known peer's inbox, behind the events sent there before.
        bye: ByeEvent = {"type": "doc.bye", "origin": self.channel}
        await self.send(bye, everyone=True)
        if self._addressees():
            await self.send(dict(bye))
        await self.drain_outbox()
        self._inbox.discard(self.channel)
        if self._receiving is not None:
            self._receiving.cancel()
            await asyncio.gather(self._receiving, return_exceptions=True)
        try:
            await self.layer.group_discard(self.group, self.channel)
        except Exception as exc:
            outage.redis.failed(f"room {self.id} leaving its group", exc)

    async def drain_outbox(self, timeout: float = 5.0) -> None:
        """Wait until this room's events so far are sent to the other workers."""
        try:
            await asyncio.wait_for(self._publisher.wait_sent(self._last_ticket), timeout)
        except TimeoutError:
            logger.warning("room %s: events for other workers not sent in %g s", self.id, timeout)

    # -- to other workers -----------------------------------------------------

    @property
    def peers(self):
        """Channels of this document's rooms on other workers (as a set-like view)."""
        return self._peers.keys()

    def publishing(self) -> bool:
        """Whether to tell other workers: one of them has the document open, or may."""
        return bool(self._peers) or time.monotonic() < self._announced_until

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

    async def announce(self) -> None:
        seq = self.room.tracker.seq
        event: AwarenessQueryEvent = {"type": "doc.awareness_query", "origin": self.channel, "seq": seq}
        await self.send(event, everyone=True)

    async def publish_updates(self, first_seq: int, stored: list[bytes], growth: int) -> None:
        """Tell the other workers about the log entries `stored` from `first_seq` on."""
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
        await self.send(event)

    async def publish_awareness(self, update: bytes) -> None:
        event: AwarenessEvent = {"type": "doc.awareness", "origin": self.channel, "update": update}
        await self.send(event)

    async def publish_discussion(self, messages: list[dict]) -> None:
        event: DiscussionEvent = {"type": "doc.discussion", "origin": self.channel, "messages": messages}
        await self.send(event)

    async def send(self, event, *, everyone: bool = False) -> None:
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
            await self.on_event(event)

    async def on_event(self, event) -> None:
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
        room = self.room
        if kind == "doc.updates":
            await room.apply_relayed(event["updates"], event["first_seq"], event["count"], event.get("growth"))
        elif kind == "doc.awareness":
            await room.apply_relayed_awareness(event["update"])
        elif kind == "doc.discussion":
            await room.discussion.apply_relayed(event["messages"])
        elif kind == "doc.here":
            if event.get("seq", 0) > room.tracker.seq:
                await room.catch_up()  # committed there while no one here listened
        elif kind == "doc.awareness_query":
            here: HereEvent = {"type": "doc.here", "origin": self.channel, "seq": room.tracker.seq}
            # Through the group, as the announcement came: the announcer may catch up
            # from the log on it, which it does on its own task, not on the inbox's.
            await self.send(here, everyone=True)
            local = room.local_awareness()
            if local:
                await self.publish_awareness(local)

    # -- every tick -----------------------------------------------------------

    async def rejoin(self) -> None:
        try:
            await self.layer.group_add(self.group, self.channel)  # Redis may have restarted
        except Exception as exc:
            outage.redis.failed(f"room {self.id} re-joining its group", exc)

    async def keep_peers(self) -> None:
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
            await self.send(alive)
