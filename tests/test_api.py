"""The HTTP API (/api/v1/) as a program uses it: bearer tokens, scopes, the pages' rules."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from collab.access import sharing
from collab.api.tokens import PREFIX, digest_of, token_create, token_for, token_revoke
from collab.history import versions
from collab.models import ApiToken, Document
from collab.storage import persistence
from tests.conftest import session_cookie, until
from tests.helpers import an_update
from tests.yclient import open_client

ALL = ["documents:read", "documents:write", "members:write"]


def api(token: str | None = None) -> Client:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client(HTTP_HOST="127.0.0.1", **headers)


def bearer(user, scopes=ALL, **kwargs) -> str:
    return token_create(user=user, name="script", scopes=scopes, **kwargs)[1]


def test_a_token_is_kept_only_as_a_digest_and_its_last_four_characters(owner):
    token, raw = token_create(user=owner, name="CI", scopes=["documents:read"])
    assert raw.startswith(PREFIX) and len(raw) > len(PREFIX) + 40
    stored = ApiToken.objects.values()[0]
    assert raw not in json.dumps(stored, default=str)
    assert stored["digest"] == digest_of(raw) and stored["last4"] == raw[-4:]
    assert token_for(raw).pk == token.pk and token_for(raw).last_used_at is not None
    token_revoke(token=token)
    assert token_for(raw) is None


def test_missing_bad_expired_and_revoked_tokens_get_401_with_a_json_reason(owner):
    expired = bearer(owner, expires_at=timezone.now() - timedelta(seconds=1))
    revoked_token, revoked = token_create(user=owner, name="old", scopes=ALL)
    token_revoke(token=revoked_token)
    for token in (None, "collab_pat_nonsense", "not-even-ours", expired, revoked):
        response = api(token).get("/api/v1/documents")
        assert response.status_code == 401 and response.json() == {"detail": "Unauthorized"}
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)  # a banned account's tokens stop
    assert api(bearer(owner)).get("/api/v1/documents").status_code == 401


def test_a_token_does_what_its_owner_may_within_its_scopes(shared_document, owner, editor, viewer, outsider):
    url = f"/api/v1/documents/{shared_document.id}"
    read_only = api(bearer(editor, ["documents:read"]))
    assert read_only.get(url).json()["role"] == "editor"
    assert read_only.put(f"{url}/content", "x", content_type="text/markdown").status_code == 403
    assert (
        "documents:write" in read_only.post("/api/v1/documents", {}, content_type="application/json").json()["detail"]
    )
    # The viewer's token has every scope, and the viewer's role still decides.
    as_viewer = api(bearer(viewer))
    assert as_viewer.get(f"{url}/content").status_code == 200
    assert as_viewer.put(f"{url}/content", "x", content_type="text/markdown").status_code == 403
    assert as_viewer.get(f"{url}/versions").status_code == 403  # history is the editors'
    as_editor = api(bearer(editor))
    assert as_editor.patch(url, {"title": "Mine"}, content_type="application/json").status_code == 403  # owner only
    assert as_editor.get(f"{url}/members").status_code == 403
    assert as_editor.delete(url).status_code == 403
    as_outsider = api(bearer(outsider))
    assert as_outsider.get(url).status_code == 404 and as_outsider.get(f"{url}/content").status_code == 404
    assert api(bearer(owner)).get("/api/v1/documents/00000000-0000-0000-0000-000000000000").status_code == 404


def test_documents_are_created_listed_searched_renamed_and_trashed(owner, editor, shared_document):
    client = api(bearer(owner))
    made = client.post(
        "/api/v1/documents",
        {"title": "From a script", "content": "# Report\n\nAll good."},
        content_type="application/json",
    )
    assert made.status_code == 201 and made.json()["role"] == "owner"
    document_id = made.json()["id"]
    assert client.get(f"/api/v1/documents/{document_id}/content").content.decode() == "# Report\n\nAll good."
    listed = client.get("/api/v1/documents").json()
    assert {d["title"] for d in listed["items"]} == {"From a script", "Shared plans"} and listed["count"] == 2
    assert [d["title"] for d in client.get("/api/v1/documents?q=script").json()["items"]] == ["From a script"]
    # The text too, as the documents page searches it, at once after the API's write.
    assert [d["title"] for d in client.get("/api/v1/documents?q=good").json()["items"]] == ["From a script"]
    assert not Document.objects.get(pk=document_id).title_follows_heading  # its title was given
    untitled = client.post("/api/v1/documents", {"content": "# Plans\n"}, content_type="application/json").json()
    assert untitled["title"] == "Plans" and Document.objects.get(pk=untitled["id"]).title_follows_heading
    client.delete(f"/api/v1/documents/{untitled['id']}")
    assert [d["title"] for d in client.get("/api/v1/documents?show=shared").json()["items"]] == []
    assert [d["title"] for d in client.get("/api/v1/documents?sort=title").json()["items"]] == [
        "From a script",
        "Shared plans",
    ]
    assert [d["role"] for d in api(bearer(editor)).get("/api/v1/documents").json()["items"]] == ["editor"]
    renamed = client.patch(f"/api/v1/documents/{document_id}", {"title": "Weekly"}, content_type="application/json")
    assert renamed.json()["title"] == "Weekly"
    assert client.delete(f"/api/v1/documents/{document_id}").status_code == 204
    assert Document.objects.get(pk=document_id).trashed_at is not None
    assert client.get(f"/api/v1/documents/{document_id}").status_code == 404


def test_content_is_replaced_and_appended_within_the_limits(owner, shared_document, settings):
    client = api(bearer(owner))
    url = f"/api/v1/documents/{shared_document.id}/content"
    assert client.put(url, "First line\n", content_type="text/markdown").json()["changed"]
    assert client.post(url, "Second line\n", content_type="text/markdown").json()["changed"]
    assert persistence.document_text(shared_document.id) == "First line\nSecond line\n"
    assert client.put(url, "First line\nSecond line\n", content_type="text/markdown").json() == {
        "changed": False,
        "seq": None,
    }
    assert client.put(url, b"\xff\xfe", content_type="text/markdown").status_code == 400
    # If-Match: write only over the text that was read.
    etag = client.get(url)["ETag"]
    persistence.append(shared_document.id, [an_update("Someone typed. ")])
    stale = client.put(url, "Mine\n", content_type="text/markdown", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412 and "Someone typed" in persistence.document_text(shared_document.id)
    fresh = client.put(url, "Mine\n", content_type="text/markdown", HTTP_IF_MATCH=client.get(url)["ETag"])
    assert fresh.json()["changed"] and persistence.document_text(shared_document.id) == "Mine\n"
    settings.COLLAB_MAX_DOCUMENT_BYTES = 100
    too_big = client.post(url, "x" * 99, content_type="text/markdown")  # 5 bytes there already
    assert too_big.status_code == 413 and "COLLAB_MAX_DOCUMENT_BYTES" in too_big.json()["detail"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    over = client.put(url, "y" * 300, content_type="text/markdown")
    assert over.status_code == 413 and "request body" in over.json()["detail"]
    Document.objects.filter(pk=shared_document.pk).update(locked=True)
    assert client.put(url, "x", content_type="text/markdown").status_code == 423


def test_members_and_links_are_the_owners_to_change(owner, editor, viewer, shared_document):
    client = api(bearer(owner))
    base = f"/api/v1/documents/{shared_document.id}"
    assert {m["username"]: m["role"] for m in client.get(f"{base}/members").json()} == {
        "edith": "editor",
        "victor": "viewer",
    }
    changed = client.put(f"{base}/members/victor", {"role": "commenter"}, content_type="application/json")
    assert changed.json()["role"] == "commenter"
    assert client.put(f"{base}/members/victor", {"role": "boss"}, content_type="application/json").status_code == 422
    assert client.put(f"{base}/members/nobody", {"role": "viewer"}, content_type="application/json").status_code == 404
    assert client.delete(f"{base}/members/victor").status_code == 204
    link = client.post(f"{base}/links", {"role": "viewer"}, content_type="application/json")
    assert link.status_code == 201 and "/s/" in link.json()["url"]
    assert client.delete(f"{base}/links/{link.json()['id']}").status_code == 204
    assert client.get(f"{base}/links").json()[0]["revoked"]
    no_scope = api(bearer(owner, ["documents:read", "documents:write"]))
    assert no_scope.delete(f"{base}/members/edith").status_code == 403
    sharing.membership_set(document=shared_document, user=viewer, role="viewer")


def test_versions_are_listed_and_read_by_those_who_see_history(owner, shared_document):
    persistence.append(shared_document.id, [an_update("Version one")])
    version = versions.version_cut(document_id=shared_document.id)
    client = api(bearer(owner))
    listed = client.get(f"/api/v1/documents/{shared_document.id}/versions").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == version.pk
    assert client.get(f"/api/v1/documents/{shared_document.id}/versions/{version.pk}").json()["text"] == "Version one"
    assert client.get(f"/api/v1/documents/{shared_document.id}/versions/999999").status_code == 404


def test_too_many_requests_get_429_with_retry_after(owner, settings):
    from collab.api import urls

    throttle = urls.api.throttle[0]
    rate = throttle.rate
    throttle.rate = "3/m"
    throttle.num_requests, throttle.duration = throttle.parse_rate("3/m")
    try:
        client = api(bearer(owner))
        codes = [client.get("/api/v1/documents") for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1]["Retry-After"]) > 0
    finally:
        throttle.rate = rate
        throttle.num_requests, throttle.duration = throttle.parse_rate(rate)


def test_the_schema_and_the_interactive_docs_are_served(db):
    schema = Client(HTTP_HOST="127.0.0.1").get("/api/v1/openapi.json").json()
    assert "/api/v1/documents/{document_id}/content" in schema["paths"]
    assert Client(HTTP_HOST="127.0.0.1").get("/api/v1/docs").status_code == 200


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
async def test_a_put_reaches_editors_on_both_workers_and_keeps_a_concurrent_typists_text(two_workers, owner, editor):
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Live")
    await database_sync_to_async(sharing.membership_set)(document=document, user=editor, role="editor")
    typist = await open_client(two_workers[0], document, await database_sync_to_async(session_cookie)(editor), "t")
    watcher = await open_client(two_workers[1], document, await database_sync_to_async(session_cookie)(owner), "w")
    typist.insert(0, "Intro.\n")
    await watcher.wait_for(lambda: watcher.value() == "Intro.\n")
    token = await database_sync_to_async(bearer)(owner)
    stop = time.monotonic() + 2
    typed: list[tuple[str, float]] = []
    window = []  # from the script's read of the text to the end of its PUT

    async def type_along():
        n = 0
        while time.monotonic() < stop:
            token_text = f"[{n}]"
            typist.insert(len(typist.text), token_text)
            typed.append((token_text, time.monotonic()))
            n += 1
            await asyncio.sleep(0.03)

    async def put_midway():
        await asyncio.sleep(0.8)
        window.append(time.monotonic())
        current = await database_sync_to_async(persistence.document_text)(document.id)
        response = await database_sync_to_async(api(token).put)(
            f"/api/v1/documents/{document.id}/content",
            current.replace("Intro.", "Introduction, rewritten by a script."),
            content_type="text/markdown",
        )
        assert response.json()["changed"]
        window.append(time.monotonic())

    await asyncio.gather(type_along(), put_midway())

    async def agreed():
        stored = await database_sync_to_async(persistence.document_text)(document.id)
        return typist.value() == watcher.value() == stored

    assert await until(agreed, 15)
    final = watcher.value()
    assert final.startswith("Introduction, rewritten by a script.\n")
    # What was typed before the script read the text is in what it wrote back, and what
    # was typed after its PUT is kept; in between, a PUT replaces the text, as PUT does
    # (a script that must not overwrite sends If-Match, or appends with POST).
    kept = [t for t, at in typed if at < window[0] - 0.2 or at > window[1]]
    assert kept and all(token_text in final for token_text in kept)
    for client in (typist, watcher):
        await client.close()
