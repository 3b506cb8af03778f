"""Direct frame writes (collab.realtime.sockets): framing, and sending at once or through Twisted's queue."""

from __future__ import annotations

import socket
import struct

import pytest

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


class FakeTransport:
    """The attributes of a Twisted TCP transport that write_through reads."""

    TLS = False

    def __init__(self, sock):
        self.socket = sock
        self.dataBuffer = b""
        self._tempDataBuffer: list[bytes] = []
        self.connected = True
        self.disconnecting = False
        self._writeDisconnected = False
        self.queued: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.queued.append(data)


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def read_all(sock, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data


def test_with_nothing_queued_the_frame_goes_out_at_once(pair):
    a, b = pair
    transport = FakeTransport(a)
    write_through(transport, b"frame")
    assert transport.queued == []
    assert read_all(b, 5) == b"frame"


def test_behind_queued_data_the_frame_waits_its_turn(pair):
    a, b = pair
    transport = FakeTransport(a)
    transport._tempDataBuffer = [b"earlier"]
    write_through(transport, b"later")
    assert transport.queued == [b"later"]
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(10)  # nothing overtook what Twisted holds


def test_what_the_socket_does_not_take_is_queued_in_order(pair):
    a, b = pair
    transport = FakeTransport(a)
    big = bytes(range(256)) * 40_000  # 10 MB: more than a socket buffer holds
    write_through(transport, big)
    assert len(transport.queued) == 1
    rest = transport.queued[0]
    assert 0 < len(rest) < len(big)
    sent = len(big) - len(rest)
    assert read_all(b, sent) == big[:sent]
    assert rest == big[sent:]


def test_a_closing_or_other_transport_gets_a_plain_write(pair):
    a, _ = pair
    closing = FakeTransport(a)
    closing.disconnecting = True
    write_through(closing, b"x")
    assert closing.queued == [b"x"]

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
    protocol = FakeProtocol(FakeTransport(a))
    writer = FrameWriter(protocol)
    writer.write(b"\x00\x02\x01x")
    assert parse_frame(read_all(b, 6)) == (0x82, b"\x00\x02\x01x")
    protocol.send_queue.append((b"held", True))
    writer.write(b"queued")
    assert protocol.via_autobahn == [framed(b"queued")]  # behind what autobahn holds back
    protocol.state = protocol.STATE_CLOSING
    writer.write(b"dropped")
    assert protocol.via_autobahn == [framed(b"queued")]
    assert protocol.transport.queued == []
