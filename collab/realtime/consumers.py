"""The WebSocket endpoint of a document: glue between a socket and its room."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from collab.exceptions import CloseCode, ConnectionClosingError, MessageTooLarge, TextFrame
from collab.infra import jsonlog, metrics
from collab.realtime.members import seat_for
from collab.realtime.registry import get_registry
from collab.realtime.sockets import EXTENSION

logger = logging.getLogger(__name__)


class DocumentConsumer(AsyncWebsocketConsumer):
    # Rooms, not consumers, use the channel layer (one channel per room and worker),
    # so a consumer has no channel of its own: that saves a Redis receive per socket,
    # and a Redis restart cannot break a socket.
    channel_layer_alias = None

    room = None
    closing = False
    write_frame = None  # under `manage.py serve`: straight to the socket (collab.realtime.sockets)

    async def __call__(self, scope, receive, send):
        # channels' loop (await_many_dispatch) receives each message in a task of
        # its own and waits for it with asyncio.wait, so that it can also read a
        # channel-layer channel; with none, each keystroke would pay for a task and
        # two extra turns of the event loop. This reads the socket's queue directly.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def connect(self):
        document_id = self.scope["url_route"]["kwargs"]["document_id"]
        user = self.scope.get("user")
        jsonlog.bind(
            document=document_id,
            user=user.pk if user is not None and user.is_authenticated else "guest",
            connection=f"{id(self):x}",
        )
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("share", [])
        rights = await get_registry().current_rights(document_id)  # no queries when the room is open here
        seat = None
        if rights is not None:  # the document exists
            # No queries here, so no trip to the database threads: the session and
            # user were loaded for the handshake (collab.realtime.middleware), the rights above.
            seat = seat_for(
                user=self.scope.get("user"),
                session=self.scope.get("session"),
                document_id=document_id,
                extra_tokens=tokens,
                rights=rights,
                extensions=query.get("ext") == ["1"],
            )
        if seat is None:
            metrics.CONNECTS.labels("refused").inc()
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        await self.accept()
        # Channels' session middleware inspects every outgoing message for a session
        # to save; that matters for the handshake only, so frames bypass it.
        self.send_raw = getattr(getattr(self.base_send, "__self__", None), "real_send", self.base_send)
        self.max_message_bytes = settings.COLLAB_MAX_MESSAGE_BYTES  # once, not per frame (LazyObject lookups)
        # Under `collab serve`, frames skip ASGI altogether (collab.realtime.sockets).
        writer = self.scope.get("extensions", {}).get(EXTENSION)
        if writer is not None:
            self.write_frame = writer.write
        try:
            self.room = await get_registry().join(document_id, self, seat, rights)
            metrics.CONNECTS.labels("accepted").inc()
            metrics.CONNECTIONS.labels(metrics.WORKER).inc()
        except ConnectionClosingError as exc:
            metrics.CONNECTS.labels(f"refused {exc.code}").inc()
            logger.warning("document %s: refusing a connection with %d: %s", document_id, exc.code, exc)
            await self.close_with(exc.code, str(exc))
        except Exception:
            logger.exception("document %s: could not open its room", document_id)
            await self.close_with(CloseCode.INTERNAL, "could not open the document")

    async def dispatch(self, message):
        # channels first closes stale database connections on its database thread,
        # a thread hop per message. Nothing here queries on that thread: the
        # handshake's queries and the rooms' run in collab.realtime.db's pool, whose threads
        # keep their connections and drop one that failed. So keystrokes, and each
        # handshake, skip a hop.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing or self.room is None:
            return
        room = self.room
        try:
            if bytes_data is None:
                raise TextFrame("text frames are not part of the protocol")
            if len(bytes_data) > self.max_message_bytes:
                raise MessageTooLarge(f"{len(bytes_data)} bytes")
            await room.receive(self, bytes_data)
        except ConnectionClosingError as exc:
            logger.warning("document %s: closing a connection with %d: %s", room.id, exc.code, exc)
            await self.close_with(exc.code, exc.__class__.__name__)
            await self.leave_room()  # now, not when (or if) the client completes the close
        except Exception:
            logger.exception("document %s: unexpected error on a frame", room.id)
            await self.close_with(CloseCode.INTERNAL, "internal error")
            await self.leave_room()

    async def websocket_disconnect(self, message):
        # channels' own also closes stale database connections on its thread after
        # disconnect(): a hop per close that nothing here needs (see dispatch).
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        self.closing = True
        await self.leave_room()

    async def leave_room(self):
        room, self.room = self.room, None
        if room is not None:
            metrics.CONNECTIONS.labels(metrics.WORKER).dec()
            await get_registry().leave(room, self)

    # The room's view of this connection (collab.realtime.room.Connection).

    async def send_frame(self, frame: bytes) -> None:
        if self.write_frame is not None:
            self.write_frame(frame)
        else:
            await self.send_raw({"type": "websocket.send", "bytes": frame})

    async def close_with(self, code: int, reason: str = "") -> None:
        if not self.closing:
            self.closing = True
            metrics.CLOSES.labels(str(code)).inc()
            await self.close(code=code, reason=reason[:120])


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refused at once (rather than an error and a timeout)."""

    channel_layer_alias = None

    async def connect(self):
        await self.close()
