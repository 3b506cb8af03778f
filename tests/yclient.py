"""A y-websocket client on pycrdt, for tests and benchmarks.

It behaves as the browser's WebsocketProvider does: answers the server's sync
step 1, sends its own on connect, sends local changes as updates and keeps its
awareness state alive.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from contextlib import suppress

import websockets
from pycrdt import Doc, Text

from collab.yjs import protocol
from collab.yjs.protocol import MessageType, SyncStep


class WebsocketTransport:
    """A real WebSocket connection (the `websockets` library)."""

    max_size: int | None = None  # the largest message it reads (a larger one closes it with 1009); None: any
    ssl_context: ssl.SSLContext | None = None  # for wss:// URLs: whom to trust (None: the system's CAs)

    def __init__(self, url: str, *, cookie: str | None = None, origin: str | None = "http://127.0.0.1"):
        self.url, self.origin = url, origin
        self.headers = {"Cookie": cookie} if cookie else {}
        self.ws = None

    async def open(self, timeout: float) -> None:
        self.ws = await websockets.connect(
            self.url,
            additional_headers=self.headers,
            origin=self.origin,
            max_size=self.max_size,
            **({"ssl": self.ssl_context} if self.ssl_context is not None else {}),
            open_timeout=timeout,
            ping_interval=None,
        )

    async def send(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def recv(self) -> bytes | None:
        try:
            return await self.ws.recv()
        except websockets.ConnectionClosed:
            return None

    def close_code(self) -> int:
        return self.ws.close_code or 1006

    async def close(self) -> None:
        await self.ws.close()


class CommunicatorTransport:
    """Channels' in-process WebsocketCommunicator, already connected."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.code = None

    async def open(self, timeout: float) -> None:
        pass

    async def send(self, frame: bytes | str) -> None:
        if isinstance(frame, str):
            await self.communicator.send_to(text_data=frame)
        else:
            await self.communicator.send_to(bytes_data=frame)

    async def recv(self) -> bytes | None:
        while True:
            try:
                message = await self.communicator.receive_output(timeout=3600)
            except (asyncio.CancelledError, Exception):
                self.code = self.code or 1006
                return None
            if message["type"] == "websocket.send" and message.get("bytes") is not None:
                return message["bytes"]
            if message["type"] == "websocket.close":
                self.code = message.get("code", 1000)
                return None

    def close_code(self) -> int:
        return self.code or 1006

    async def close(self) -> None:
        with suppress(Exception):
            await self.communicator.disconnect()


class YClient:
    def __init__(self, transport, *, name: str = "client"):
        self.transport = transport
        self.name = name
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.client_id = self.doc.client_id
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.awareness: dict[int, tuple[int, str]] = {}
        self.received_updates = 0
        self.rights: dict | None = None  # the last rights message from the server
        self.extensions: list[dict] = []  # collab's extension messages received (with `?ext=1`)
        self.message_types: set[int] = set()  # every message type received
        self.on_update = None  # callback(update bytes), for benchmarks
        self._remote = False
        self._open = False
        self._clock = 0
        self._reader: asyncio.Task | None = None
        self._subscription = self.doc.observe(self._local_change)

    @classmethod
    def websocket(cls, url: str, *, cookie: str | None = None, origin: str | None = "http://127.0.0.1", name="client"):
        return cls(WebsocketTransport(url, cookie=cookie, origin=origin), name=name)

    async def connect(self, *, sync: bool = True, timeout: float = 10) -> YClient:
        await self.transport.open(timeout)
        self._open = True
        self._reader = asyncio.create_task(self._read())
        await self.send(protocol.sync_step1(self.doc.get_state()))
        if sync:
            await asyncio.wait_for(self.synced.wait(), timeout)
        return self

    async def send(self, frame: bytes | str) -> None:
        await self.transport.send(frame)

    async def set_awareness(self, state: dict | None) -> None:
        self._clock += 1
        entry = protocol.AwarenessEntry(self.client_id, self._clock, json.dumps(state))
        await self.send(protocol.awareness_frame(protocol.encode_awareness([entry])))

    def insert(self, index: int, content: str) -> None:
        self.text.insert(index, content)

    def value(self) -> str:
        return str(self.text)

    async def wait_for(self, predicate, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: condition not met in {timeout}s; text={self.value()!r}")
            await asyncio.sleep(0.01)

    async def wait_closed(self, timeout: float = 5) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        if self._open:
            with suppress(Exception):
                await self.transport.close()
        if self._reader is not None:
            with suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._reader), 0.2)
            self._reader.cancel()
            with suppress(BaseException):
                await self._reader

    async def reconnect(self, *, timeout: float = 10) -> YClient:
        """Connect again with the same document, as the browser's provider does after a
        close: its answer to the server's sync step 1 sends whatever the server lacks,
        edits made while closed included."""
        await self.close()
        self.closed.clear()
        self.synced.clear()
        self.close_code = None
        return await self.connect(timeout=timeout)

    # -- internals ------------------------------------------------------------

    def _local_change(self, event) -> None:
        if self._remote or not self._open or self.closed.is_set():
            return
        frame = protocol.sync_update(event.update)
        asyncio.get_running_loop().create_task(self._send_quietly(frame))

    async def _send_quietly(self, frame: bytes) -> None:
        with suppress(Exception):
            await self.transport.send(frame)

    def _apply(self, update: bytes) -> None:
        self._remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._remote = False

    async def _read(self) -> None:
        try:
            while (frame := await self.transport.recv()) is not None:
                for message in protocol.decode_frame(frame, from_server=True):
                    await self._handle(message)
        finally:
            self.close_code = self.transport.close_code()
            self.closed.set()

    async def _handle(self, message: protocol.Message) -> None:
        self.message_types.add(message.type)
        if message.type == MessageType.SYNC:
            if message.step == SyncStep.STEP1:
                await self.send(protocol.sync_step2(self.doc.get_update(message.payload)))
            else:
                self._apply(message.payload)
                if message.step == SyncStep.STEP2:
                    self.synced.set()
                else:
                    self.received_updates += 1
                    if self.on_update:
                        self.on_update(message.payload)
        elif message.type == MessageType.AUTH:
            reason, _ = protocol.read_var_string(message.payload, 1)
            self.rights = json.loads(reason)
        elif message.type == MessageType.EXTENSION:
            self.extensions.append(json.loads(message.payload))
        elif message.type == MessageType.AWARENESS:
            for entry in protocol.decode_awareness(message.payload):
                known = self.awareness.get(entry.client_id)
                if known is None or entry.clock > known[0] or (entry.clock == known[0] and entry.removed):
                    self.awareness[entry.client_id] = (entry.clock, entry.state)

    def present(self) -> dict[int, dict]:
        """Awareness states of clients that are there (not removed)."""
        return {cid: json.loads(state) for cid, (_, state) in self.awareness.items() if state != "null"}


def random_edit(client: YClient, rng: random.Random) -> None:
    """An insert or a delete at a random place."""
    length = len(client.text)
    if length > 5 and rng.random() < 0.3:
        start = rng.randrange(length)
        del client.text[start : min(length, start + rng.randint(1, 3))]
    else:
        client.insert(rng.randint(0, length), rng.choice(["a", "b", "c", " ", "xy", "\n"]))


async def open_client(server, document, cookie: str | None, name: str, *, max_size=None, timeout=10) -> YClient:
    """A client of a real server (tests.servers.Server) on `document`, connected and synced;
    `max_size`: the largest message it reads (None: any)."""
    client = YClient.websocket(f"{server.ws_url}/ws/docs/{document.id}/", cookie=cookie, origin=server.url, name=name)
    client.transport.max_size = max_size
    return await client.connect(timeout=timeout)
