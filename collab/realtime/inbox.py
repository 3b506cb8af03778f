"""A worker's inbox: what other workers send straight to its rooms, many events a message.

Rooms that know each other (`collab.realtime.room`) address their events to each other's
channels; the sending worker's publisher puts all of a batch's events for one
worker in one message to that worker's inbox channel, and the inbox hands each
event to its room. A room that is gone by then (it closed meanwhile) is skipped:
its peers learn that from its goodbye.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from collab.infra import outage
from collab.realtime.publisher import INBOX_MESSAGE, loop_local

logger = logging.getLogger(__name__)

Handler = Callable[[dict], Awaitable[None]]


class Inbox:
    def __init__(self, layer):
        self.layer = layer
        self.channel: str | None = None  # this worker's inbox, once opened
        self.rooms: dict[str, Handler] = {}  # room channel -> what handles its events
        self._opened: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    async def open(self) -> str:
        """This worker's inbox channel, listened to from now on."""
        if self._opened is None:
            self._opened = asyncio.ensure_future(self.layer.new_channel("worker."))
        try:
            channel = await asyncio.shield(self._opened)
        except Exception:
            self._opened = None  # the next room tries again
            raise
        if self.channel is None:
            self.channel = channel
            self._task = asyncio.get_running_loop().create_task(self._run(), name="collab-inbox")
        return channel

    def add(self, room_channel: str, handler: Handler) -> None:
        self.rooms[room_channel] = handler

    def discard(self, room_channel: str) -> None:
        self.rooms.pop(room_channel, None)

    async def _run(self) -> None:
        await listen(self.layer, self.channel, self._deliver, "inbox")

    async def _deliver(self, message: dict) -> None:
        if message.get("type") != INBOX_MESSAGE:
            return
        for room_channel, event in message["events"]:
            handler = self.rooms.get(room_channel)
            if handler is None:
                continue
            try:
                await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("inbox: room %s could not handle %s", room_channel, event.get("type"))


async def listen(layer, channel: str, handle: Handler, name: str) -> None:
    """Hand everything that arrives on `channel` to `handle`, for good; a failing
    receive (Redis restarting, say) is retried, a failing `handle` logged."""
    backoff = 0.1
    while True:
        try:
            message = await layer.receive(channel)
            backoff = 0.1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outage.redis.failed(f"{name}: receiving from the channel layer", exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
            continue
        try:
            await handle(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: could not handle %s", name, message.get("type"))


_inboxes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {id(layer): Inbox}


def inbox_for(layer) -> Inbox:
    """The inbox of the running event loop for `layer` (call `open()` before use)."""
    return loop_local(_inboxes, layer, Inbox)
