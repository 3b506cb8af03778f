"""The channel layer's Redis connections: bounded connects, and lost peers noticed.

A worker's subscription only ever reads. If the connection dies without a word
(Redis's host lost, or a partition during which Redis restarted), nothing tells
the worker: it waits for the other workers' events for ever, while they publish
to a Redis that no longer knows it. Keepalive probes end such a connection
within `KEEPALIVE` seconds.

The kernel reports unanswered probes as ETIMEDOUT, a `TimeoutError`, which
redis-py mistakes for the read timeout its Pub/Sub receive asked for: it answers
"no message", and is asked again at once, for ever, on a socket that is gone (a
busy loop whose memory grows). Its connections here report that as the lost
connection it is, and redis-py's Pub/Sub reconnects and subscribes again.

Each connection they make also ends an outage on record (`collab.infra.outage`): the
receiver's reconnect may be a worker's only contact with Redis (no room open,
nothing to publish), and would otherwise end it silently.
"""

from __future__ import annotations

import socket

from redis.asyncio import connection as redis_connection
from redis.exceptions import ConnectionError as RedisConnectionError

from collab.infra import outage
from collab.infra.watchdog import KEEPALIVE


class _Reporting:
    """Reports a connection made (the end of an outage) and a socket lost (as lost)."""

    async def on_connect_check_health(self, *args, **kwargs):
        await super().on_connect_check_health(*args, **kwargs)  # Redis answered the handshake
        outage.redis.ok()

    async def read_response(self, *args, **kwargs):
        response = await super().read_response(*args, **kwargs)
        if response is None and self._reader is not None and (lost := self._reader.exception()) is not None:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while reading from {self._host_error()}: {lost!r}")
        return response


class Connection(_Reporting, redis_connection.Connection):
    pass


class SSLConnection(_Reporting, redis_connection.SSLConnection):
    pass


class UnixDomainSocketConnection(_Reporting, redis_connection.UnixDomainSocketConnection):
    pass


_OURS = {
    redis_connection.Connection: Connection,
    redis_connection.SSLConnection: SSLConnection,
    redis_connection.UnixDomainSocketConnection: UnixDomainSocketConnection,
}


def layer_host(url: str, *, timeout: float, keepalive: tuple[int, int, int] = KEEPALIVE) -> dict:
    """channels-redis's host entry for the Redis at `url` (redis://, rediss:// or
    unix://): connects bounded by `timeout` seconds, keepalive on TCP."""
    options = redis_connection.parse_url(url)
    plain = options.get("connection_class", redis_connection.Connection)
    options["connection_class"] = _OURS[plain]
    options["socket_connect_timeout"] = timeout
    if issubclass(plain, redis_connection.Connection):  # TCP, with or without TLS
        names = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")
        options["socket_keepalive"] = True
        options["socket_keepalive_options"] = {
            option: value
            for name, value in zip(names, keepalive, strict=True)
            if (option := getattr(socket, name, None)) is not None
        }
    return options
