"""Start daphne with the WebSocket limits taken from the settings.

daphne caps WebSocket messages at 1 MiB unless told otherwise; its cap is set to
DAPHNE_MAX_MESSAGE_BYTES, a little above COLLAB_MAX_MESSAGE_BYTES, so that an
oversize message reaches the application and is refused with close code 4413
instead of a bare TCP drop.

Its keep-alive pings are set from COLLAB_PING_INTERVAL and COLLAB_PING_TIMEOUT,
to find dead connections within seconds rather than its default 20 + 30.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import signal
import socket
import struct
import termios
from functools import partial

from daphne.cli import CommandLineInterface
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand

from collab.infra import metrics
from collab.realtime import presence
from collab.realtime.sockets import EXTENSION, FrameWriter

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve collab with daphne (HTTP and WebSockets)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--fd", type=int, default=None, help="serve on an inherited socket")
        parser.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-For from a proxy")

    def handle(self, *args, host, port, fd, proxy_headers, **options):
        cap = str(settings.DAPHNE_MAX_MESSAGE_BYTES)
        argv = ["--websocket-max-message-size", cap, "--websocket-max-frame-size", cap]
        argv += ["--ping-interval", str(settings.COLLAB_PING_INTERVAL)]
        argv += ["--ping-timeout", str(settings.COLLAB_PING_TIMEOUT)]
        argv += ["--fd", str(fd)] if fd is not None else ["-b", host, "-p", str(port)]
        if proxy_headers:
            argv.append("--proxy-headers")
        argv += access_log_args(settings.ACCESS_LOG)
        presence.listening_on(port if fd is None else inherited_port(fd))
        from twisted.internet import reactor  # daphne.cli has installed the asyncio reactor

        disable_nagle()
        name_every_status()
        spare_clients_still_reading()
        defer_autobahn_debug_formatting()
        unmask_short_frames_in_python()
        reactor.callWhenRunning(tune_garbage_collection)
        reactor.callWhenRunning(use_loop_connections)
        reactor.callWhenRunning(install_graceful_shutdown, reactor)
        forgotten = metrics.forget_dead_workers()  # live gauges of workers that are gone (COLLAB_METRICS_DIR)
        if forgotten:
            logger.info("metrics: dropped the live gauges of %d workers no longer running", forgotten)
        try:
            CollabCommandLine().run([*argv, "config.asgi:application"])
        finally:
            metrics.worker_stopped()


def inherited_port(fd: int) -> int | None:
    """The port of the listening socket inherited as `fd` (left open); None for a Unix socket."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        address = sock.getsockname()
    return address[1] if isinstance(address, tuple) else None


def access_log_args(access_log: str) -> list[str]:
    """daphne's options for ACCESS_LOG ("-", a path, or "off")."""
    if access_log.lower() == "off":
        return ["--verbosity", "0"]  # daphne's only way to write none; Django's logging stays as configured
    return ["--access-log", access_log]


class CollabServer(Server):
    """daphne, offering each WebSocket connection a direct frame writer (collab.realtime.sockets)."""

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope.setdefault("extensions", {})[EXTENSION] = FrameWriter(protocol)
        return super().create_application(protocol, scope)

    def protocol_disconnected(self, protocol):
        super().protocol_disconnected(protocol)
        release_upgraded_request(protocol)


def release_upgraded_request(request) -> None:
    """Let go of the HTTP request a WebSocket connection was upgraded from.

    daphne hands the socket to its WebSocket protocol and reports the request
    disconnected, but Twisted's channel keeps the request, which never finishes,
    in its queue for the connection's lifetime: its headers, body and addresses,
    some 23 objects per connection that every full pass of the garbage collector
    walks (1,000 connections: 133,000 tracked objects, 110,000 without them).
    """
    channel = getattr(request, "channel", None)
    if getattr(request, "transport", True) is not None or channel is None:
        return  # not upgraded: Twisted finishes it as usual
    queue = getattr(channel, "requests", [])
    for i, queued in enumerate(queue):
        if queued is request:
            del queue[i]
            return


class CollabCommandLine(CommandLineInterface):
    server_class = CollabServer


def disable_nagle() -> None:
    """Send each frame at once: daphne leaves Nagle's algorithm on, so a small frame
    written right after another waits for the client's (delayed) ACK, which adds
    milliseconds to every relayed keystroke."""
    from daphne.http_protocol import HTTPFactory

    build = HTTPFactory.buildProtocol

    def build_protocol(self, addr):
        protocol = build(self, addr)
        channel = getattr(protocol, "_channel", protocol)  # Twisted wraps the channel in a proxy
        connection_made = channel.connectionMade

        def with_nodelay():
            del channel.connectionMade  # this closure and the channel refer to each other
            connection_made()
            set_nodelay = getattr(channel.transport, "setTcpNoDelay", None)
            if set_nodelay is not None:
                set_nodelay(True)

        channel.connectionMade = with_nodelay
        return protocol

    HTTPFactory.buildProtocol = build_protocol


def name_every_status() -> None:
    """Twisted writes the status line's reason from its own table, which lacks 422, 423
    and 429 ("Unknown Status"): fill its gaps from Python's (HTTP/1.1 clients and logs
    show the reason; HTTP/2 has none)."""
    from http import HTTPStatus

    from twisted.web import http

    for status in HTTPStatus:
        http.RESPONSES.setdefault(status.value, status.phrase.encode())


def spare_clients_still_reading() -> None:
    """Drop a connection whose ping goes unanswered only if the client reads nothing.

    The answer to a ping comes after the client has read all that was sent before
    it: one joining a large document on a slow link can take longer than
    COLLAB_PING_TIMEOUT to answer, alive and reading all the while. At the timeout,
    a connection that has had more of its bytes acknowledged since the ping (its
    peer's TCP is still taking them) gets another timeout; one that has not, a
    client whose network went away, is dropped as daphne would. What a stuck client
    can make the server wait is bounded by its receive buffer and
    COLLAB_MAX_BACKLOG_BYTES.

    One ping at a time: daphne pings again after COLLAB_PING_INTERVAL whether or
    not the last one was answered, and autobahn then forgets the first one's
    timeout without cancelling it, so a late answer could not save the connection.
    """
    from daphne.ws_protocol import WebSocketProtocol

    send_ping, timed_out = WebSocketProtocol._sendAutoPing, WebSocketProtocol.onAutoPingTimeout
    if getattr(timed_out, "spares_readers", False):
        return

    def _sendAutoPing(self):
        if self.autoPingTimeoutCall is not None:
            return  # the ping sent before is still waiting for its answer
        send_ping(self)
        self.unacked_at_ping = unacked_bytes(self.transport)

    def onAutoPingTimeout(self):
        unacked, at_ping = unacked_bytes(self.transport), getattr(self, "unacked_at_ping", 0)
        if 0 < unacked < at_ping:
            self.unacked_at_ping = unacked
            self.autoPingTimeoutCall = self.factory._batched_timer.call_later(
                self.autoPingTimeout, self.onAutoPingTimeout
            )
            return
        logger.info(
            "dropping %s: its ping went unanswered (%d bytes unacknowledged, %d when last looked)",
            getattr(self, "client_addr", "a connection"),
            unacked,
            at_ping,
        )
        timed_out(self)

    onAutoPingTimeout.spares_readers = True
    WebSocketProtocol._sendAutoPing = _sendAutoPing
    WebSocketProtocol.onAutoPingTimeout = onAutoPingTimeout


def unacked_bytes(transport) -> int:
    """Bytes written to a connection that its peer has not acknowledged: those
    Twisted still holds, and those in the socket's send queue (Linux: TIOCOUTQ)."""
    try:
        held = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        queued = fcntl.ioctl(transport.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (AttributeError, OSError, ValueError):
        return 0
    return held + struct.unpack("i", queued)[0]


class FormatLater:
    """`fn(*args)` as text, computed only if it is written out."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __str__(self) -> str:
        return self.fn(*self.args)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def defer_autobahn_debug_formatting() -> None:
    """autobahn builds the arguments of its debug lines whether or not debug is
    logged: on every connection it pretty-prints its whole configuration and
    styles the names of several methods (some 15 % of the worker CPU a
    handshake takes), and on every chunk a socket reads it styles a method name
    and the peer's address. Its two WebSocket modules use those helpers for log
    arguments only, so they are made to format when written."""
    import pprint

    from autobahn import util
    from autobahn.twisted import websocket
    from autobahn.websocket import protocol

    for module, name, fn in (
        (protocol, "pformat", pprint.pformat),
        (protocol, "hltype", util.hltype),
        (protocol, "hlval", util.hlval),
        (websocket, "hltype", util.hltype),
        (websocket, "hlval", util.hlval),
    ):
        setattr(module, name, partial(FormatLater, fn))
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)  # the one use that is not a log argument


class ShortFrameMasker:
    """autobahn's unmasking of a client's frame, for a short payload: a keystroke's
    frame is a few dozen bytes, and autobahn's C masker costs more to create (5-8
    µs, a cffi allocation) than this takes to create and run (1-2 µs)."""

    __slots__ = ("mask", "position")

    def __init__(self, mask: bytes):
        self.mask, self.position = mask, 0

    def pointer(self) -> int:
        return self.position

    def reset(self) -> None:
        self.position = 0

    def process(self, data: bytes) -> bytes:
        n, turn = len(data), self.position & 3
        mask = self.mask[turn:] + self.mask[:turn]
        self.position += n
        key = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


SHORT_FRAME_BYTES = 256  # beyond this the C masker is faster


def unmask_short_frames_in_python() -> None:
    from autobahn.websocket import protocol

    create = protocol.create_xor_masker
    if getattr(create, "short_frames", False):
        return

    def create_xor_masker(mask, length=None):
        if length is not None and length < SHORT_FRAME_BYTES:
            return ShortFrameMasker(mask)
        return create(mask, length)

    create_xor_masker.short_frames = True
    protocol.create_xor_masker = create_xor_masker


# Objects allocated, net, between two young collections (Python's default: 700).
# Every connection holds about a hundred tracked objects (daphne's, autobahn's,
# Twisted's, the consumer's), and handshakes and closed connections leave dozens
# more each in reference cycles. At 700 they outlive two young collections and
# are promoted to the oldest generation, whose collections walk every
# connection: at 3,000 connections eight full passes of up to 400 ms (1.6-1.7 s
# in all), three of them in the first second of editing. With more room they
# mostly die young: one such pass.
YOUNG_COLLECTION_THRESHOLD = 10_000


def tune_garbage_collection() -> None:
    """Keep what start-up built (Django, the app, daphne: hundreds of thousands of
    objects) out of the collector's full passes, which walked all of it and held
    every socket still for 40-70 ms; collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def use_loop_connections() -> None:
    from collab.realtime import db

    if db.use_loop_connections(asyncio.get_event_loop()):  # the reactor's loop, not yet running
        logger.info("group commits go over PostgreSQL connections of the event loop")


def install_graceful_shutdown(reactor) -> None:
    """On SIGTERM or SIGINT: store pending updates, close sockets with 4503, then stop.

    daphne's own handler would cancel every consumer mid-flight instead.
    """
    loop = asyncio.get_event_loop()

    async def shutdown():
        from collab.realtime import db
        from collab.realtime.registry import get_registry

        try:
            await get_registry().shutdown()
            await db.close_loop_connections()
            await asyncio.sleep(0.2)  # let the close frames go out
        except Exception:
            logger.exception("graceful shutdown failed")
        finally:
            reactor.stop()

    handle_stop_signals(loop, shutdown)


def handle_stop_signals(loop: asyncio.AbstractEventLoop, shutdown) -> None:
    """Run `shutdown()` on the loop at the first SIGTERM or SIGINT; a second one stops at once.

    A plain signal handler, not `loop.add_signal_handler`: asyncio hears of those
    through its self-pipe, and a loop too busy to drain that pipe while threads
    post results to it loses the signal ("Exception ignored when trying to write
    to the signal wakeup fd"). Python runs this one in the main thread, the
    loop's, before its next bytecode.
    """

    def start():
        logger.info("shutting down: storing pending updates and closing connections")
        loop.create_task(shutdown())

    def on_signal(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        loop.call_soon_threadsafe(start)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
