"""Connections whose client went away without a word, against a real worker.

daphne pings a connection that has been silent for COLLAB_PING_INTERVAL and
drops it when the answer does not come within COLLAB_PING_TIMEOUT; the room
then removes the client's awareness state for everyone.
"""

from __future__ import annotations

import asyncio
import random
import socket
import string
import time

import pytest
from channels.db import database_sync_to_async
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

from collab.models import Document
from collab.storage import persistence
from collab.yjs import protocol
from collab.yjs.crdt import new_doc
from tests.conftest import session_cookie
from tests.servers import Server
from tests.yclient import open_client

pytestmark = pytest.mark.processes


@pytest.fixture
def large_document(owner):
    """2 MiB of text: a client must read that much before it can answer a ping sent after it."""
    document = Document.objects.create(owner=owner, title="Large")
    doc, text = new_doc()
    text += "".join(random.Random(27).choices(string.ascii_letters, k=2 * 1024 * 1024))
    persistence.append(document.id, [doc.get_update()])
    return document


async def test_a_client_that_stops_answering_is_dropped_and_leaves_everyones_presence(server, shared_document, owner):
    document, cookie = shared_document, await database_sync_to_async(session_cookie)(owner)
    watcher = await open_client(server, document, cookie, "watcher")
    gone = await open_client(server, document, cookie, "gone")
    await gone.set_awareness({"user": {"name": "Gone soon"}})
    await watcher.wait_for(lambda: gone.client_id in watcher.present())

    gone.transport.ws.transport.pause_reading()  # its network went away: it reads and answers nothing
    await watcher.wait_for(lambda: gone.client_id not in watcher.present(), timeout=60)
    gone.transport.ws.transport.resume_reading()
    # Dropped by the server: not merely its awareness state expired (after 30 s unrenewed).
    assert await gone.wait_closed(timeout=10) == 1006
    assert not watcher.closed.is_set()  # an idle client that answers pings stays
    await watcher.close()


class SlowReader:
    """A client on a slow link: a small receive buffer, read a little at a time
    (websockets' Sans-I/O protocol answers pings as they are read)."""

    def __init__(self, url: str, *, cookie: str, origin: str, chunk: int, every: float):
        self.protocol = ClientProtocol(parse_uri(url), origin=Origin(origin), max_size=None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, chunk)  # no autotuning past it
        self.cookie, self.chunk, self.every = cookie, chunk, every
        self.messages: list[bytes] = []
        self.pings = 0
        self.closed = False

    async def connect(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        await loop.sock_connect(self.sock, ("127.0.0.1", port))
        request = self.protocol.connect()
        request.headers["Cookie"] = self.cookie
        self.protocol.send_request(request)
        await self.flush()
        while self.protocol.state is not State.OPEN:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, self.chunk), 10)
            assert data, "closed during the handshake"
            self.protocol.receive_data(data)
            self.protocol.events_received()  # the handshake's response
        self.protocol.send_binary(protocol.sync_step1(b"\x00"))  # "I hold nothing"
        await self.flush()

    async def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def read_until(self, predicate, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        while not predicate() and not self.closed:
            if time.monotonic() > deadline:
                raise TimeoutError("the slow reader did not get there in time")
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, self.chunk), 0.5)
            except TimeoutError:
                continue
            except ConnectionResetError:  # dropped by the server
                data = b""
            if not data:
                self.closed = True
                return
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if event.opcode == Opcode.BINARY:
                    self.messages.append(event.data)
                elif event.opcode == Opcode.PING:
                    self.pings += 1
                elif event.opcode == Opcode.CLOSE:
                    self.closed = True
            await self.flush()  # pongs
            await asyncio.sleep(self.every)


async def test_a_client_slowly_reading_a_large_document_is_not_taken_for_dead(transactional_db, large_document, owner):
    """It answers the ping only after reading the whole document, long after the
    timeout; that it kept reading meanwhile is what keeps it connected."""
    document, cookie = large_document, await database_sync_to_async(session_cookie)(owner)
    # Pinged after 1-3 s and dropped 2 s later unless it read something meanwhile:
    # a loaded machine can hold a reader back for a second, not for two.
    env = {"COLLAB_PING_INTERVAL": "1", "COLLAB_PING_TIMEOUT": "2"}
    with Server(env=env, log_name="slow-reader") as server:
        url = f"{server.ws_url}/ws/docs/{document.id}/"
        reader = SlowReader(url, cookie=cookie, origin=server.url, chunk=16384, every=0.05)
        await reader.connect(server.port)
        started = time.monotonic()

        def has_document_message(message: bytes) -> bool:
            return message[:2] == protocol.sync_step2(b"")[:2] and len(message) > 2 * 1024 * 1024

        def has_document():
            return any(has_document_message(m) for m in reader.messages)

        await reader.read_until(has_document, timeout=60)
        took = time.monotonic() - started
        assert not reader.closed, f"dropped after {took:.1f} s of reading"
        # The scenario's own condition, set by the pacing (16 KiB every 50 ms): not a speed.
        assert took > 5, f"read in {took:.1f} s: too fast to outlast the ping timeout"
        # Still connected after two more pings, which it now answers at once.
        pings = reader.pings
        await reader.read_until(lambda: reader.pings >= pings + 2, timeout=30)
        # A sync step 1 with what it now holds: the answer is a small, empty sync step 2.
        whole = next(m for m in reader.messages if has_document_message(m))
        held, _ = new_doc()
        held.apply_update(protocol.decode_frame(whole, from_server=True)[0].payload)
        count = len(reader.messages)
        reader.protocol.send_binary(protocol.sync_step1(held.get_state()))
        await reader.flush()
        await reader.read_until(lambda: len(reader.messages) > count, timeout=10)
        assert not reader.closed
        reader.sock.close()
