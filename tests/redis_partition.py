"""A worker's Redis subscription when Redis's host goes away without a word.

Run by tests/test_redis_partition.py inside network namespaces of its own; Redis
runs on another host (`tests.netns`), which stops answering for longer than the
keepalive window and then comes back as a new Redis at the same address,
knowing no subscriber. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import time

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.exceptions import RedisError

from collab.infra.redis_host import layer_host
from collab.realtime.inbox import listen
from tests.netns import THERE, OtherHost, report

PORT = 6390
URL = f"redis://{THERE}:{PORT}/0"
KEEPALIVE = (1, 1, 2)  # probes from 1 s idle, 1 s apart: a dead connection is seen after about 3 s
CUT = 5.0  # seconds the link is down: longer than that


def redis_host() -> OtherHost:
    host = OtherHost()
    redis = shutil.which("redis-server")
    host.serve(redis, "--bind", THERE, "--port", str(PORT), "--protected-mode", "no", "--save", "", port=PORT)
    return host


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Listener:
    """A channel read as a worker reads its inbox (`collab.realtime.inbox.listen`): one receive after another."""

    def __init__(self, layer, channel: str):
        self.numbers: asyncio.Queue[int] = asyncio.Queue()
        self.task = asyncio.create_task(listen(layer, channel, self._handle, "partition"))

    async def _handle(self, message: dict) -> None:
        self.numbers.put_nowait(message["n"])

    async def delivered(self, n: int, within: float) -> bool:
        """Whether an event published now, from a new connection, arrives."""
        sender = RedisPubSubChannelLayer(hosts=[{"address": URL, "socket_connect_timeout": 1}])
        try:
            async with asyncio.timeout(within):
                await sender.group_send("doc", {"type": "doc.update", "n": n})
                while await self.numbers.get() != n:
                    pass
            return True
        except (TimeoutError, OSError, RedisError):  # the link still coming up
            return False
        finally:
            await sender.flush()


async def scenario(other: OtherHost) -> dict:
    subscriber = RedisPubSubChannelLayer(hosts=[layer_host(URL, timeout=1, keepalive=KEEPALIVE)])
    channel = await subscriber.new_channel("room.")
    await subscriber.group_add("doc", channel)
    listener = Listener(subscriber, channel)
    seen = {"before": await listener.delivered(1, 5)}

    other.set_link("down")  # the host stops answering...
    cpu = cpu_seconds()
    await asyncio.sleep(CUT)
    seen["cpu_while_cut"] = round(cpu_seconds() - cpu, 3)
    other.close()  # ...and comes back without the connections it had
    other = redis_host()
    try:
        started = time.monotonic()
        seen["after"] = False
        for n in range(2, 100):
            if await listener.delivered(n, 1):
                seen["after"] = True
                seen["after_s"] = round(time.monotonic() - started, 2)
                break
            if time.monotonic() - started > 20:
                break
        listener.task.cancel()
        await subscriber.flush()
    finally:
        other.close()
    return seen


if __name__ == "__main__":
    report(redis_host(), scenario)
