"""The WebSocket handshake's session and user, loaded on collab's database threads."""

from __future__ import annotations

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from . import db

# channels' own loader (session key, backend, session hash check), without the
# wrapper that sends it to channels' single database thread.
load_user = get_user.func


class ConcurrentAuthMiddleware(AuthMiddleware):
    """channels' AuthMiddleware, with the user loaded in `collab.db`'s thread pool.

    channels runs every `database_sync_to_async` call of a process on one thread,
    one after another: when many clients connect at once (a reconnect after a
    restart), each handshake's session and user queries wait for everyone else's,
    and the event loop idles meanwhile. The pool runs several at a time.
    """

    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await db.run(load_user, scope)


def auth_middleware_stack(inner):
    """channels' AuthMiddlewareStack, with ConcurrentAuthMiddleware."""
    return CookieMiddleware(SessionMiddleware(ConcurrentAuthMiddleware(inner)))
