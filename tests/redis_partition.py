"""A worker's Redis subscription when Redis's host goes away without a word.

Run by tests/test_redis_partition.py inside network namespaces of its own
(`unshare -rn`: no privileges needed where the kernel lets users make
namespaces). Redis listens in a second namespace,
joined to this one by a veth pair: with the far end's link down, packets are
lost silently, as they are to a host that lost power, where loopback would
refuse them. The host then "restarts": its namespace, with Redis and every
connection it had, is replaced by a new one at the same address. Prints one
JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.exceptions import RedisError

from collab.inbox import listen
from collab.redis_host import layer_host

HERE, THERE = "10.9.0.1", "10.9.0.2"
PORT = 6390
URL = f"redis://{THERE}:{PORT}/0"
KEEPALIVE = (1, 1, 2)  # probes from 1 s idle, 1 s apart: a dead connection is seen after about 3 s
PR_SET_PDEATHSIG = 1
CUT = 5.0  # seconds the link is down: longer than that


def dies_with_us() -> None:
    """In a child before it runs its program: killed when this process ends, however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, timeout=10, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


class OtherNamespace:
    """A network namespace joined to this one by a veth pair, held by a sleeping process."""

    made = 0

    def __init__(self):
        OtherNamespace.made += 1
        self.here, self.there = f"here{self.made}", f"there{self.made}"
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "600"], preexec_fn=dies_with_us)
        self.redis: subprocess.Popen | None = None
        self.linked = False

    def inside(self, *command: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *command]

    def link(self) -> None:
        run("ip", "link", "set", "lo", "up")
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{self.holder.pid}/ns/net") == ours:  # until unshare has made it
            if time.monotonic() > deadline:
                raise RuntimeError("no network namespace for the other host")
            time.sleep(0.01)
        run("ip", "link", "add", self.here, "type", "veth", "peer", "name", self.there)
        self.linked = True
        run("ip", "link", "set", self.there, "netns", str(self.holder.pid))
        run("ip", "addr", "add", f"{HERE}/30", "dev", self.here)
        run("ip", "link", "set", self.here, "up")
        run(*self.inside("ip", "addr", "add", f"{THERE}/30", "dev", self.there))
        run(*self.inside("ip", "link", "set", self.there, "up"))

    def set_link(self, state: str) -> None:
        run(*self.inside("ip", "link", "set", self.there, state))

    def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        command = [binary, "--bind", THERE, "--port", str(PORT), "--protected-mode", "no", "--save", ""]
        self.redis = subprocess.Popen(
            self.inside(*command, "--appendonly", "no"), stdout=subprocess.DEVNULL, preexec_fn=dies_with_us
        )

    def start(self) -> None:
        self.link()
        self.start_redis()
        wait_for_redis()

    def close(self) -> None:
        if self.linked:  # the pair goes at once; the namespace's own teardown takes a while
            run("ip", "link", "del", self.here)
            self.linked = False
        for process in (self.redis, self.holder):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()


def wait_for_redis(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((THERE, PORT), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start in the other namespace")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Listener:
    """A channel read as a worker reads its inbox (`collab.inbox.listen`): one receive after another."""

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


async def scenario(other: OtherNamespace) -> dict:
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
    other = OtherNamespace()
    try:
        other.start()
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


def main() -> None:
    other = OtherNamespace()
    try:
        other.start()
        print(json.dumps(asyncio.run(scenario(other))), flush=True)
    finally:
        other.close()


if __name__ == "__main__":
    main()
