"""authors.json: who owns each client id of a document (name and presence colour),
what the editor's "Authors" view colours the text with. It answers those who may
see the history: the owner and editors, viewers only where the owner allows it;
404 for those who may not see the document at all."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from django.test import Client

from collab.access import sharing
from collab.access.identity import color_for
from collab.history.authorship import author_for_user, claim
from collab.models import Document
from tests.conftest import guest_cookie, session_cookie
from tests.yclient import open_client


def authors_url(document) -> str:
    return f"/docs/{document.id}/authors.json"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def written(shared_document, owner, editor):
    """The shared document with client ids claimed by the owner (two tabs) and the editor."""
    claim(shared_document.id, [101, 102], author_for_user(owner))
    claim(shared_document.id, [202], author_for_user(editor))
    return shared_document


def test_the_owner_gets_the_name_and_colour_of_everyone_who_wrote(written, owner, editor):
    response = signed_in(owner).get(authors_url(written))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "101": {"name": "olivia", "color": color_for(f"user:{owner.pk}")[0]},
        "102": {"name": "olivia", "color": color_for(f"user:{owner.pk}")[0]},
        "202": {"name": "edith", "color": color_for(f"user:{editor.pk}")[0]},
    }


def test_an_editor_gets_the_authors_too(written, editor):
    response = signed_in(editor).get(authors_url(written))
    assert response.status_code == 200
    assert set(response.json()) == {"101", "102", "202"}


def test_a_viewer_is_refused_with_403_while_history_is_for_editors(written, viewer):
    response = signed_in(viewer).get(authors_url(written))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "history" in response.json()["error"]


def test_a_viewer_gets_the_authors_where_the_owner_shows_history_to_viewers(written, viewer):
    Document.objects.filter(pk=written.pk).update(history_for_viewers=True)
    response = signed_in(viewer).get(authors_url(written))
    assert response.status_code == 200
    assert response.json()["202"]["name"] == "edith"


def test_an_outsider_gets_404(written, outsider):
    response = signed_in(outsider).get(authors_url(written))
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


def test_a_visitor_not_signed_in_gets_404_not_a_login_page(written):
    response = Client().get(authors_url(written))
    assert response.status_code == 404


def test_an_unknown_document_is_404(owner):
    response = signed_in(owner).get("/docs/00000000-0000-0000-0000-000000000000/authors.json")
    assert response.status_code == 404


def test_only_get_is_answered(written, owner):
    assert signed_in(owner).post(authors_url(written)).status_code == 405


def test_a_new_document_has_no_authors(owner):
    document = Document.objects.create(owner=owner, title="Empty")
    assert signed_in(owner).get(authors_url(document)).json() == {}


# -- the editor page: the toggle and the History link where history is visible ---


def test_the_editor_page_offers_authors_and_history_to_the_owner_and_editors(shared_document, owner, editor):
    for user in (owner, editor):
        page = signed_in(user).get(f"/docs/{shared_document.id}/").content.decode()
        assert 'id="authors-toggle"' in page
        assert f'data-authors-url="/docs/{shared_document.id}/authors.json"' in page
        assert f'href="/docs/{shared_document.id}/history/">History</a>' in page


def test_the_editor_page_has_neither_for_a_viewer_unless_the_owner_allows_it(shared_document, viewer):
    page = signed_in(viewer).get(f"/docs/{shared_document.id}/").content.decode()
    assert 'id="authors-toggle"' not in page and "data-authors-url" not in page
    assert f"/docs/{shared_document.id}/history/" not in page
    Document.objects.filter(pk=shared_document.pk).update(history_for_viewers=True)
    page = signed_in(viewer).get(f"/docs/{shared_document.id}/").content.decode()
    assert 'id="authors-toggle"' in page
    assert f'href="/docs/{shared_document.id}/history/">History</a>' in page


# -- through a real worker: the server records who wrote, from the connection ------


def get_json(server, path: str, cookie: str) -> dict:
    request = urllib.request.Request(f"{server.url}{path}", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.processes
async def test_after_edits_through_sockets_each_client_id_names_its_writer(server, owner, editor):
    document = await asyncio.to_thread(Document.objects.create, owner=owner, title="Minutes")
    await asyncio.to_thread(sharing.membership_set, document=document, user=editor, role="editor")
    owner_cookie, editor_cookie = await asyncio.to_thread(lambda: (session_cookie(owner), session_cookie(editor)))
    olivia = await open_client(server, document, owner_cookie, "olivia")
    edith = await open_client(server, document, editor_cookie, "edith")
    try:
        olivia.insert(0, "Agenda. ")
        await edith.wait_for(lambda: edith.value() == "Agenda. ")
        edith.insert(8, "Budget.")
        await olivia.wait_for(lambda: olivia.value() == "Agenda. Budget.")
        authors = await asyncio.to_thread(get_json, server, authors_url(document), owner_cookie)
    finally:
        await olivia.close()
        await edith.close()
    assert authors == {
        str(olivia.client_id): {"name": "olivia", "color": color_for(f"user:{owner.pk}")[0]},
        str(edith.client_id): {"name": "edith", "color": color_for(f"user:{editor.pk}")[0]},
    }


@pytest.mark.processes
async def test_a_link_guest_who_writes_is_named_as_the_guest(server, owner):
    document = await asyncio.to_thread(Document.objects.create, owner=owner, title="Open notes")
    link = await asyncio.to_thread(
        sharing.link_create, document=document, role="editor", expires_at=None, created_by=owner
    )
    cookie = await asyncio.to_thread(guest_cookie, link.token, "Gus")
    owner_cookie = await asyncio.to_thread(session_cookie, owner)
    gus = await open_client(server, document, cookie, "gus")
    try:
        gus.insert(0, "Hello from a guest")
        deadline = asyncio.get_running_loop().time() + 10
        while not (authors := await asyncio.to_thread(get_json, server, authors_url(document), owner_cookie)):
            assert asyncio.get_running_loop().time() < deadline, "the guest's client id was never claimed"
            await asyncio.sleep(0.05)
    finally:
        await gus.close()
    assert list(authors) == [str(gus.client_id)]
    assert authors[str(gus.client_id)]["name"] == "Gus (guest)"
