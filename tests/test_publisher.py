"""A worker's events for the other workers: one queue, batches, one Redis round trip each."""

from __future__ import annotations

import asyncio
import logging

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio.connection import AbstractConnection

from collab.realtime.publisher import Publisher
from tests.servers import SilencingProxy


def record_writes(monkeypatch) -> list[list[str]]:
    """The commands of each write of several commands to Redis, by name."""
    writes = []
    pack = AbstractConnection.pack_commands

    def recording_pack(self, commands):
        commands = list(commands)
        writes.append([str(command[0]) for command in commands])
        return pack(self, commands)

    monkeypatch.setattr(AbstractConnection, "pack_commands", recording_pack)
    return writes


async def test_events_queued_together_go_to_redis_in_one_pipeline_and_in_order(redis_server, monkeypatch):
    layer = RedisPubSubChannelLayer(hosts=[{"address": redis_server.url}])
    groups = [f"doc.{i}" for i in range(10)]
    channels = {}
    for group in groups:  # as rooms on another worker listen
        channels[group] = await layer.new_channel("room.")
        await layer.group_add(group, channels[group])
    writes = record_writes(monkeypatch)
    publisher = Publisher(layer)
    for n in range(20):
        for group in groups:
            ticket = publisher.publish(group, {"type": "doc.updates", "n": n})
    await asyncio.wait_for(publisher.wait_sent(ticket), 5)
    assert publisher.batches == 1 and writes == [["PUBLISH"] * 200]
    for group, channel in channels.items():
        received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(20)]
        assert received == list(range(20)), group
    await layer.flush()


async def test_events_for_known_rooms_go_to_each_worker_inbox_as_one_message(redis_server, monkeypatch):
    layer = RedisPubSubChannelLayer(hosts=[{"address": redis_server.url}])
    inboxes = [await layer.new_channel("worker.") for _ in range(2)]
    group_channel = await layer.new_channel("room.")
    await layer.group_add("doc.0", group_channel)
    published = record_writes(monkeypatch)
    publisher = Publisher(layer)
    for n in range(20):
        # rooms "room.a" and "room.b" on the first worker, "room.c" on the second
        publisher.publish("doc.1", {"type": "doc.updates", "n": n}, {"room.a": inboxes[0], "room.c": inboxes[1]})
        publisher.publish("doc.2", {"type": "doc.updates", "n": n}, {"room.b": inboxes[0]})
    ticket = publisher.publish("doc.0", {"type": "doc.awareness_query", "n": 0})  # to the whole group
    await asyncio.wait_for(publisher.wait_sent(ticket), 5)
    assert published == [["PUBLISH"] * 3]  # one write: the group's event and one message per inbox
    first, second = [await asyncio.wait_for(layer.receive(inbox), 5) for inbox in inboxes]
    in_order = [[room, {"type": "doc.updates", "n": n}] for n in range(20) for room in ("room.a", "room.b")]
    assert first["events"] == in_order
    assert second["events"] == [["room.c", {"type": "doc.updates", "n": n}] for n in range(20)]
    assert (await asyncio.wait_for(layer.receive(group_channel), 5))["type"] == "doc.awareness_query"
    await layer.flush()


async def test_a_batch_that_fails_is_dropped_and_the_queue_goes_on(caplog):
    sent = []

    async def send_batch(batch):
        if not sent:
            sent.append(None)
            raise ConnectionError("Redis is restarting")
        sent.extend(event["n"] for _, event, _ in batch)

    publisher = Publisher(layer=None, send_batch=send_batch)
    with caplog.at_level(logging.WARNING, logger="collab.infra.outage"):
        first = publisher.publish("doc.1", {"type": "doc.updates", "n": 1})
        await asyncio.wait_for(publisher.wait_sent(first), 5)
        assert "Redis unreachable (sending 1 events to the other workers: ConnectionError: Redis is restarting)" in (
            caplog.text
        )
        second = publisher.publish("doc.1", {"type": "doc.updates", "n": 2})
        await asyncio.wait_for(publisher.wait_sent(second), 5)
    assert sent == [None, 2]
    assert "Redis answers again: 1 failed attempts" in caplog.text


async def test_a_full_queue_refuses_more(monkeypatch):
    monkeypatch.setattr(Publisher, "LIMIT", 3)
    publisher = Publisher(layer=None, send_batch=lambda batch: asyncio.sleep(0))
    tickets = [publisher.publish("doc.1", {"type": "doc.updates"}) for _ in range(4)]  # nothing sent yet
    assert tickets == [1, 2, 3, None]
    await asyncio.wait_for(publisher.wait_sent(3), 5)
    assert publisher.publish("doc.1", {"type": "doc.updates"}) == 4


def test_hiredis_is_there_for_redis_py_to_parse_other_workers_events_with():
    # Every event from another worker is a Pub/Sub reply to parse; redis-py parses
    # in Python unless hiredis is installed. bench/budgets.py prints the parser in use.
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE


async def test_a_batch_is_written_to_redis_before_the_room_goes_on_to_its_local_sends(redis_server, monkeypatch):
    # A room queues its event, lets the publisher run once (`asyncio.sleep(0)`), then
    # sends to its own clients: the other workers' clients should not wait for those.
    layer = RedisPubSubChannelLayer(hosts=[{"address": redis_server.url}])
    publisher = Publisher(layer)
    await asyncio.wait_for(publisher.wait_sent(publisher.publish("doc.1", {"type": "doc.updates"})), 5)
    order = []
    send = AbstractConnection.send_packed_command

    async def recording_send(self, *args, **kwargs):
        order.append("written")
        return await send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", recording_send)
    ticket = publisher.publish("doc.1", {"type": "doc.updates"})
    await asyncio.sleep(0)
    order.append("local sends")
    await asyncio.wait_for(publisher.wait_sent(ticket), 5)
    assert order == ["written", "local sends"]
    await layer.flush()


async def test_after_a_redis_restart_the_next_batch_goes_out_on_a_new_connection(redis_server, caplog):
    layer = RedisPubSubChannelLayer(hosts=[{"address": redis_server.url}])
    publisher = Publisher(layer)
    await asyncio.wait_for(publisher.wait_sent(publisher.publish("doc.1", {"type": "doc.updates", "n": 1})), 5)
    redis_server.restart()
    listener = RedisPubSubChannelLayer(hosts=[{"address": redis_server.url}])
    channel = await listener.new_channel("room.")
    await listener.group_add("doc.1", channel)
    with caplog.at_level(logging.WARNING, logger="collab"):
        ticket = publisher.publish("doc.1", {"type": "doc.updates", "n": 2})
        await asyncio.wait_for(publisher.wait_sent(ticket), 5)
    assert "Redis unreachable" not in caplog.text  # the retry on a new connection went through
    assert (await asyncio.wait_for(listener.receive(channel), 5))["n"] == 2
    await listener.flush()
    await layer.flush()


async def test_a_connection_that_stops_answering_is_replaced_and_the_batch_sent_on_a_new_one(
    redis_server, settings, caplog
):
    settings.COLLAB_REDIS_TIMEOUT = 0.5
    listener = RedisPubSubChannelLayer(hosts=[{"address": redis_server.url}])
    channel = await listener.new_channel("room.")
    await listener.group_add("doc.1", channel)
    proxy = SilencingProxy(redis_server.port)
    async with proxy as port:
        layer = RedisPubSubChannelLayer(hosts=[{"address": f"redis://127.0.0.1:{port}/0"}])
        publisher = Publisher(layer)
        await asyncio.wait_for(publisher.wait_sent(publisher.publish("doc.1", {"type": "doc.updates", "n": 1})), 5)
        assert (await asyncio.wait_for(listener.receive(channel), 5))["n"] == 1
        proxy.silence()
        with caplog.at_level(logging.DEBUG, logger="collab"):
            ticket = publisher.publish("doc.1", {"type": "doc.updates", "n": 2})
            await asyncio.wait_for(publisher.wait_sent(ticket), 5)
        assert (await asyncio.wait_for(listener.receive(channel), 5))["n"] == 2
        assert "reconnecting" in caplog.text and "Redis unreachable" not in caplog.text
        await layer.flush()
    await listener.flush()
