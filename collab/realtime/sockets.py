"""Writing frames straight to daphne's sockets.

A relay sends the same bytes to every member of a room. Through ASGI each copy
would go through daphne's reply handler and autobahn's framing to Twisted, which
queues it and asks the event loop to say when the socket is writable, then asks
it to stop: per recipient, several Python layers and two epoll_ctl calls.

`manage.py serve` runs a daphne server that hands every WebSocket connection a
`FrameWriter` in its scope's extensions. The writer frames a payload once for
all recipients (autobahn's `PreparedMessage`) and sends it on the socket at once
when nothing is queued before it, as asyncio's own transports do; otherwise,
and for whatever the kernel does not take, Twisted queues it as usual. Under any
other server (the test communicator, say) the extension is absent and the
consumer sends through ASGI.
"""

from __future__ import annotations

from autobahn.websocket.protocol import PreparedMessage

EXTENSION = "collab.frame_writer"

_last: tuple[bytes, bytes] | None = None  # (payload, its frame)


def framed(payload: bytes) -> bytes:
    """The WebSocket frame (binary, unmasked) carrying `payload`.

    A relay passes the same payload object for every recipient in a row, so the
    last one is kept; the reference held here keeps its identity from being reused.
    """
    global _last
    if _last is not None and _last[0] is payload:
        return _last[1]
    frame = PreparedMessage(payload, isBinary=True, applyMask=False, doNotCompress=True).payloadHybi
    _last = (payload, frame)
    return frame


class FrameWriter:
    """Sends binary messages on one open WebSocket connection served by daphne."""

    __slots__ = ("protocol",)

    def __init__(self, protocol):
        self.protocol = protocol  # daphne's WebSocketProtocol (an autobahn protocol)

    def write(self, payload: bytes) -> None:
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return  # closing or closed: nothing more reaches this client
        frame = framed(payload)
        if protocol.send_queue:
            protocol.sendData(frame)  # behind frames autobahn holds back itself
        else:
            write_through(protocol.transport, frame)


def write_through(transport, data: bytes) -> None:
    """`transport.write(data)`, sending on the socket at once when nothing waits before it."""
    try:
        idle = (
            not transport.dataBuffer
            and not transport._tempDataBuffer
            and transport.connected
            and not transport.disconnecting
            and not transport._writeDisconnected
            and not transport.TLS
        )
    except AttributeError:  # not a plain Twisted TCP transport
        idle = False
    if idle:
        try:
            sent = transport.socket.send(data)
        except OSError:  # would block, or an error that Twisted's own write then reports
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)
