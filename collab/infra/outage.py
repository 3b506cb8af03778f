"""A worker's trouble reaching Redis, told once per outage instead of on every try.

While Redis is unreachable, each part of a worker that talks to it fails on every
attempt: channels-redis's receiver (a traceback a second), the publisher (once
per batch of edits), presence (on every tick), rooms re-joining their groups,
the session cache (once per page and handshake).
Editing goes on meanwhile: updates are committed to the database and the other
workers' rooms catch up from it. So each failure is reported here instead: the
first of an outage is logged as a warning with its cause, a reminder follows
every `remind` seconds while failures go on, and the first success afterwards
says how long the failures lasted and how many there were. The rest go to debug.
"""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)


def is_connection_error(exc: BaseException | None) -> bool:
    """Whether `exc` says the server could not be reached or stopped answering."""
    return isinstance(exc, (OSError, RedisConnectionError, RedisTimeoutError))


def describe(exc: BaseException) -> str:
    """The exception's class and message (redis-py's repr gives only a category)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Outage:
    """Failures to reach one service, summed up from the first to the next success."""

    def __init__(self, service: str, *, remind: float = 60.0, clock=time.monotonic):
        self.service = service
        self.remind = remind
        self.clock = clock
        self.since: float | None = None  # first failure of the current outage
        self.last = 0.0  # latest failure
        self.reported = 0.0  # when the latest warning was written
        self.failures = 0
        self._lock = threading.Lock()  # the session store reports from Django's threads

    def failed(self, what: str, exc: BaseException) -> None:
        """`what` failed with `exc`: a warning if it starts an outage or a reminder is
        due; other errors than connection errors are warnings every time."""
        from collab.infra.metrics import OUTAGE_ERRORS

        OUTAGE_ERRORS.labels(self.service).inc()
        if not is_connection_error(exc):
            logger.warning("%s failed: %s", what, describe(exc))
            return
        with self._lock:
            self._failed(what, exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        now = self.clock()
        self.failures += 1
        self.last = now
        if self.since is None:
            self.since = self.reported = now
            logger.warning(
                "%s unreachable (%s: %s). Edits are still stored, and rooms catch up from the "
                "database; retrying, and saying so here when %s answers again",
                self.service,
                what,
                describe(exc),
                self.service,
            )
        elif now - self.reported >= self.remind:
            self.reported = now
            logger.warning(
                "%s still unreachable after %.0f s: %d failed attempts (latest: %s: %s)",
                self.service,
                now - self.since,
                self.failures,
                what,
                describe(exc),
            )
        else:
            logger.debug("%s: %s", what, describe(exc))

    def ok(self) -> None:
        """Something reached the service: the end of an outage, if one was going on."""
        if self.since is None:  # read without the lock: the usual case costs nothing more
            return
        with self._lock:
            if self.since is None:
                return
            now = self.clock()
            logger.warning(
                "%s answers again: %d failed attempts over %.1f s, the latest %.1f s ago",
                self.service,
                self.failures,
                self.last - self.since,
                now - self.last,
            )
            self.since = None
            self.failures = 0


redis = Outage("Redis")


class RedisFailures(logging.Filter):
    """For a library's logger that writes a traceback on every failure to reach
    Redis (channels-redis's receiver: one a second): those go to the outage as
    `what` failing, anything else passes."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not is_connection_error(exc):
            return True
        redis.failed(self.what, exc)
        return False
