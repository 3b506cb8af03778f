"""Not losing work in the browser: the size limits, the way out of a refused change,
the warning before leaving unsaved changes, and Export as a download."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import (
    SYNC_TIMEOUT,
    chromium,
    editor_content,
    make_document,
    open_editor,
    put_cursor,
    screenshot,
    signed_in_context,
    text_of,
    wait_export,
    wait_saved,
    wait_synced,
)
from tests.conftest import session_cookie
from tests.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.processes]

MESSAGE_LIMIT = 100_000
DOCUMENT_LIMIT = 200_000
SMALL_LIMITS = {
    "COLLAB_MAX_MESSAGE_BYTES": str(MESSAGE_LIMIT),  # daphne's own cap: this plus 1 MiB
    "COLLAB_MAX_DOCUMENT_BYTES": str(DOCUMENT_LIMIT),
}


@pytest.fixture
def small_limits(transactional_db):
    with Server(env=SMALL_LIMITS, log_name="small-limits") as running:
        yield running


class Sockets:
    """The WebSockets a page opens and the largest frame it sent, seen from outside the page."""

    def __init__(self, page):
        self.opened = 0
        self.largest_sent = 0
        page.on("websocket", self._opened)

    def _opened(self, ws):
        self.opened += 1
        ws.on("framesent", self._sent)

    def _sent(self, payload):
        self.largest_sent = max(self.largest_sent, len(payload))


def paste(page, text: str):
    """`text` on the clipboard, then Ctrl+V in the editor (which has the focus)."""
    origin = page.evaluate("() => location.origin")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    page.keyboard.press("ControlOrMeta+V")


def drop(page, text: str):
    """Text dragged from elsewhere and dropped on the editor's first line."""
    page.evaluate(
        """text => {
          const data = new DataTransfer();
          data.setData("text/plain", text);
          const box = window.collab.view.contentDOM.querySelector(".cm-line").getBoundingClientRect();
          window.collab.view.contentDOM.dispatchEvent(new DragEvent("drop", {
            dataTransfer: data, bubbles: true, cancelable: true, clientX: box.left + 2, clientY: box.top + 2 }));
        }""",
        text,
    )


def insert_behind_the_editor(page, text: str):
    """A change made straight in the Y document, as an older page or another client would."""
    page.evaluate("text => { const t = window.collab.doc.getText('content'); t.insert(t.length, text) }", text)


def watched_editor(browser, server, cookie, document):
    """A signed-in editor page on `document`, synced, its WebSocket frames watched: (context, page, sockets)."""
    context = signed_in_context(browser, server.url, cookie)
    page = context.new_page()
    sockets = Sockets(page)
    page.goto(f"{server.url}/docs/{document.id}/")
    wait_synced(page)
    return context, page, sockets


def go_offline(context, page):
    context.set_offline(True)
    page.wait_for_function("() => document.body.dataset.connection === 'offline'")


def settle(page, seconds: float = 3.0):
    """Time for y-websocket's backoff (0.2 s, 0.4 s, ...) to have tried again several times, had it meant to."""
    page.wait_for_timeout(seconds * 1000)


def expect_way_out(page, title: str):
    notice = page.locator("#connection-notice")
    expect(notice).to_contain_text(title, timeout=SYNC_TIMEOUT)
    expect(notice.get_by_role("link", name="Download a copy of my text")).to_be_visible()
    expect(notice.get_by_role("button", name="Discard my unsaved changes and reload")).to_be_visible()
    expect(page.locator("#connection-status")).to_have_text("Disconnected")
    expect(editor_content(page)).to_have_attribute("contenteditable", "false")
    assert page.evaluate("() => window.collab.provider.shouldConnect") is False
    return notice


def download_copy(page, notice) -> tuple[str, str]:
    with page.expect_download() as info:
        notice.get_by_role("link", name="Download a copy of my text").click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def discard_and_reload(page, notice):
    with page.expect_navigation():
        notice.get_by_role("button", name="Discard my unsaved changes and reload").click()
    wait_synced(page)


# -- tests --------------------------------------------------------------------


def test_a_paste_or_drop_over_the_limits_is_refused_and_the_document_keeps_working(small_limits, owner):
    server = small_limits
    document = make_document(owner, text="Notes.\n")
    cookie = session_cookie(owner)
    with chromium() as browser:
        context, page, sockets = watched_editor(browser, server, cookie, document)
        put_cursor(page, "end")

        # Larger than one message may be: refused before it enters the document.
        paste(page, "p" * 150_000)
        notice = page.locator("#limit-notice")
        expect(notice).to_contain_text("This paste was not added.")
        expect(notice).to_contain_text("It is 147 KB, and one change can be at most 98 KB: add it in smaller parts.")
        assert text_of(page) == "Notes.\n"
        screenshot(page, "editor-paste-refused")
        notice.get_by_role("button", name="Dismiss").click()
        expect(notice).to_be_hidden()
        drop(page, "d" * 150_000)  # (the drop moves the cursor to where it was dropped)
        expect(notice).to_contain_text("This drop was not added.")
        assert text_of(page) == "Notes.\n"

        # Parts that fit go in, until the document itself would become too large.
        put_cursor(page, "end")
        parts = [letter * 60_000 for letter in "abc"]
        for part in parts:
            paste(page, part)
        wait_saved(page)
        paste(page, "z" * 60_000)
        expect(notice).to_contain_text("This paste was not added.")
        expect(notice).to_contain_text("and a document can be at most 196 KB.")
        assert "z" not in text_of(page)

        # The document keeps working: what is typed next is saved.
        page.keyboard.type(" The end.")
        wait_saved(page)
        expected = "Notes.\n" + "".join(parts) + " The end."
        assert text_of(page) == expected
        assert wait_export(server.url, cookie, document, expected) == expected
        expect(page.locator("#connection-status")).to_have_text("Connected")
        assert sockets.opened == 1
        assert sockets.largest_sent < MESSAGE_LIMIT


def test_a_local_copy_too_large_to_send_is_not_sent_and_can_be_kept_or_discarded(small_limits, owner):
    server = small_limits
    document = make_document(owner, title="Trip: plans", text="Server text.\n")
    cookie = session_cookie(owner)
    big = "b" * 150_000
    with chromium() as browser:
        context, page, sockets = watched_editor(browser, server, cookie, document)

        # Offline, a change larger than one message gets into the document (and IndexedDB).
        go_offline(context, page)
        insert_behind_the_editor(page, big)
        context.set_offline(False)

        # Back online, the page sees the answer to the server's sync step 1 is too large: it sends nothing.
        notice = expect_way_out(page, "The changes kept in this browser are too large to send.")
        expect(notice).to_contain_text("One change may be at most 98 KB and a document at most 196 KB.")
        assert page.evaluate("() => document.body.dataset.closeCode") == "413"
        assert sockets.opened == 2 and sockets.largest_sent < MESSAGE_LIMIT

        # After a reload the change comes back from IndexedDB, and the page stops again at once.
        sockets.opened = 0
        page.reload()
        notice = expect_way_out(page, "The changes kept in this browser are too large to send.")
        settle(page)
        assert sockets.opened == 1 and sockets.largest_sent < MESSAGE_LIMIT
        screenshot(page, "editor-local-copy-too-large")

        # Nothing is lost: a copy of the text in this browser, named after the title.
        name, content = download_copy(page, notice)
        assert name == "Trip plans (copy from this browser).md"
        assert content == "Server text.\n" + big

        # Discarding brings back the server's version, and editing goes on.
        discard_and_reload(page, notice)
        assert text_of(page) == "Server text.\n"
        expect(page.locator("#connection-notice")).to_be_hidden()
        put_cursor(page, "end")
        page.keyboard.type("Typed after discarding.")
        wait_saved(page)
        assert wait_export(server.url, cookie, document, "Server text.\nTyped after discarding.") == (
            "Server text.\nTyped after discarding."
        )


def test_a_change_the_server_refuses_as_too_large_stops_the_page(small_limits, owner):
    """4507: each message fits, the document would not."""
    server = small_limits
    document = make_document(owner, text="s" * 150_000)
    cookie = session_cookie(owner)
    with chromium() as browser:
        context, page, sockets = watched_editor(browser, server, cookie, document)
        go_offline(context, page)
        insert_behind_the_editor(page, "o" * 80_000)
        context.set_offline(False)

        notice = expect_way_out(
            page, "The server refused changes from this browser: the document would become too large."
        )
        assert page.evaluate("() => document.body.dataset.closeCode") == "4507"
        settle(page)
        assert sockets.opened == 2
        discard_and_reload(page, notice)
        assert text_of(page) == "s" * 150_000


def test_after_the_limits_were_lowered_the_page_stops_on_4413_and_on_a_dropped_connection(transactional_db, owner):
    """Pages opened before a restart with lower limits know the old ones: the server refuses
    what they send (4413), or daphne drops the connection over its own cap (1006, again and
    again, each connection opening first): the page stops after a few."""
    server = Server(log_name="lowered-limits")
    refused = make_document(owner, text="Refused.\n")
    dropped = make_document(owner, title="Dropped", text="Dropped.\n")
    cookie = session_cookie(owner)
    try:
        server.start()
        with chromium() as browser:
            context = signed_in_context(browser, server.url, cookie)
            pages = {}
            for document in (refused, dropped):
                page = context.new_page()
                pages[document.id] = (page, Sockets(page))
                page.goto(f"{server.url}/docs/{document.id}/")
                wait_synced(page)
            context.set_offline(True)
            for document, size in ((refused, 300_000), (dropped, 1_300_000)):
                page, _ = pages[document.id]
                page.wait_for_function("() => document.body.dataset.connection === 'offline'")
                insert_behind_the_editor(page, "x" * size)
            server.stop()
            server.env.update(SMALL_LIMITS)
            server.start()
            context.set_offline(False)

            page, sockets = pages[refused.id]
            expect_way_out(page, "The server refused a change from this browser: it is too large.")
            assert page.evaluate("() => document.body.dataset.closeCode") == "4413"

            page, sockets = pages[dropped.id]
            notice = expect_way_out(page, "The server keeps dropping the connection")
            expect(notice.get_by_role("button", name="Try again")).to_be_visible()
            assert page.evaluate("() => document.body.dataset.closeCode") == "dropped"
            settle(page)
            assert sockets.opened == 1 + 3  # the first visit, then three dropped
            screenshot(page, "editor-connection-keeps-dropping")
            assert pages[refused.id][1].opened == 2
    finally:
        server.close()


def test_leaving_with_unsaved_changes_asks_first(server, owner):
    document = make_document(owner, text="Draft.\n")
    cookie = session_cookie(owner)
    with chromium() as browser:
        context, page = open_editor(browser, server.url, cookie, document)
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))

        go_offline(context, page)
        put_cursor(page, "end")
        page.keyboard.type("Not on the server yet.")
        page.wait_for_function("() => document.body.dataset.saved === 'false'")
        with page.expect_event("dialog"):
            page.close(run_before_unload=True)
        assert dialogs == ["beforeunload"]
        assert page.evaluate("() => window.collab.text()") == "Draft.\nNot on the server yet."  # it stayed

        context.set_offline(False)
        wait_saved(page)
        with page.expect_event("close"):
            page.close(run_before_unload=True)
        assert dialogs == ["beforeunload"]  # saved: it closed without asking


def test_export_downloads_a_file_named_after_the_title_and_the_editor_stays(server, owner):
    document = make_document(owner, title="Café plans/2024: draft", text="# Menu\n\nCrêpes.\n")
    cookie = session_cookie(owner)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie, document)
        page.evaluate("() => { window.__samePage = true }")
        with page.expect_download() as info:
            page.get_by_role("link", name="Export").click()
        download = info.value
        assert download.suggested_filename == "Café plans 2024 draft.md"
        assert Path(download.path()).read_text(encoding="utf-8") == "# Menu\n\nCrêpes.\n"
        assert page.evaluate("() => window.__samePage") is True
        assert page.url == f"{server.url}/docs/{document.id}/"
        put_cursor(page, "end")
        page.keyboard.type("Still editing.")
        wait_saved(page)
