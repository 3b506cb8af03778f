"""A rename reaches every open page live, as an extension message only pages ask for."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from playwright.sync_api import expect

from collab.access import documents
from collab.access import rights as access
from collab.models import Document
from collab.yjs import protocol
from config.asgi import application
from tests.browser import chromium, make_document, open_editor, screenshot
from tests.conftest import session_cookie
from tests.yclient import CommunicatorTransport, YClient

Y_PROTOCOLS_TYPES = {protocol.MessageType.SYNC, protocol.MessageType.AWARENESS, protocol.MessageType.AUTH}


def test_the_ticker_reads_every_open_documents_title_in_one_query(owner):
    docs = [Document.objects.create(owner=owner, title=f"Doc {i}") for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        state = access.watch_state([d.id for d in docs], set(), set())
    assert len(queries) == 1
    assert state.titles == {str(d.id): d.title for d in docs}
    assert state.documents == {str(d.id): (0, d.rights_version) for d in docs}


def test_an_extension_message_is_a_type_outside_y_protocols_with_a_typed_json_body():
    frame = protocol.extension_frame({"type": "title", "title": "Plans · 2026"})
    assert frame[0] == 100 not in {0, 1, 2, 3}
    (message,) = protocol.decode_frame(frame, from_server=True)
    assert message.type == protocol.MessageType.EXTENSION
    assert message.payload.decode() == '{"type":"title","title":"Plans \\u00b7 2026"}'
    with pytest.raises(protocol.MalformedMessage):
        protocol.decode_frame(frame)  # a client may not send one: 4400


async def connect(document, cookie: str, *, query: str = "", name: str) -> YClient:
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    comm = WebsocketCommunicator(application, f"/ws/docs/{document.id}/{query}", headers=headers)
    connected, code = await comm.connect()
    assert connected, code
    return await YClient(CommunicatorTransport(comm), name=name).connect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_only_connections_that_asked_are_told_the_title_on_joining_and_on_renaming(owner, settings):
    settings.COLLAB_RESYNC_INTERVAL = 0.1
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Before")
    cookie = await database_sync_to_async(session_cookie)(owner)
    page = await connect(document, cookie, query="?ext=1", name="page")
    stock = await connect(document, cookie, name="stock")
    await page.wait_for(lambda: page.extensions == [{"type": "title", "title": "Before"}])
    late = await connect(document, cookie, query="?ext=1", name="late")
    assert late.extensions == [{"type": "title", "title": "Before"}]  # at once, with the sync step 1

    await database_sync_to_async(documents.document_rename)(document=document, title="After")
    for client in (page, late):
        await client.wait_for(lambda c=client: c.extensions[-1:] == [{"type": "title", "title": "After"}])
    page.insert(0, "edit after the rename")
    await stock.wait_for(lambda: stock.value() == "edit after the rename")
    assert stock.extensions == [] and stock.message_types <= Y_PROTOCOLS_TYPES
    assert not stock.closed.is_set()
    for client in (page, stock, late):
        await client.close()


@pytest.mark.processes
async def test_a_stock_client_on_another_worker_never_gets_an_extension_message(two_workers, owner):
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Before")
    cookie = await database_sync_to_async(session_cookie)(owner)
    url = f"/ws/docs/{document.id}/"
    one, two = two_workers

    async def client(worker, query, name):
        made = YClient.websocket(f"{worker.ws_url}{url}{query}", cookie=cookie, origin=worker.url, name=name)
        return await made.connect()

    page_one, page_two = await client(one, "?ext=1", "page one"), await client(two, "?ext=1", "page two")
    stock = await client(two, "", "stock")
    await database_sync_to_async(documents.document_rename)(document=document, title="After")
    for page in (page_one, page_two):
        await page.wait_for(lambda p=page: {"type": "title", "title": "After"} in p.extensions, timeout=10)
    page_one.insert(0, "typed on worker one")
    await stock.wait_for(lambda: stock.value() == "typed on worker one")
    await asyncio.sleep(1)  # nothing to wait for: two more ticks of the workers send it nothing either
    assert stock.message_types <= Y_PROTOCOLS_TYPES and stock.extensions == []
    assert not stock.closed.is_set()
    for made in (page_one, page_two, stock):
        await made.close()


@pytest.mark.browser
@pytest.mark.processes
def test_a_rename_shows_in_the_header_and_tab_of_everyone_on_every_worker(two_workers, owner, editor, viewer):
    worker1, worker2 = two_workers
    document = make_document(owner, title="Old name", text="Body.\n", share=[(editor, "editor"), (viewer, "viewer")])
    cookies = [session_cookie(user) for user in (owner, editor, viewer)]
    with chromium() as browser:
        _, owners_page = open_editor(browser, worker1.url, cookies[0], document)
        _, editors_page = open_editor(browser, worker2.url, cookies[1], document)
        _, viewers_page = open_editor(browser, worker1.url, cookies[2], document)
        errors = []
        for page in (owners_page, editors_page, viewers_page):
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            expect(page).to_have_title("Old name · collab")

        owners_page.get_by_label("Title").fill("New name")
        owners_page.get_by_role("button", name="Rename").click()

        for page in (editors_page, viewers_page):
            expect(page.locator("#doc-title-static")).to_have_text("New name", timeout=10_000)
            expect(page).to_have_title("New name · collab")
            expect(page.get_by_role("heading", name="New name")).to_have_count(1)
        expect(owners_page).to_have_title("New name · collab")
        expect(owners_page.get_by_label("Title")).to_have_value("New name")
        screenshot(editors_page, "title-live-other-worker")
        # y-websocket logs this for a message type it has no handler for.
        assert not [text for text in errors if "Unable to compute message" in text]
