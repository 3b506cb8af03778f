"""Close codes for bad frames, limits and backlog, from a real `manage.py serve` worker.

Over a real WebSocket, where relays take the direct frame writer
(collab.realtime.sockets) rather than ASGI; test_consumer.py checks the same
codes in process. Each worker gets small limits, so that reaching them is quick.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import pytest
import websockets

from collab.exceptions import CloseCode
from collab.models import Document
from collab.yjs import protocol
from tests.helpers import stored
from tests.servers import Server
from tests.yclient import open_client

pytestmark = pytest.mark.processes


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Closing time")


async def settled(document, client, timeout: float = 30) -> str:
    """The text, once what is stored has reached `client` and nothing more is on its way."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (client.value() and await stored(document) == client.value()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{client.name} never caught up with the stored text")
        await asyncio.sleep(0.05)
    return client.value()


def message_limit(size: int) -> dict[str, str]:
    """COLLAB_MAX_MESSAGE_BYTES of `size`, and a document limit daphne's cap allows with it."""
    return {"COLLAB_MAX_MESSAGE_BYTES": str(size), "COLLAB_MAX_DOCUMENT_BYTES": str(1024 * 1024)}


BAD_FRAMES = {
    "unknown message type": (b"\x09\x00", CloseCode.MALFORMED),
    "text frame": ("hello", CloseCode.TEXT_FRAME),
    # Over COLLAB_MAX_MESSAGE_BYTES, well within daphne's cap (that plus 1 MiB).
    "too large": (protocol.sync_update(b"\x00" * 5000), CloseCode.TOO_LARGE),
}


@pytest.mark.parametrize("case", BAD_FRAMES)
async def test_a_bad_frame_closes_only_its_connection(transactional_db, document, cookie, case):
    frame, code = BAD_FRAMES[case]
    with Server(env=message_limit(4096), log_name="bad-frames") as server:
        good = await open_client(server, document, cookie, "good")
        bad = await open_client(server, document, cookie, "bad")
        good.insert(0, "before ")
        await bad.wait_for(lambda: bad.value() == "before ")
        await bad.send(frame)
        assert await bad.wait_closed(timeout=30) == code
        good.insert(7, "after")
        await good.wait_for(lambda: good.value() == "before after" and good.received_updates >= 2, timeout=30)
        assert not good.closed.is_set()
        assert await stored(document) == "before after"
        await good.close()
        await bad.close()
        log = server.log_path.read_text()
    assert f"closing a connection with {code}" in log


async def test_too_many_messages_a_second_close_with_4429(transactional_db, document, cookie):
    with Server(env={"COLLAB_RATE_MESSAGES": "5"}, log_name="rate-messages") as server:  # bursts of 15
        calm = await open_client(server, document, cookie, "calm")
        spammer = await open_client(server, document, cookie, "spammer")
        for i in range(60):
            await spammer.set_awareness({"n": i})
        assert await spammer.wait_closed(timeout=30) == CloseCode.RATE_LIMITED
        calm.insert(0, "still here")
        await calm.wait_for(lambda: calm.received_updates >= 1, timeout=30)
        assert not calm.closed.is_set()
        await calm.close()
        await spammer.close()


async def test_more_bytes_a_second_than_collab_rate_bytes_close_with_4429(transactional_db, document, cookie):
    # 8 KiB a second, in bursts of 16 KiB (the rate plus one largest message). Forty
    # updates of 4 KB, 160 KB in all: twenty seconds' worth, sent at once. The
    # messages rate (100 a second, bursts of 300) is nowhere near.
    env = {"COLLAB_RATE_BYTES": "8192", **message_limit(8192)}
    with Server(env=env, log_name="rate-bytes") as server:
        calm = await open_client(server, document, cookie, "calm")
        flooder = await open_client(server, document, cookie, "flooder")
        for i in range(40):
            flooder.insert(len(flooder.text), str(i % 10) * 4000)
        assert await flooder.wait_closed(timeout=30) == CloseCode.RATE_LIMITED
        # Another connection's allowance is its own: it sends as much at once. Sent
        # after the refusal, it is stored after whatever the flooder got in first.
        await calm.wait_for(lambda: calm.value() != "", timeout=30)
        calm.insert(0, "x" * 4000)
        text = await settled(document, calm)
        assert not calm.closed.is_set()
        # What came before the limit was reached is kept, and reached everyone; nothing after it did.
        pieces = [str(i % 10) * 4000 for i in range(40)]
        assert text[:4000] == "x" * 4000
        assert text[4000:] in ["".join(pieces[:n]) for n in range(1, 40)]
        await calm.close()
        await flooder.close()


async def test_a_client_that_stops_reading_while_others_write_is_closed_with_4408(transactional_db, document, cookie):
    env = {"COLLAB_PROBE_BYTES": "1000", "COLLAB_MAX_BACKLOG_BYTES": "20000"}
    with Server(env=env, log_name="backlog") as server:
        writer = await open_client(server, document, cookie, "writer")
        # A connection that never reads what it is sent, nor answers the server's
        # sync step 1 (the read receipt it asks for).
        silent = await websockets.connect(
            f"{server.ws_url}/ws/docs/{document.id}/",
            additional_headers={"Cookie": cookie},
            origin=server.url,
            ping_interval=None,
        )
        for i in range(100):
            writer.insert(0, "x" * 500)
            await writer.wait_for(lambda n=i: writer.received_updates > n, timeout=30)  # it reads as it writes
        assert not writer.closed.is_set()
        assert await stored(document) == writer.value() == "x" * 50000

        async def read_until_closed() -> None:
            with suppress(websockets.ConnectionClosed):
                while True:
                    await silent.recv()

        await asyncio.wait_for(read_until_closed(), timeout=30)  # what was queued for it, then the close
        assert silent.close_code == CloseCode.TOO_SLOW
        await writer.close()
        log = server.log_path.read_text()
    assert "closing a client that stopped reading" in log
