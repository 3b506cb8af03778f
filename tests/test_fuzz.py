"""Random and mutated frames against the consumer while another client edits."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from collab.exceptions import CloseCode
from collab.models import Document
from collab.storage import persistence
from collab.yjs import protocol
from config.asgi import application
from tests.conftest import session_cookie
from tests.yclient import CommunicatorTransport, YClient

ALLOWED_CLOSE_CODES = {code for name, code in vars(CloseCode).items() if name.isupper()} - {CloseCode.INTERNAL}


def valid_frames() -> list[bytes]:
    doc = Doc()
    text = doc.get("content", type=Text)
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "fuzz")
    text.insert(2, "zz")
    del text[0:1]
    return [
        protocol.sync_step1(doc.get_state()),
        protocol.sync_step2(doc.get_update()),
        *(protocol.sync_update(update) for update in updates),
        protocol.awareness_frame(protocol.encode_awareness([protocol.AwarenessEntry(7, 1, '{"user":{}}')])),
        protocol.QUERY_AWARENESS_FRAME,
    ]


VALID = valid_frames()


@st.composite
def mutated(draw):
    frame = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=6))
        elif op == "delete" and frame:
            del frame[pos]
        elif op == "truncate":
            del frame[pos:]
    return bytes(frame)


frames = st.lists(st.one_of(st.binary(max_size=64), mutated(), st.sampled_from(VALID)), min_size=1, max_size=8)


async def scenario(document_id, cookie, attack: list[bytes]) -> None:
    channel_layers.backends.clear()
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    good_comm = WebsocketCommunicator(application, f"/ws/docs/{document_id}/", headers=headers)
    bad = WebsocketCommunicator(application, f"/ws/docs/{document_id}/", headers=headers)
    assert (await good_comm.connect())[0] and (await bad.connect())[0]
    good = await YClient(CommunicatorTransport(good_comm), name="good").connect()
    closed_with = None
    for i, frame in enumerate(attack):
        good.insert(len(good.text), f"{i}.")
        await bad.send_input({"type": "websocket.receive", "bytes": frame})  # empty frames too
        # Drain what the server sent the attacker, noting a close.
        while not await bad.receive_nothing(timeout=0.01):
            message = await bad.receive_output()
            if message["type"] == "websocket.close":
                closed_with = message.get("code")
                break
        if closed_with is not None:
            break
    if closed_with is not None:
        assert closed_with in ALLOWED_CLOSE_CODES
    # Accepted frames may legitimately add text anywhere; what must hold is that the
    # good client's edits all arrive and that it ends up equal to the database.
    markers = [f"{n}." for n in range(i + 1)]
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        text = await asyncio.to_thread(_stored_text, document_id)
        if good.value() == text and all(marker in text for marker in markers):
            break
        assert asyncio.get_running_loop().time() < deadline, (good.value(), text)
        await asyncio.sleep(0.05)
    assert not good.closed.is_set()
    await good.close()
    if closed_with is None:
        await bad.disconnect()


def _stored_text(document_id):
    from django.db import connection

    try:
        return persistence.document_text(document_id)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attack=frames)
def test_hostile_frames_never_disturb_the_document_or_another_client(owner, attack):
    document = Document.objects.create(owner=owner)
    async_to_sync(scenario)(document.id, session_cookie(owner), attack)
