"""A worker's inbox hands each event of a message to its room."""

from __future__ import annotations

import logging

from channels.layers import InMemoryChannelLayer

from collab.realtime.inbox import inbox_for
from collab.realtime.publisher import INBOX_MESSAGE
from tests.conftest import until


async def test_each_event_reaches_its_room_in_order_and_a_failing_room_stops_no_other(caplog):
    layer = InMemoryChannelLayer()
    inbox = inbox_for(layer)
    assert inbox_for(layer) is inbox  # one per worker (event loop) and layer
    channel = await inbox.open()
    got = []

    async def room_a(event):
        got.append(("a", event["n"]))

    async def room_b(event):
        if event["n"] == 1:
            raise RuntimeError("cannot")
        got.append(("b", event["n"]))

    inbox.add("room.a", room_a)
    inbox.add("room.b", room_b)
    events = [["room.a", {"n": 0}], ["room.b", {"n": 1}], ["room.gone", {"n": 2}], ["room.b", {"n": 3}]]
    with caplog.at_level(logging.ERROR, logger="collab.realtime.inbox"):
        await layer.send(channel, {"type": INBOX_MESSAGE, "events": events})
        assert await until(lambda: len(got) == 2)
        inbox.discard("room.a")  # it closed
        await layer.send(channel, {"type": INBOX_MESSAGE, "events": [["room.a", {"n": 4}], ["room.b", {"n": 5}]]})
        assert await until(lambda: len(got) == 3)
    assert got == [("a", 0), ("b", 3), ("b", 5)]
    assert "room room.b could not handle" in caplog.text
