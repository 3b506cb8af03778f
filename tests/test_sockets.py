"""Direct frame writes (collab.realtime.sockets): framing, and sending at once or through Twisted's queue."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from twisted.internet import tcp

from collab.realtime.sockets import FrameWriter, framed, write_through


def parse_frame(data: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one unmasked server frame, per RFC 6455 section 5.2."""
    first, second = data[0], data[1]
    assert not second & 0x80, "server frames are not masked"
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,), offset = struct.unpack("!H", data[2:4]), 4
    elif length == 127:
        (length,), offset = struct.unpack("!Q", data[2:10]), 10
    assert len(data) == offset + length
    return first, data[offset:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 1024 * 1024])
def test_a_payload_is_framed_as_one_final_binary_frame(size):
    payload = bytes(i % 251 for i in range(size))
    first, body = parse_frame(framed(payload))
    assert first == 0x82  # FIN, opcode 2 (binary)
    assert body == payload


def test_the_same_payload_is_framed_once_and_equal_payloads_stay_apart():
    payload = b"\x00\x02\x05hello"
    assert framed(payload) is framed(payload)
    other = bytes(payload)  # equal bytes, another object
    assert framed(other) == framed(payload)
    assert framed(b"\x00\x02\x05other") != framed(payload)


class Reactor:
    """What a Twisted transport asks of its reactor: to be told when it may write (never, here)."""

    def addWriter(self, transport) -> None:
        pass

    def removeWriter(self, transport) -> None:
        pass


class Transport(tcp.Connection):
    """Twisted's own TCP transport, connected, with no reactor running: what it queues
    leaves when the test calls `doWrite()`, as the reactor would once the socket is writable."""

    def __init__(self, sock):
        super().__init__(sock, None, Reactor())
        self.connected = True
        self.written: list[bytes] = []  # what went through Twisted's write()

    def write(self, data: bytes) -> None:
        self.written.append(data)
        super().write(data)


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def received(transport: Transport, sock, size: int) -> bytes:
    """Read `size` bytes from the other end, letting Twisted write what it queued meanwhile."""
    data, deadline = b"", time.monotonic() + 10
    while len(data) < size:
        assert time.monotonic() < deadline, f"{len(data)} of {size} bytes arrived"
        transport.doWrite()
        try:
            data += sock.recv(size - len(data))
        except BlockingIOError:
            continue
    return data


def test_with_nothing_queued_the_frame_goes_out_at_once(pair):
    a, b = pair
    transport = Transport(a)
    write_through(transport, b"frame")
    assert transport.written == []  # not through Twisted's queue, which a real transport would have used
    assert b.recv(10) == b"frame"


def test_behind_queued_data_the_frame_waits_its_turn(pair):
    a, b = pair
    transport = Transport(a)
    transport.write(b"earlier")  # Twisted holds it until the reactor says the socket is writable
    write_through(transport, b"later")
    with pytest.raises(BlockingIOError):
        b.recv(10)  # nothing overtook what Twisted holds
    assert received(transport, b, 12) == b"earlierlater"


def test_what_the_socket_does_not_take_is_queued_in_order(pair):
    a, b = pair
    transport = Transport(a)
    big = bytes(range(256)) * 40_000  # 10 MB: more than a socket buffer holds
    write_through(transport, big)
    [rest] = transport.written  # the part the socket did not take, to Twisted's queue
    assert 0 < len(rest) < len(big)
    write_through(transport, b"after")
    assert received(transport, b, len(big) + 5) == big + b"after"


def test_a_closing_or_other_transport_gets_a_plain_write(pair):
    a, _ = pair
    closing = Transport(a)
    closing.disconnecting = True
    write_through(closing, b"x")
    assert closing.written == [b"x"]

    class Other:
        def __init__(self):
            self.queued = []

        def write(self, data):
            self.queued.append(data)

    other = Other()
    write_through(other, b"y")
    assert other.queued == [b"y"]


class FakeProtocol:
    STATE_OPEN = 3
    STATE_CLOSING = 4

    def __init__(self, transport):
        self.state = self.STATE_OPEN
        self.transport = transport
        self.send_queue: list = []
        self.via_autobahn: list[bytes] = []

    def sendData(self, data: bytes) -> None:
        self.via_autobahn.append(data)


def test_the_writer_sends_framed_payloads_only_while_the_socket_is_open(pair):
    a, b = pair
    protocol = FakeProtocol(Transport(a))
    writer = FrameWriter(protocol)
    writer.write(b"\x00\x02\x01x")
    assert parse_frame(received(protocol.transport, b, 6)) == (0x82, b"\x00\x02\x01x")
    protocol.send_queue.append((b"held", True))
    writer.write(b"queued")
    assert protocol.via_autobahn == [framed(b"queued")]  # behind what autobahn holds back
    protocol.state = protocol.STATE_CLOSING
    writer.write(b"dropped")
    assert protocol.via_autobahn == [framed(b"queued")]
    assert protocol.transport.written == []
