"""Sessions: Django's cached_db store, which reads the cache before the database.

Every WebSocket handshake loads its session (channels' auth middleware); from the
cache that costs a fraction of a database query. The database stays the record:
logout and a ban delete the session there and in the cache, and the registry
checks open connections' sessions against the database.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends import cached_db, db
from redis.exceptions import RedisError

from collab.infra import outage

logger = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    """Django's cached_db store, which stays usable while its cache (Redis) is down.

    Django's falls back to the database when the cache cannot be read, but then
    fails the request when it cannot store what it read, and fails a sign-in when
    it cannot ask the cache whether a new key is taken or delete the key signed in
    from: with Redis down, every page and handshake of a signed-in person would
    fail. Ending a session (logout, a ban) still fails loudly then, as Django's
    does: its row is gone, but a copy Redis kept may live on, so the person is
    told rather than shown a logout that may not have happened everywhere.
    """

    def load(self):
        try:
            return super().load()
        except RedisError as exc:
            # A page or handshake each while Redis is down: told once, with the outage.
            outage.redis.failed("reading a session from the cache (read from the database instead)", exc)
            return db.SessionStore.load(self)

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except RedisError:
            return db.SessionStore.exists(self, session_key)

    def cycle_key(self):
        # Signing in moves the session to a new key, then deletes the old one (the
        # last step of Django's cycle_key), which holds only what the session held
        # before: if the cache keeps a copy of it meanwhile, that copy grants
        # nothing its holder did not have before.
        try:
            super().cycle_key()
        except RedisError as exc:
            logger.warning("session cache unavailable (%r); the key signed in from stays cached", exc)
