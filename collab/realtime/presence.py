"""Who is connected to which document on which worker, for the moderators.

Each worker publishes, per open document, the list of its connections: in
Redis (when `REDIS_URL` is set) under `collab:presence:<document>:<worker>`
with a short expiry, refreshed by the ticker, so a killed worker's entries
vanish by themselves; otherwise in this process's memory, which is all there is
with a single worker. The admin reads it with `snapshot()`.

Entries name their worker as an operator knows it (`worker_name()`): the
`COLLAB_WORKER_NAME` setting, else the host name and the port `manage.py serve`
listens on, else the host name and the process id.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

from django.conf import settings

KEY_PREFIX = "collab:presence:"
TTL_SECONDS = 6
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"  # unique: the Redis keys
_listening_port: int | None = None

_local: dict[tuple[str, str], tuple[float, list[dict]]] = {}
_local_lock = threading.Lock()


def listening_on(port: int | None) -> None:
    """Told by `manage.py serve`: the port this worker serves, for its default name."""
    global _listening_port
    _listening_port = port


def worker_name() -> str:
    if settings.COLLAB_WORKER_NAME:
        return settings.COLLAB_WORKER_NAME
    if _listening_port is not None:
        return f"{socket.gethostname()}:{_listening_port}"
    return f"{socket.gethostname()} (process {os.getpid()})"


def entries_for(room) -> list[dict]:
    worker = worker_name()
    return [
        {
            "name": member.seat.identity.name,
            "user_id": member.principal.user_id,
            "guest": member.principal.user_id is None,
            "role": member.role.value,
            "since": member.joined_at,
            "worker": worker,
        }
        for member in room.members.values()
        if not member.closing
    ]


class Publisher:
    """Writes one worker's presence; one per event loop (see collab.realtime.registry)."""

    def __init__(self):
        self.redis = None
        if settings.REDIS_URL:
            import redis.asyncio as redis

            self.redis = redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)

    async def publish(self, rooms: dict[str, object], gone: list[str]) -> None:
        if self.redis is None:
            expires = time.monotonic() + TTL_SECONDS
            with _local_lock:
                for document_id, room in rooms.items():
                    _local[(document_id, WORKER_ID)] = (expires, entries_for(room))
                for document_id in gone:
                    _local.pop((document_id, WORKER_ID), None)
            return
        pipe = self.redis.pipeline(transaction=False)
        for document_id, room in rooms.items():
            pipe.set(f"{KEY_PREFIX}{document_id}:{WORKER_ID}", json.dumps(entries_for(room)), ex=TTL_SECONDS)
        for document_id in gone:
            pipe.delete(f"{KEY_PREFIX}{document_id}:{WORKER_ID}")
        await pipe.execute()

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def snapshot() -> dict[str, list[dict]]:
    """Every live connection, by document id."""
    result: dict[str, list[dict]] = {}
    if not settings.REDIS_URL:
        now = time.monotonic()
        with _local_lock:
            for (document_id, _), (expires, entries) in list(_local.items()):
                if expires > now:
                    result.setdefault(document_id, []).extend(entries)
        return result
    import redis

    client = redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=500))
        for key, value in zip(keys, client.mget(keys) if keys else [], strict=True):
            if value:
                document_id = key.decode()[len(KEY_PREFIX) :].split(":", 1)[0]
                result.setdefault(document_id, []).extend(json.loads(value))
    finally:
        client.close()
    return result


def connected_to(document_id) -> list[dict]:
    return snapshot().get(str(document_id), [])
