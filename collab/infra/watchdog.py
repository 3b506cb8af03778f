"""How long a connection waits for a server that may never answer again.

`Watchdog` bounds what the event loop waits for; `KEEPALIVE` is what the kernel
is told for connections that sit idle (collab.infra.redis_host, collab.storage.pg_host).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Seconds idle before the first keepalive probe, seconds between probes, probes
# unanswered before the connection is given up: about 25 s.
KEEPALIVE = (10, 5, 3)


class Watchdog:
    """Calls `expire` when the operation inside `with watchdog:` has run for
    `timeout` seconds, so that a connection that no longer answers (its server hung,
    or its host gone without a word) is given up.

    One timer, set again only when it fires: a timer set and cancelled around every
    operation (`asyncio.timeout`) took the publisher's CPU per batch of events from
    42-45 to 54-57 µs (5,000 batches, local Redis), and redis-py's own socket_timeout
    also writes from a task of its own, a turn of the event loop later.
    """

    def __init__(self, timeout: float, expire: Callable[[], None]):
        self.timeout = timeout
        self.expire = expire
        self.loop = asyncio.get_running_loop()
        self.started: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def __enter__(self) -> Watchdog:
        self.started = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_at(self.started + self.timeout, self._check)
        return self

    def __exit__(self, *exc) -> None:
        self.started = None

    def _check(self) -> None:
        self._timer = None
        if self.started is None:
            return
        due = self.started + self.timeout
        if self.loop.time() < due:
            self._timer = self.loop.call_at(due, self._check)
            return
        self.started = None
        self.expire()
