"""Another host on a link of our own, for tests of peers that vanish without a word.

Used from inside network namespaces a test made (`unshare -rn`: no privileges
needed where the kernel lets users make namespaces). The other host is a second
network namespace, held by a sleeping process and joined to ours by a veth
pair: with its end of the link down, packets are lost silently, as they are to
a host that lost power, where loopback would refuse them. Closing it takes its
servers and every connection they had with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import subprocess
import time

HERE, THERE = "10.9.0.1", "10.9.0.2"
PR_SET_PDEATHSIG = 1


def dies_with_us() -> None:
    """In a child before it runs its program: killed when this process ends, however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, timeout=30, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


def as_user(*command: str) -> list[str]:
    """`command` as an ordinary user (uid 1000) of a user namespace inside ours,
    for servers that refuse to run as root (PostgreSQL)."""
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000", *command]


class OtherHost:
    made = 0

    def __init__(self):
        OtherHost.made += 1
        self.here, self.there = f"here{self.made}", f"there{self.made}"
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "600"], preexec_fn=dies_with_us)
        self.servers: list[subprocess.Popen] = []
        self.linked = False
        self._link()

    def _link(self) -> None:
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

    def inside(self, *command: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *command]

    def serve(self, *command: str, port: int) -> None:
        """Start a server on the other host and wait until it accepts connections on `port`."""
        self.servers.append(
            subprocess.Popen(
                self.inside(*command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=dies_with_us
            )
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((THERE, port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start on the other host") from None
                time.sleep(0.05)

    def set_link(self, state: str) -> None:
        """ "down": the other host stops answering; "up": it answers again."""
        run(*self.inside("ip", "link", "set", self.there, state))

    def close(self) -> None:
        if self.linked:  # the pair goes at once; the namespace's own teardown takes a while
            run("ip", "link", "del", self.here)
            self.linked = False
        for process in (*self.servers, self.holder):
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()


def report(host: OtherHost, scenario) -> None:
    """Run `scenario(host)` on a new event loop, print what it saw as one JSON line, and close the host."""
    try:
        print(json.dumps(asyncio.run(scenario(host))), flush=True)
    finally:
        host.close()
