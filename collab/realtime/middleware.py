"""The WebSocket handshake's session and user, loaded on collab's database threads."""

from __future__ import annotations

import copy
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware, get_user
from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare

from collab.access.identity import with_profile
from collab.realtime import db
from collab.realtime.registry import get_registry


def load_session_user(scope):
    """channels' own loader (session key, backend, session hash check), without the
    wrapper that sends it to channels' single database thread; with the account's
    display name, read here on the thread: the room names the person on the event loop."""
    return with_profile(get_user.func(scope))


def load_user(scope, accounts: dict):
    """channels' `get_user`, but an account in `accounts` ({id: user}, what the
    registry's ticker read moments ago) is not read from the database again.

    It stands in for the query of Django's ModelBackend only, and only if it
    passes that backend's check and matches the session's hash; in any other case
    channels' loader decides, as it always did.
    """
    session = scope["session"]
    account = accounts.get(session_user_id(session)) if accounts else None
    if account is not None and signed_in_as(session, account):
        return copy.copy(account)  # the ticker's object is shared; the scope gets its own
    return load_session_user(scope)


def session_user_id(session):
    try:
        return get_user_model()._meta.pk.to_python(session[SESSION_KEY])
    except (KeyError, ValidationError):
        return None


def signed_in_as(session, account) -> bool:
    """Whether channels' loader, given `account` as the database's row, would sign the session in as it."""
    path = session.get(BACKEND_SESSION_KEY)
    if path not in settings.AUTHENTICATION_BACKENDS:
        return False
    backend = load_backend(path)
    if type(backend).get_user is not ModelBackend.get_user or not backend.user_can_authenticate(account):
        return False
    session_hash = session.get(HASH_SESSION_KEY)
    return bool(session_hash) and constant_time_compare(session_hash, account.get_session_auth_hash())


class ConcurrentAuthMiddleware(AuthMiddleware):
    """channels' AuthMiddleware, with the user loaded in `collab.realtime.db`'s thread pool.

    channels runs every `database_sync_to_async` call of a process on one thread,
    one after another: when many clients connect at once (a reconnect after a
    restart), each handshake's session and user queries wait for everyone else's,
    and the event loop idles meanwhile. The pool runs several at a time. Someone
    already connected to this worker skips the user query (`load_user`): under
    many handshakes at once, that query and the threads' contention for the
    interpreter were most of a handshake's time.
    """

    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await db.run(load_user, scope, get_registry().known_accounts())


def auth_middleware_stack(inner):
    """channels' AuthMiddlewareStack, with ConcurrentAuthMiddleware."""
    return CookieMiddleware(SessionMiddleware(ConcurrentAuthMiddleware(inner)))


class OriginValidator:
    """channels' AllowedHostsOriginValidator, except for a share-link client.

    The `Origin` check keeps other sites' pages from opening sockets with a
    visitor's cookies; browsers send `Origin` on every WebSocket handshake. A
    handshake with neither `Origin` nor any cookie, naming a share token
    (`?share=`), is a non-browser client: only that token can let it in (the
    consumer decides), which its holder may use from anywhere anyway. A missing
    `Origin` with a cookie, and a foreign or `null` one, are refused (HTTP 403).
    """

    def __init__(self, application):
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        app = self.application if share_client_without_origin(scope) else self.checked
        return await app(scope, receive, send)


def share_client_without_origin(scope) -> bool:
    if any(name in (b"origin", b"cookie") for name, _ in scope.get("headers", ())):
        return False
    return bool(parse_qs(scope.get("query_string", b"").decode("latin-1")).get("share"))
