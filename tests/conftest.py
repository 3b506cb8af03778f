from __future__ import annotations

import asyncio
import inspect
import os
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model

from tests.servers import RedisServer, Server

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["tests.hashers.FastPBKDF2PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_outage_on_record(monkeypatch):
    """Each test starts with no Redis outage on record in this process."""
    from collab.infra import outage

    monkeypatch.setattr(outage, "redis", outage.Outage("Redis"))


async def until(condition, timeout: float = 10.0) -> bool:
    """Whether `condition()` became true within `timeout` seconds (checked every 10 ms);
    `condition` may be a coroutine function."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await result if inspect.isawaitable(result := condition()) else result):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def make_user(username: str, *, staff: bool = False):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=staff)


@pytest.fixture
def owner(db):
    return make_user("olivia")


@pytest.fixture
def outsider(db):
    return make_user("oscar")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def cookie(owner):
    """A `Cookie` header of a signed-in session of the owner."""
    return session_cookie(owner)


@pytest.fixture(scope="session")
def spare_servers(django_db_setup):
    """Servers started ahead for the `server` fixture; closed before the test database goes."""
    spares: list[Server] = []
    yield spares
    for spare in spares:
        spare.close()


@pytest.fixture
def server(transactional_db, spare_servers):
    """One daphne process with the embedded defaults, sharing the test database.

    Each takes 2-3 s to start, mostly imports: the next test's is started while this
    one runs, at a low priority (when we may raise it again: as root) so that it takes
    from this test only the CPU it leaves idle. Idle, it holds nothing of the database.
    """
    running = spare_servers.pop() if spare_servers else None
    if running is None or running.proc.poll() is not None:  # none ready, or it died waiting
        running = Server().launch()
    try:
        running.ready()
        running.renice()
        spare_servers.append(Server().launch(nice=SPARE_NICE))
        yield running
    finally:
        running.close()


SPARE_NICE = 10 if os.geteuid() == 0 else 0


def session_cookie(user) -> str:
    """A `Cookie` header value for a signed-in session of `user`."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture(scope="session", autouse=True)
def _close_storage_threads(django_db_setup, django_db_blocker):
    """The storage threads keep connections open; close them before the test database is dropped."""
    yield
    from django.db import connection

    from collab.realtime import db

    db.shutdown()
    if connection.vendor == "postgresql":
        # Connections left in worker threads of finished event loops would keep the
        # test database from being dropped: end them.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connection.close()


@pytest.fixture
def fresh_channel_layer():
    """A new channel layer for each test (each test has its own event loop)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def redis_server():
    with RedisServer() as running:
        yield running


@contextmanager
def running_workers(redis_url: str, *, env: dict[str, str] | None = None, name: str = "worker"):
    """Two daphne processes sharing the test database and one Redis."""
    workers = [Server(redis_url=redis_url, env=env, log_name=f"{name}{i}") for i in (1, 2)]
    try:
        for worker in workers:
            worker.start()
        yield workers
    finally:
        for worker in workers:
            worker.close()


@pytest.fixture
def two_workers(transactional_db, redis_server):
    with running_workers(redis_server.url) as workers:
        yield workers


@pytest.fixture
def editor(db):
    return make_user("edith")


@pytest.fixture
def viewer(db):
    return make_user("victor")


@pytest.fixture
def shared_document(owner, editor, viewer):
    """A document of the owner's, shared with an editor and a viewer."""
    from collab.access import sharing
    from collab.models import Document

    document = Document.objects.create(owner=owner, title="Shared plans")
    sharing.membership_set(document=document, user=editor, role="editor")
    sharing.membership_set(document=document, user=viewer, role="viewer")
    document.refresh_from_db()
    return document


def guest_cookie(token: str, name: str = "Gus") -> str:
    """The cookie of an anonymous visitor who opened a share link and picked a name."""
    from django.test import Client

    client = Client()
    client.post(f"/s/{token}/", {"name": name})
    return f"sessionid={client.cookies['sessionid'].value}"


def ensure_moderator_group():
    """The group the data migration creates (transactional tests flush it away)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    spec = importlib.import_module("collab.migrations.0005_moderator_group")
    group, _ = Group.objects.get_or_create(name="moderator")
    history = [("collab", "version", "view_version"), ("collab", "version", "restore_version")]  # 0008_history
    group.permissions.set(
        Permission.objects.get(content_type__app_label=app, content_type__model=model, codename=codename)
        for app, model, codename in [*spec.MODERATOR_PERMISSIONS, *history]
    )
    return group


@pytest.fixture
def moderator(db):
    user = make_user("mona", staff=True)
    user.groups.add(ensure_moderator_group())
    return user


@pytest.fixture
def plain_staff(db):
    return make_user("stan", staff=True)


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` show as skipped, never as silent passes, on another database."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: DATABASE_URL=postgres://... (make test runs it when one answers)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
