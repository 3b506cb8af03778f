"""Search over documents' titles and text (collab.access.search), as the documents page and the API use it."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from collab.access import documents
from collab.access.search import search_index
from collab.models import Document
from config.asgi import application
from tests.conftest import session_cookie, until
from tests.yclient import CommunicatorTransport, YClient


def found(user, search: str) -> list[str]:
    return sorted(d.title for d in documents.document_listing(user=user, search=search))


def test_storing_the_text_for_search_leaves_the_last_edit_time_alone(owner):
    document = documents.document_create(owner=owner, title="Plans")
    before = Document.objects.get(pk=document.pk).updated
    search_index({document.pk: "the harbour wall"})
    stored = Document.objects.get(pk=document.pk)
    assert stored.search_text == "the harbour wall" and stored.updated == before


def test_only_the_start_of_a_very_long_text_is_searched(owner, settings):
    settings.COLLAB_SEARCH_CHARS = 1000
    document = documents.document_create(owner=owner, title="Long")
    search_index({document.pk: "early " * 100 + "x" * 1000 + " lateword"})
    assert found(owner, "early") == ["Long"] and found(owner, "lateword") == []


def test_a_search_matches_titles_as_typed_and_text_holding_every_word(owner):
    for title, text in [("Roadmap", "ships in spring"), ("Budget", "costs of the harbour wall"), ("Notes", "")]:
        search_index({documents.document_create(owner=owner, title=title).pk: text})
    assert found(owner, "oadm") == ["Roadmap"]  # a title by any part
    assert found(owner, "harbour wall") == ["Budget"]
    assert found(owner, "harbour spring") == []  # every word, in one document
    assert found(owner, "HARBOUR") == ["Budget"]


@pytest.mark.postgres
def test_on_postgresql_words_match_by_their_start_and_query_syntax_is_plain_text(owner):
    search_index({documents.document_create(owner=owner, title="Plan").pk: "planning the lighthouse_keeper's rota"})
    assert found(owner, "lightho") == ["Plan"] and found(owner, "plann rot") == ["Plan"]
    assert found(owner, "keeper") == ["Plan"]  # "_" parts words, as PostgreSQL's parser does
    for typed in ["rota & !", "a:* | b", "(plan", "'", "!!", "<->", "planning:A"]:
        found(owner, typed)  # no syntax error reaches the page
    assert found(owner, "rota & !") == ["Plan"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_text_typed_in_a_room_is_found_within_seconds_and_all_of_it_once_the_room_closes(owner, settings):
    settings.COLLAB_RESYNC_INTERVAL = 0.1
    settings.COLLAB_SEARCH_INDEX_SECONDS = 0.3
    document = await database_sync_to_async(documents.document_create)(owner=owner, title="Log")
    cookie = await database_sync_to_async(session_cookie)(owner)
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    comm = WebsocketCommunicator(application, f"/ws/docs/{document.id}/", headers=headers)
    assert (await comm.connect())[0]
    page = await YClient(CommunicatorTransport(comm), name="page").connect()
    search = database_sync_to_async(found)

    async def stored_beyond(seq: int) -> bool:
        return (await database_sync_to_async(Document.objects.get)(pk=document.pk)).last_seq > seq

    page.insert(0, "Sighted the lighthouse")
    assert await until(lambda: search(owner, "lighthouse"), timeout=5)
    settings.COLLAB_SEARCH_INDEX_SECONDS = 3600  # from now on only the room's closing stores it
    seq = (await database_sync_to_async(Document.objects.get)(pk=document.pk)).last_seq
    page.insert(len("Sighted the lighthouse"), " and the harbour")
    assert await until(lambda: stored_beyond(seq), timeout=5)
    assert await search(owner, "harbour") == []
    await page.close()
    assert await until(lambda: search(owner, "harbour"), timeout=5)
