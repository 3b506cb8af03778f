"""Rights and limits enforced on the socket, in process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from collab.access import sharing
from collab.exceptions import CloseCode
from collab.yjs import protocol
from config.asgi import application
from tests.conftest import PASSWORD, session_cookie
from tests.helpers import an_update, stored
from tests.servers import ROOT
from tests.yclient import CommunicatorTransport, YClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


async def connect(document_id, cookie, name="client", query="") -> YClient:
    headers = (
        [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
        if cookie
        else [(b"origin", b"http://127.0.0.1")]
    )
    comm = WebsocketCommunicator(application, f"/ws/docs/{document_id}/{query}", headers=headers)
    connected, code = await comm.connect()
    assert connected, code
    return await YClient(CommunicatorTransport(comm), name=name).connect()


@pytest.fixture
def cookies(shared_document, owner, editor, viewer):
    return {"owner": session_cookie(owner), "editor": session_cookie(editor), "viewer": session_cookie(viewer)}


async def test_a_viewers_hand_made_updates_change_nothing(shared_document, cookies):
    owner = await connect(shared_document.id, cookies["owner"], "owner")
    owner.insert(0, "original")
    await owner.wait_for(lambda: owner.received_updates >= 1)
    viewer = await connect(shared_document.id, cookies["viewer"], "viewer")
    assert viewer.rights == {"role": "viewer", "canWrite": False, "reason": ""}
    await viewer.send(protocol.sync_update(an_update("vandal ")))
    await viewer.send(protocol.sync_step2(an_update("sneaky ")))
    await viewer.wait_for(lambda: viewer.rights["reason"] == "read-only")  # told, not closed
    await viewer.set_awareness({"cursor": None})
    await viewer.wait_for(lambda: viewer.client_id in viewer.present())  # frames are handled in order
    # Stored after anything the viewer's frames could have queued for the same commit.
    owner.insert(8, "!")
    await owner.wait_for(lambda: owner.received_updates >= 2)
    assert owner.value() == "original!"
    assert await stored(shared_document.id) == "original!"
    assert not viewer.closed.is_set()
    await viewer.wait_for(lambda: viewer.value() == "original!")  # live edits still reach the viewer
    await owner.close()
    await viewer.close()


async def test_a_share_link_in_the_query_string_connects_a_non_browser_client(shared_document, owner):
    link = await database_sync_to_async(sharing.link_create)(
        document=shared_document, role="editor", expires_at=None, created_by=owner
    )
    client = await connect(shared_document.id, None, "bot", query=f"?share={link.token}")
    client.insert(0, "from a bot")
    await client.wait_for(lambda: client.received_updates >= 1)
    assert await stored(shared_document.id) == "from a bot"
    await client.close()


async def test_rights_changes_reach_open_connections(shared_document, cookies, editor, settings):
    settings.COLLAB_RESYNC_INTERVAL = 0.1
    client = await connect(shared_document.id, cookies["editor"], "editor")
    await database_sync_to_async(sharing.membership_set)(document=shared_document, user=editor, role="viewer")
    await client.wait_for(lambda: client.rights == {"role": "viewer", "canWrite": False, "reason": ""})
    await database_sync_to_async(sharing.membership_remove)(document=shared_document, user=editor)
    assert await client.wait_closed(timeout=10) == CloseCode.FORBIDDEN


async def test_too_many_messages_close_with_4429(shared_document, cookies, settings):
    settings.COLLAB_RATE_MESSAGES = 5  # burst of 15
    client = await connect(shared_document.id, cookies["owner"], "spammer")
    for i in range(40):
        await client.set_awareness({"n": i})
    assert await client.wait_closed() == CloseCode.RATE_LIMITED


async def test_too_many_connections_per_user_close_with_4429(shared_document, cookies, settings):
    settings.COLLAB_MAX_CONNECTIONS_PER_USER = 2
    first = await connect(shared_document.id, cookies["owner"], "1")
    second = await connect(shared_document.id, cookies["owner"], "2")
    third = YClient(CommunicatorTransport(_communicator(shared_document.id, cookies["owner"])), name="3")
    await third.transport.communicator.connect()
    await third.connect(sync=False)
    assert await third.wait_closed() == CloseCode.RATE_LIMITED
    other = await connect(shared_document.id, cookies["editor"], "editor")  # someone else still may
    for client in (first, second, other):
        await client.close()


async def test_too_many_connections_per_document_close_with_4429(shared_document, cookies, settings):
    settings.COLLAB_MAX_CONNECTIONS_PER_DOCUMENT = 1
    first = await connect(shared_document.id, cookies["owner"], "1")
    late = YClient(CommunicatorTransport(_communicator(shared_document.id, cookies["editor"])), name="late")
    await late.transport.communicator.connect()
    await late.connect(sync=False)
    assert await late.wait_closed() == CloseCode.RATE_LIMITED
    await first.close()


def _communicator(document_id, cookie):
    return WebsocketCommunicator(
        application,
        f"/ws/docs/{document_id}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())],
    )


async def test_logging_out_closes_that_users_sockets(shared_document, editor, settings):
    settings.COLLAB_RESYNC_INTERVAL = 0.1
    http = Client()
    await database_sync_to_async(http.login)(username=editor.username, password=PASSWORD)
    cookie = f"sessionid={http.cookies['sessionid'].value}"
    client = await connect(shared_document.id, cookie, "editor")
    await database_sync_to_async(http.post)("/accounts/logout/")
    assert await client.wait_closed(timeout=10) == CloseCode.UNAUTHORIZED


async def test_a_password_change_closes_the_users_sockets(shared_document, cookies, editor, settings):
    settings.COLLAB_RESYNC_INTERVAL = 0.1
    client = await connect(shared_document.id, cookies["editor"], "editor")

    def change_password():
        editor.set_password("a whole new secret phrase")
        editor.save()

    await database_sync_to_async(change_password)()
    assert await client.wait_closed(timeout=10) == CloseCode.UNAUTHORIZED


async def test_a_handshake_let_in_on_an_account_read_before_a_change_is_closed(owner, settings, monkeypatch):
    """A handshake may take its account from the ticker's previous read, or read it
    just before a password change. The ticker checks every connection that joined
    since its last read against its next one, even when nothing else changed."""
    from collab.models import Document
    from collab.realtime.registry import get_registry
    from tests.conftest import until

    settings.COLLAB_RESYNC_INTERVAL = 0.1
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Watched")
    before, ended = [await database_sync_to_async(session_cookie)(owner) for _ in range(2)]
    first = await connect(document.id, before, "before")
    registry = get_registry()
    assert await until(lambda: owner.pk in registry.known_accounts())
    read_before = dict(registry.known_accounts())

    def change_password():
        owner.set_password("a whole new secret phrase")
        owner.save()

    await database_sync_to_async(change_password)()
    after = await connect(document.id, await database_sync_to_async(session_cookie)(owner), "after")
    # Closed by the tick that read the change: every later tick finds nothing changed.
    assert await first.wait_closed(timeout=10) == CloseCode.UNAUTHORIZED
    monkeypatch.setattr(registry, "known_accounts", lambda: read_before)
    late = await connect(document.id, ended, "late")  # let in on the account as it was
    assert await late.wait_closed(timeout=10) == CloseCode.UNAUTHORIZED
    assert not after.closed.is_set()
    await after.close()


def test_pages_carry_security_headers(client, owner):
    login = client.post("/accounts/login/", {"username": owner.username, "password": PASSWORD})
    session = login.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("style-src-attr")[0]  # only style attributes may be inline
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_production_settings_pass_the_deploy_check():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "production-like-secret-key-with-enough-entropy-0123456789",
        "HTTPS": "1",
        "ALLOWED_HOSTS": "docs.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
