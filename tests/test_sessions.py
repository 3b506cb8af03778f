"""Sessions are read from the cache before the database, and end in both."""

from __future__ import annotations

import logging
import socket

from django.contrib.auth import SESSION_KEY
from django.test import Client

from collab.access.sessions import SessionStore
from collab.infra import outage
from collab.moderation import actions as moderation


def signed_in_session_key(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_a_signed_in_session_loads_without_a_query(owner, django_assert_num_queries):
    key = signed_in_session_key(owner)
    with django_assert_num_queries(0):  # what every WebSocket handshake reads
        data = SessionStore(session_key=key).load()
    assert data[SESSION_KEY] == str(owner.pk)


def test_the_session_loads_from_the_database_while_the_cache_is_down(owner, settings, caplog, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    caplog.set_level(logging.WARNING)
    key = signed_in_session_key(owner)  # stored in the database; the cache write fails
    # Django's traceback for the failed write went to the outage, which it started.
    assert [r.getMessage() for r in caplog.records if r.name == "django.contrib.sessions"] == []
    assert "Redis unreachable (saving a session to the cache: ConnectionError" in caplog.text

    monkeypatch.setattr(outage, "redis", outage.Outage("Redis"))  # an account of the reads alone
    caplog.clear()
    for _ in range(3):  # a page or handshake each
        assert SessionStore(session_key=key).load()[SESSION_KEY] == str(owner.pk)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # the outage's start, not one per read
    assert warnings[0].startswith("Redis unreachable (reading a session from the cache")


def test_a_ban_ends_the_cached_session_too(owner, editor):
    key = signed_in_session_key(editor)
    assert SessionStore(session_key=key).load()  # cached now
    moderation.user_ban(user=editor, actor=owner, reason="spam")
    assert SessionStore(session_key=key).load() == {}
