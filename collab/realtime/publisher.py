"""Events for the other workers: one queue per worker, sent in batches.

channels-redis's Pub/Sub layer sends one PUBLISH at a time per worker, behind a
lock, and waits for its reply: under load the rooms' events queued behind each
other's round trips, and each cost a write and a read of the Redis socket. Here
the rooms of a worker share one queue; whatever is queued while a batch is on
its way goes in the next one, and on that layer a batch is one pipeline: one
write, one round trip. One queue and one batch at a time keep every room's
events in order.

An event goes either to its document's group (every worker holding the document
gets it) or straight to the rooms that hold it, when the sender knows them: then
all of a batch's events for one worker travel as one message to that worker's
inbox (`collab.realtime.inbox`). The other worker reads one message instead of one per
event, and reading Redis is most of what a worker spends on another's events.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from django.conf import settings

from collab.infra import outage
from collab.infra.watchdog import Watchdog

logger = logging.getLogger(__name__)

# (group, event, to): `to` maps the rooms to send the event to (their channels) to
# their workers' inboxes; None sends it to the whole group.
Batch = list[tuple[str, dict, dict[str, str] | None]]

INBOX_MESSAGE = "worker.events"  # an inbox message: {"type": ..., "events": [[room channel, event], ...]}


class Publisher:
    LIMIT = 10_000  # events queued at most; more are dropped (the ticker's catch-up repairs that)

    def __init__(self, layer, *, send_batch: Callable[[Batch], Awaitable[None]] | None = None):
        self.layer = layer
        self.send_batch = send_batch or pipelined_sender(layer) or self._one_by_one
        self.queue: Batch = []
        self.queued = 0  # events accepted so far
        self.sent = 0  # events sent (or given up on) so far
        self.batches = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task | None = None

    def publish(self, group: str, event: dict, to: dict[str, str] | None = None) -> int | None:
        """Queue `event` for `group`, or with `to` ({room channel: its worker's inbox})
        for those rooms only; its ticket for `wait_sent`, or None if the queue is full."""
        if len(self.queue) >= self.LIMIT:
            return None
        self.queue.append((group, event, to))
        self.queued += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="collab-publisher")
        self._wake.set()
        return self.queued

    async def wait_sent(self, ticket: int) -> None:
        """Until the event with this ticket, and every one before it, is sent."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.sent >= ticket)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.queue:
                batch, self.queue = self.queue, []
                self.batches += 1
                try:
                    await self.send_batch(batch)
                    outage.redis.ok()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Lost events are repaired by the ticker's catch-up; the queue goes on.
                    outage.redis.failed(f"sending {len(batch)} events to the other workers", exc)
                self.sent += len(batch)
                async with self._progress:
                    self._progress.notify_all()

    async def _one_by_one(self, batch: Batch) -> None:
        for group, message in to_groups(batch):
            await self.layer.group_send(group, message)
        for inbox, message in to_inboxes(batch):
            await self.layer.send(inbox, message)


def to_groups(batch: Batch) -> list[tuple[str, dict]]:
    """The batch's events for whole groups, in order: (group, event)."""
    return [(group, event) for group, event, to in batch if to is None]


def to_inboxes(batch: Batch) -> list[tuple[str, dict]]:
    """The batch's events for given rooms, one message per worker's inbox: (inbox,
    message). Each inbox gets its rooms' events in the order they were queued."""
    inboxes: dict[str, list] = {}
    for _, event, to in batch:
        for channel, inbox in (to or {}).items():
            inboxes.setdefault(inbox, []).append([channel, event])
    return [(inbox, {"type": INBOX_MESSAGE, "events": events}) for inbox, events in inboxes.items()]


def pipelined_sender(layer) -> Callable[[Batch], Awaitable[None]] | None:
    """A batch as PUBLISHes in one write and one round trip, on a Redis connection of
    the publisher's own, for channels-redis's Pub/Sub layer on one Redis server;
    None for any other layer.

    Not through redis-py's pipeline: taking a connection from its pool checks it
    with a read that waits a turn of the event loop, so the batch went out only
    after the room's local sends, 0.4 ms later at the median (two workers, B).
    Written here, it is on the wire before the publisher first waits.
    """
    from channels_redis.pubsub import RedisPubSubChannelLayer
    from channels_redis.utils import create_pool
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    loop_layer = layer._get_layer()  # this event loop's connections and naming
    if len(loop_layer._shards) != 1:
        return None
    connection = create_pool(loop_layer._shards[0].host).make_connection()
    channel_of = loop_layer._get_group_channel_name
    watchdog = Watchdog(settings.COLLAB_REDIS_TIMEOUT, lambda: _abort(connection, watchdog.timeout))

    async def publish_all(commands) -> None:
        try:
            with watchdog:
                await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
                for _ in commands:
                    await connection.read_response()
        except BaseException:
            await connection.disconnect(nowait=True)  # replies may be unread: start afresh
            raise

    async def send(batch: Batch) -> None:
        commands = [("PUBLISH", channel_of(group), layer.serialize(event)) for group, event in to_groups(batch)]
        # A channel's name is its Redis channel.
        commands += [("PUBLISH", inbox, layer.serialize(message)) for inbox, message in to_inboxes(batch)]
        try:
            await publish_all(commands)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # Redis restarted, closed the idle connection, or stopped answering: once
            # more on a new one.
            # Should the first attempt have reached Redis, its events arrive twice:
            # an update applies once, and clients take a repeated one as a no-op.
            logger.debug("publishing to Redis failed (%s); reconnecting", outage.describe(exc))
            await publish_all(commands)

    return send


def _abort(connection, timeout: float) -> None:
    """Drop a Redis connection that did not answer: its read fails, and the batch is sent again."""
    logger.warning("Redis did not answer within %g s; dropping the connection", timeout)
    writer = connection._writer
    if writer is not None:
        writer.transport.abort()


_publishers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {id(layer): Publisher}


def publisher_for(layer) -> Publisher:
    """The publisher of the running event loop for `layer`."""
    return loop_local(_publishers, layer, Publisher)


def loop_local(store: weakref.WeakKeyDictionary, layer, make):
    """The running event loop's object for `layer` in `store`, made by `make(layer)` if missing."""
    objects = store.setdefault(asyncio.get_running_loop(), {})
    found = objects.get(id(layer))
    if found is None or found.layer is not layer:
        found = objects[id(layer)] = make(layer)
    return found
