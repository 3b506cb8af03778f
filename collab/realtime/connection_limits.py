"""The connections of each person and of each document, counted across the workers.

With Redis (`REDIS_URL`), each person (access's `Principal.key`) and each document
has a sorted set in Redis, `collab:connections:person:<key>` and
`collab:connections:document:<id>`, of the ids of their connections on every
worker, each scored by the end of its lease (Redis's clock, in milliseconds, so
the workers' clocks do not matter). A handshake drops the expired ids, counts and
adds in one script: two workers cannot both take the last place. A disconnect
removes its id; each worker's ticker renews the leases of its connections every
third of `COLLAB_CONNECTION_LEASE`, so a worker killed without a word stops
counting within one lease.

When Redis cannot be reached, a handshake is let in on the worker's own count
(`collab.realtime.registry`, which also applies it with Redis) and the outage is
logged (`collab.infra.outage`). Renewals add every connection of the worker, so
those let in meanwhile, and all of them after Redis lost its data, count again
once it answers. Without Redis there is one worker, and its own count is all.

Only handshakes, disconnects and the ticker come here, never a frame.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from django.conf import settings

from collab.exceptions import RateLimited
from collab.infra import outage
from collab.realtime.presence import WORKER_ID

KEY_PREFIX = "collab:connections:"

# KEYS: the person's set, the document's. ARGV: the connection's id, the lease in ms,
# the person's limit, the document's. 0 if added to both; else the number of the full set.
ADMIT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i, key in ipairs(KEYS) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
        return i
    end
end
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now + tonumber(ARGV[2]), ARGV[1])
    redis.call('PEXPIRE', key, ARGV[2])
end
return 0
"""

# KEYS: one set. ARGV: the lease in ms, then ids of this worker's connections in it.
# No lease in the set ends later than this one: the set may expire with it.
RENEW = """
local time = redis.call('TIME')
local expires = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do
    redis.call('ZADD', KEYS[1], expires, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
"""

_ids = itertools.count(1)  # per process: every registry of the process shares WORKER_ID


def person_key(key: str) -> str:
    return f"{KEY_PREFIX}person:{key}"


def document_key(document_id) -> str:
    return f"{KEY_PREFIX}document:{document_id}"


class ConnectionCounts:
    """One worker's connections in Redis; does nothing when `redis` (an asyncio client) is None."""

    def __init__(self, redis=None, clock=time.monotonic):
        self.redis = redis
        self.clock = clock
        self.held: dict[object, tuple[str, tuple[str, str]]] = {}  # connection: (its id, its two sets)
        self._renew_at = float("-inf")
        self._leaving: list[tuple[str, tuple[str, str]]] = []  # released, not yet removed from Redis
        self._removing: asyncio.Task | None = None
        if redis is not None:
            self._admit = redis.register_script(ADMIT)
            self._renew = redis.register_script(RENEW)

    async def admit(self, conn, *, person: str, document_id) -> None:
        """Count `conn` for `person` (a Principal.key) and the document; RateLimited if
        either has its limit of connections on all the workers together."""
        if self.redis is None:
            return
        entry = (f"{WORKER_ID}:{next(_ids)}", (person_key(person), document_key(document_id)))
        limits = (settings.COLLAB_MAX_CONNECTIONS_PER_USER, settings.COLLAB_MAX_CONNECTIONS_PER_DOCUMENT)
        try:
            full = await self._admit(keys=entry[1], args=[entry[0], _lease_ms(), *limits])
        except Exception as exc:  # let in on this worker's count alone
            outage.redis.failed("counting connections", exc)
            full = 0
        else:
            outage.redis.ok()
        if full == 1:
            raise RateLimited("too many connections for this user")
        if full == 2:
            raise RateLimited("too many connections to this document")
        self.held[conn] = entry

    def release(self, conn) -> None:
        """`conn` no longer counts: removed from Redis in the background (batched with
        other disconnects); if that fails, its lease runs out."""
        entry = self.held.pop(conn, None)
        if entry is None:
            return
        self._leaving.append(entry)
        if self._removing is None or self._removing.done():
            self._removing = asyncio.create_task(self._remove_leaving(), name="connection-counts-remove")

    async def _remove_leaving(self) -> None:
        while self._leaving:
            batch, self._leaving = self._leaving, []
            await self._remove(batch, "removing closed connections from their counts")

    async def _remove(self, entries, what: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for member, keys in entries:
            for key in keys:
                pipe.zrem(key, member)
        try:
            await pipe.execute()
        except Exception as exc:
            outage.redis.failed(what, exc)

    async def renew(self) -> None:
        """On each tick: renew the leases of this worker's connections, when a third of one has passed."""
        now = self.clock()
        if self.redis is None or not self.held or now < self._renew_at:
            return
        self._renew_at = now + settings.COLLAB_CONNECTION_LEASE / 3
        held = list(self.held.items())
        members: dict[str, list[str]] = {}
        for _, (member, keys) in held:
            for key in keys:
                members.setdefault(key, []).append(member)
        pipe = self.redis.pipeline(transaction=False)
        lease = _lease_ms()
        for key, ids in members.items():
            await self._renew(keys=[key], args=[lease, *ids], client=pipe)
        try:
            await pipe.execute()
        except Exception as exc:
            outage.redis.failed("renewing connection leases", exc)
            return
        outage.redis.ok()
        # A removal sent while the renewal was on its way may have reached Redis first.
        gone = [entry for conn, entry in held if conn not in self.held]
        if gone:
            await self._remove(gone, "removing closed connections from their counts")

    async def forget_all(self) -> None:
        """Remove every connection of this worker at once (it is shutting down)."""
        entries, self.held = list(self.held.values()), {}
        if self.redis is not None and entries:
            await self._remove(entries, "removing a stopping worker's connections")


def _lease_ms() -> int:
    return max(1, round(settings.COLLAB_CONNECTION_LEASE * 1000))
