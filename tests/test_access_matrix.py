"""Who may do what, generated from one table.

Every view that takes a document id must appear in ACTIONS (a test checks the
URL configuration), so a new view cannot be left out of the matrix.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone

from collab.access import documents, sharing
from collab.history import versions
from collab.models import Restore, Version
from collab.storage import persistence
from collab.yjs import protocol
from config.asgi import application
from tests.conftest import guest_cookie, session_cookie
from tests.helpers import an_update

PRINCIPALS = [
    "anonymous",
    "stranger",
    "viewer",
    "editor",
    "owner",
    "viewer link",
    "editor link",
    "expired link",
    "revoked link",
]

# Outcomes: "ok" (200), "done" (the change happened), "login" (sent to log in),
# "404" (hidden), "403" (seen but not allowed), "refused" (WebSocket handshake
# refused), "ignored" (connected, but the write changed nothing). "restore" and
# "purge" act on the document once it is in its owner's trash.
R, W = "read", "write"
EXPECTED = {
    #          page export rename-get rename delete-get delete share-get share report ws-connect ws-write
    #          restore purge history name-version restore-version authors(.json: 404 rather than a login page)
    #          export-formats (.html, .txt)
    "anonymous": ("login",) * 9 + ("refused", "refused") + ("login",) * 5 + ("404", "login"),
    "stranger": ("404",) * 9 + ("refused", "refused") + ("404",) * 5 + ("404", "404"),
    "viewer": ("ok", "ok", "403", "403", "403", "403", "403", "403", "done", "ok", "ignored", "404", "404")
    + ("403",) * 3
    + ("403", "ok"),
    "editor": ("ok", "ok", "403", "403", "403", "403", "403", "403", "done", "ok", "done", "404", "404")
    + ("ok", "done", "done")
    + ("ok", "ok"),
    "owner": ("ok", "ok", "ok", "done", "ok", "done", "ok", "done", "done", "ok", "done", "done", "done")
    + ("ok", "done", "done")
    + ("ok", "ok"),
    "viewer link": ("ok", "ok", "403", "403", "403", "403", "403", "403", "done", "ok", "ignored", "login", "login")
    + ("403",) * 3
    + ("403", "ok"),
    "editor link": ("ok", "ok", "403", "403", "403", "403", "403", "403", "done", "ok", "done", "login", "login")
    + ("ok", "done", "done")
    + ("ok", "ok"),
    "expired link": ("login",) * 9 + ("refused", "refused") + ("login",) * 5 + ("404", "login"),
    "revoked link": ("login",) * 9 + ("refused", "refused") + ("login",) * 5 + ("404", "login"),
}
ACTION_NAMES = [
    "page",
    "export",
    "rename-get",
    "rename",
    "delete-get",
    "delete",
    "share-get",
    "share",
    "report",
    "ws-connect",
    "ws-write",
    "restore",
    "purge",
    "history",
    "name-version",
    "restore-version",
    "authors",
    "export-formats",
]
# URL names each action covers; every URL with a document id must be here.
COVERED_URLS = {
    "document",
    "document_export",
    "document_rename",
    "document_delete",
    "document_share",
    "document_report",
    "trash_restore",
    "trash_delete",
    "document_history",
    "version",
    "version_changes",
    "version_export",
    "version_restore",
    "document_authors",
    "document_export_html",
    "document_export_txt",
}


def test_every_document_url_is_in_the_matrix():
    names = {
        pattern.name for pattern in get_resolver().url_patterns[1].url_patterns if "document_id" in str(pattern.pattern)
    }
    assert names == COVERED_URLS


def history_outcome(client, action: str, document) -> str:
    """The History pages, with a version of the document's (viewers are not let in)."""
    persistence.append(document.id, [an_update("First words")])
    version = versions.version_cut(document_id=document.id)
    base = f"/docs/{document.id}/history/"
    if action == "history":
        pages = ["", f"{version.id}/", f"{version.id}/?compare=current", f"{version.id}/changes.json"]
        outcomes = {http_outcome(client.get(base + page), False) for page in [*pages, f"{version.id}/export.md"]}
        assert len(outcomes) == 1, outcomes
        return outcomes.pop()
    if action == "name-version":
        response = client.post(base, {"name": "Milestone"})
        return http_outcome(response, Version.objects.filter(name="Milestone").exists())
    persistence.append(document.id, [an_update("Later words")])
    response = client.post(f"{base}{version.id}/restore/")
    return http_outcome(response, Restore.objects.filter(version=version).exists())


def http_outcome(response, changed: bool) -> str:
    if response.status_code == 302 and "/accounts/login/" in response["Location"]:
        return "login"
    if response.status_code in (403, 404):
        return str(response.status_code)
    if changed:
        return "done"
    assert response.status_code == 200, response.status_code
    return "ok"


async def ws_outcome(document_id, cookie: str | None, write: bool) -> str:
    headers = [(b"origin", b"http://127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    comm = WebsocketCommunicator(application, f"/ws/docs/{document_id}/", headers=headers)
    connected, _ = await comm.connect()
    if not connected:
        return "refused"
    try:
        if not write:
            return "ok"
        await comm.send_to(bytes_data=protocol.sync_update(an_update("written")))
        # A write comes back to its sender once stored; a refused one is answered
        # with the sender's rights, "read-only".
        while True:
            for message in protocol.decode_frame(await comm.receive_from(timeout=10), from_server=True):
                if message.type == protocol.MessageType.SYNC and message.step == protocol.SyncStep.UPDATE:
                    return "done" if "written" in await _stored(document_id) else "echoed but not stored"
                if message.type == protocol.MessageType.AUTH:
                    rights = json.loads(protocol.read_var_string(message.payload, 1)[0])
                    if rights["reason"] == "read-only":
                        return "ignored" if "written" not in await _stored(document_id) else "stored, then refused"
    finally:
        await comm.disconnect()


async def _stored(document_id):
    from channels.db import database_sync_to_async

    return await database_sync_to_async(persistence.document_text)(document_id)


@pytest.fixture
def cookies(shared_document, owner, editor, viewer, outsider):
    def link(role, **kwargs):
        return sharing.link_create(document=shared_document, role=role, created_by=owner, **kwargs)

    viewer_link, editor_link = link("viewer", expires_at=None), link("editor", expires_at=None)
    expired = link("editor", expires_at=timezone.now() + timedelta(seconds=30))
    revoked = link("editor", expires_at=None)
    result = {
        "anonymous": None,
        "stranger": session_cookie(outsider),
        "viewer": session_cookie(viewer),
        "editor": session_cookie(editor),
        "owner": session_cookie(owner),
        "viewer link": guest_cookie(viewer_link.token),
        "editor link": guest_cookie(editor_link.token),
        "expired link": guest_cookie(expired.token),
        "revoked link": guest_cookie(revoked.token),
    }
    # Open while valid, then let them die: the session still holds the token.
    type(expired).objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    sharing.link_revoke(link=revoked)
    return result


def client_with(cookie: str | None) -> Client:
    client = Client()
    if cookie:
        name, value = cookie.split("=", 1)
        client.cookies[name] = value
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("action", ACTION_NAMES)
def test_access_matrix(principal, action, shared_document, cookies, settings):
    expected = EXPECTED[principal][ACTION_NAMES.index(action)]
    cookie = cookies[principal]
    document = shared_document
    base = f"/docs/{document.id}/"
    if action.startswith("ws-"):
        outcome = async_to_sync(ws_outcome)(document.id, cookie, write=action == "ws-write")
        assert outcome == expected
        return
    client = client_with(cookie)
    if action == "page":
        response = client.get(base)
        outcome = http_outcome(response, False)
    elif action == "export":
        outcome = http_outcome(client.get(base + "export.md"), False)
    elif action == "export-formats":
        outcomes = {http_outcome(client.get(base + name), False) for name in ("export.html", "export.txt")}
        assert len(outcomes) == 1, outcomes
        outcome = outcomes.pop()
    elif action == "rename-get":
        outcome = http_outcome(client.get(base + "rename/"), False)
    elif action == "rename":
        response = client.post(base + "rename/", {"title": "Renamed"})
        document.refresh_from_db()
        outcome = http_outcome(response, document.title == "Renamed")
    elif action == "delete-get":
        outcome = http_outcome(client.get(base + "delete/"), False)
    elif action == "delete":
        response = client.post(base + "delete/")
        document.refresh_from_db()
        outcome = http_outcome(response, document.trashed_at is not None)
    elif action == "restore":
        documents.document_trash(document=document, actor=document.owner)
        response = client.post(f"/trash/{document.id}/restore/")
        document.refresh_from_db()
        outcome = http_outcome(response, document.trashed_at is None)
    elif action == "purge":
        documents.document_trash(document=document, actor=document.owner)
        response = client.post(f"/trash/{document.id}/delete/")
        outcome = http_outcome(response, not type(document).objects.filter(pk=document.pk).exists())
    elif action == "share-get":
        outcome = http_outcome(client.get(base + "share/"), False)
    elif action == "share":
        response = client.post(base + "share/", {"action": "create_link", "link-role": "editor", "link-expires": ""})
        outcome = http_outcome(response, document.share_links.count() == 5)
    elif action == "authors":
        outcome = http_outcome(client.get(base + "authors.json"), False)
    elif action in ("history", "name-version", "restore-version"):
        outcome = history_outcome(client, action, document)
    elif action == "report":
        response = client.post(base + "report/", {"reason": "spam"})
        outcome = http_outcome(response, document.reports.filter(reason="spam").exists())
    assert outcome == expected
