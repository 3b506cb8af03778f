"""The channel layer's Redis hosts (`collab.infra.redis_host`) for each kind of Redis URL, TLS included."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import connection as redis_connection
from redis.exceptions import ConnectionError as RedisConnectionError

from collab.infra import outage, redis_host
from collab.realtime.publisher import Publisher
from tests.servers import RedisServer


@pytest.fixture
def unix_redis(tmp_path):
    """A redis-server of our own listening on a Unix socket only."""
    path = tmp_path / "redis.sock"
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(path), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline, "redis-server did not open its socket"
            time.sleep(0.02)
        yield f"unix://{path}"
    finally:
        proc.kill()
        proc.wait()


async def an_event_goes_through(host: dict) -> bool:
    """Whether an event the publisher sends over `host` reaches a subscriber over it."""
    layer = RedisPubSubChannelLayer(hosts=[host])
    try:
        channel = await layer.new_channel("room.")
        await layer.group_add("doc.1", channel)
        publisher = Publisher(layer)
        await asyncio.wait_for(publisher.wait_sent(publisher.publish("doc.1", {"type": "doc.updates", "n": 1})), 10)
        return (await asyncio.wait_for(layer.receive(channel), 10))["n"] == 1
    finally:
        await layer.flush()


async def test_a_unix_socket_url_carries_events_through_the_layer_and_the_publisher(unix_redis):
    host = redis_host.layer_host(unix_redis, timeout=2)
    assert host["connection_class"] is redis_host.UnixDomainSocketConnection
    assert "socket_keepalive" not in host  # a local socket has no peer to lose
    assert await an_event_goes_through(host)  # the server listens on nothing else


def test_tls_and_plain_urls_get_keepalive_and_the_lost_socket_report():
    tls = redis_host.layer_host("rediss://redis.example:6380/0", timeout=3)
    assert issubclass(tls["connection_class"], redis_connection.SSLConnection)
    assert tls["connection_class"] is redis_host.SSLConnection
    plain = redis_host.layer_host("redis://:secret@redis.example:6379/2", timeout=3)
    assert plain["connection_class"] is redis_host.Connection
    assert (plain["host"], plain["port"], plain["db"], plain["password"]) == ("redis.example", 6379, 2, "secret")
    for host in (tls, plain):
        assert host["socket_keepalive"] is True and host["socket_connect_timeout"] == 3
        assert sorted(host["socket_keepalive_options"].values()) == sorted(redis_host.KEEPALIVE)


@pytest.fixture
def tls_redis(tmp_path):
    """A redis-server of our own speaking TLS only, with a certificate of the test's making."""
    with RedisServer(tls_dir=tmp_path) as running:
        yield running


async def test_a_tls_url_carries_events_through_the_layer_and_the_publisher(tls_redis):
    host = redis_host.layer_host(tls_redis.url, timeout=2)
    assert host["connection_class"] is redis_host.SSLConnection
    assert host["ssl_ca_certs"] == str(tls_redis.ca_path)  # from the URL
    # The server speaks TLS only; that its certificate is checked, the next test shows.
    assert await an_event_goes_through(host)


async def test_a_tls_server_whose_certificate_is_not_trusted_is_refused(tls_redis):
    untrusted = tls_redis.url.split("?")[0]  # no CA named: the system's, which never signed it
    layer = RedisPubSubChannelLayer(hosts=[redis_host.layer_host(untrusted, timeout=2)])
    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        await layer.send("room.x", {"type": "doc.updates"})
    await layer.flush()


async def test_a_connection_the_layer_makes_ends_an_outage_on_record(redis_server, caplog):
    # A worker with no room open publishes nothing: the receiver's reconnect is
    # all that tells it Redis is back.
    outage.redis.failed("receiving from Redis", RedisConnectionError("Connection closed by server."))
    layer = RedisPubSubChannelLayer(hosts=[redis_host.layer_host(redis_server.url, timeout=2)])
    with caplog.at_level(logging.WARNING, logger="collab.infra.outage"):
        await layer.group_add("doc.1", await layer.new_channel("room."))  # subscribes: a connection
    assert outage.redis.since is None
    assert "Redis answers again: 1 failed attempts" in caplog.text
    await layer.flush()
