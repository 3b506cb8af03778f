"""The editor in the browser: CodeMirror bound to Yjs over y-websocket, against real daphne processes."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from collab.access import sharing
from collab.moderation import actions as moderation
from tests.browser import (
    SYNC_TIMEOUT,
    avatar,
    chromium,
    editor_content,
    export,
    make_document,
    named,
    open_editor,
    put_cursor,
    screenshot,
    signed_in_context,
    text_of,
    type_interleaved,
    wait_contains,
    wait_export,
    wait_saved,
    wait_synced,
    wait_text,
)
from tests.conftest import make_user, running_workers, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_two_people_type_at_once_and_converge_on_the_stored_text(server, owner, editor):
    document = make_document(owner, text="# Plan\n\nMiddle line.\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        expect(editor_content(page_a)).to_have_text("# PlanMiddle line.")  # one .cm-line per line

        put_cursor(page_a, "start")
        put_cursor(page_b, "end")
        type_interleaved(page_a, "Olivia was here. ", page_b, "Edith added this line.")

        for page in (page_a, page_b):
            wait_saved(page)
        expected = text_of(page_a)
        wait_text(page_b, expected)
        assert expected == "Olivia was here. # Plan\n\nMiddle line.\nEdith added this line."
        assert wait_export(server.url, cookie_a, document, expected) == expected
        for page in (page_a, page_b):
            expect(page.locator("#save-status")).to_have_text("Saved")
            expect(page.locator("#connection-status")).to_have_text("Connected")
        expect(page_a.locator("#preview")).to_contain_text("Edith added this line.")
        screenshot(page_a, "editor-two-people-a")
        screenshot(page_b, "editor-two-people-b")


SAMPLE = """# Launch checklist

We ship **version 2.0** on Friday. Everything below must be done by Thursday noon.

## Before the release

- [x] Freeze the feature branch
- [ ] Run the load test against staging
- [ ] Update the *changelog* and the docs
- [ ] Tell support which questions to expect

## Notes

> Keep the rollout gradual: 5 %, then 25 %, then everyone.

Contact `ops@example.com` if a step fails.
"""


def test_remote_cursor_presence_and_leaving(server, owner, editor):
    named(owner, "Olivia", "Hart")
    named(editor, "Edith", "Moreau")
    document = make_document(owner, title="Launch checklist", text=SAMPLE, share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)

        # A writes in the list; B selects a phrase further down.
        editor_content(page_a).get_by_text("Run the load test against staging").click()
        page_a.keyboard.press("End")
        page_a.keyboard.type(" (Olivia)")
        editor_content(page_b).get_by_text("Keep the rollout gradual").click()
        page_b.keyboard.press("Home")
        page_b.keyboard.press("Shift+End")

        # Each sees the other's cursor, labelled with the name, in the person's colour.
        expect(page_b.locator(".cm-ySelectionInfo", has_text="Olivia Hart")).to_be_visible()
        expect(page_a.locator(".cm-ySelectionInfo", has_text="Edith Moreau")).to_be_visible()
        expect(page_a.locator(".cm-ySelection").first).to_be_visible()  # B's selection, highlighted
        assert page_b.locator(".cm-ySelectionInfo").count() == 1  # not our own cursor

        # Each presence bar lists both, "you" marked, reachable by keyboard and named for screen readers.
        for page, me, other in ((page_a, "Olivia Hart", "Edith Moreau"), (page_b, "Edith Moreau", "Olivia Hart")):
            expect(page.locator('#presence [role="listitem"]')).to_have_count(2)
            expect(avatar(page, me)).to_have_attribute("title", f"{me} (you)")
            expect(avatar(page, other)).to_have_attribute("title", other)
            expect(avatar(page, other)).to_have_text(other[0] + other.split()[-1][0] + other)  # initials + hidden name
            expect(avatar(page, other)).to_have_attribute("tabindex", "0")
        expect(page_a.get_by_role("listitem", name="Edith Moreau")).to_be_visible()

        wait_text(page_b, text_of(page_a))
        screenshot(page_a, "editor-remote-cursor")

        # A closes the tab: B's bar drops A, and so does A's cursor (told on leaving,
        # well before an awareness state unrenewed for 30 s would expire).
        page_a.close()
        expect(avatar(page_b, "Olivia Hart")).to_have_count(0, timeout=SYNC_TIMEOUT)
        expect(page_b.locator(".cm-ySelectionInfo")).to_have_count(0, timeout=SYNC_TIMEOUT)
        expect(page_b.locator('#presence [role="listitem"]')).to_have_count(1)
        screenshot(page_b, "editor-after-leaving")


def test_offline_edits_merge_when_back(server, owner, editor):
    document = make_document(owner, text="first line\nsecond line\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        context_a, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)

        context_a.set_offline(True)
        page_a.wait_for_function("() => document.body.dataset.connection === 'offline'")
        expect(page_a.locator("#connection-status")).to_have_text("Offline")

        put_cursor(page_a, "start")
        page_a.keyboard.type("Written offline by A. ")
        put_cursor(page_b, "end")
        page_b.keyboard.type("Written online by B.")
        wait_saved(page_b)

        expect(page_a.locator("#save-status")).to_have_text("Offline – unsaved changes")
        assert "Written online by B." not in text_of(page_a)
        assert "Written offline by A." not in text_of(page_b)
        screenshot(page_a, "editor-offline")

        context_a.set_offline(False)
        wait_synced(page_a)
        for page in (page_a, page_b):
            wait_contains(page, "Written offline by A. ", "Written online by B.")
        wait_saved(page_a)
        expected = text_of(page_a)
        wait_text(page_b, expected)
        assert expected == "Written offline by A. first line\nsecond line\nWritten online by B."
        assert wait_export(server.url, cookie_a, document, expected) == expected
        expect(page_a.locator("#save-status")).to_have_text("Saved")
        screenshot(page_a, "editor-back-online")


def test_unsent_edits_survive_a_reload(server, owner):
    document = make_document(owner, text="Kept text.\n")
    cookie = session_cookie(owner)
    blocked = {"on": False}

    def route(ws):
        if blocked["on"]:
            ws.close(code=1011, reason="unreachable")
        else:
            ws.connect_to_server()

    with chromium() as browser:
        context = signed_in_context(browser, server.url, cookie)
        context.route_web_socket("**/ws/docs/**", route)
        page = context.new_page()
        page.goto(f"{server.url}/docs/{document.id}/")
        wait_synced(page)

        # The server becomes unreachable: the page retries with a countdown.
        blocked["on"] = True
        page.evaluate("() => window.collab.provider.ws.close()")
        page.wait_for_function("() => document.body.dataset.connection === 'reconnecting'")
        expect(page.locator("#connection-status")).to_contain_text("Reconnecting")
        put_cursor(page, "end")
        page.keyboard.type("Typed while the server was away.")
        expect(page.locator("#save-status")).to_have_text("Offline – unsaved changes")
        expect(page.locator("#connection-status")).to_have_text(re.compile(r"Reconnecting( in \d+ s)?"))
        screenshot(page, "editor-reconnecting")

        # A reload brings the unsent edit back from IndexedDB, before any connection.
        page.reload()
        page.wait_for_function(
            "() => window.collab && window.collab.text().includes('Typed while the server was away.')"
        )
        page.wait_for_function("() => document.body.dataset.saved === 'false'")
        assert export(server.url, cookie, document) == "Kept text.\n"

        # The server is back: "Retry now" connects at once, and the edit is stored.
        blocked["on"] = False
        page.wait_for_function("() => document.body.dataset.connection === 'reconnecting'")
        page.get_by_role("button", name="Retry now").click()
        wait_synced(page)
        wait_saved(page)
        assert wait_export(server.url, cookie, document, "Kept text.\nTyped while the server was away.") == (
            "Kept text.\nTyped while the server was away."
        )


XSS = """# Harmless title

<img src=x onerror="window.__xss=1">

<script>window.__xss=1</script>

[a link](javascript:window.__xss=1)

<a href="https://example.com/" onclick="window.__xss=1">plain link</a>
"""


def test_preview_renders_markdown_without_running_script(server, owner, editor):
    document = make_document(owner, text=XSS, share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        # The page's CSP would block inline handlers anyway; without it, only the
        # sanitiser stands between a document and the page, which is what we test.
        _, page = open_editor(browser, server.url, cookie_a, document, bypass_csp=True)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        toggle = page.get_by_role("button", name="Preview")
        preview = page.locator("#preview")
        if toggle.get_attribute("aria-pressed") != "true":
            toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "true")
        expect(preview.get_by_role("heading", name="Harmless title")).to_be_visible()

        # The image is there, without its handler; the script is gone; the links are defused.
        expect(preview.locator("img")).to_have_count(1)
        page.wait_for_function("() => document.querySelector('#preview img').complete")  # its error event has fired
        assert page.locator("#preview img").get_attribute("onerror") is None
        expect(preview.locator("script")).to_have_count(0)
        defused = preview.locator("a", has_text="a link")
        expect(defused).to_have_count(1)
        assert defused.get_attribute("href") is None  # a javascript: URL is dropped
        plain = preview.get_by_role("link", name="plain link")
        expect(plain).to_have_attribute("href", "https://example.com/")
        assert plain.get_attribute("onclick") is None
        defused.click()

        # Another person types a fresh attempt: the live preview stays inert too.
        put_cursor(page_b, "end")
        page_b.keyboard.type('\n<svg><g onload="window.__xss=2"></g></svg><iframe src="javascript:window.__xss=3">')
        page_b.keyboard.type("</iframe>\n\n**bold after**")
        expect(preview.locator("strong", has_text="bold after")).to_be_visible()
        expect(preview.locator("iframe")).to_have_count(0)
        assert page.evaluate("() => document.querySelectorAll('#preview [onload], #preview [onerror]').length") == 0
        assert page.evaluate("() => window.__xss") is None
        assert page_b.evaluate("() => window.__xss") is None

        # The toggle hides the preview and shows it again.
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#preview-pane")).to_be_hidden()
        toggle.click()
        expect(page.locator("#preview-pane")).to_be_visible()
        screenshot(page, "editor-preview-xss")


def test_two_workers_behind_redis(two_workers, owner, editor):
    worker1, worker2 = two_workers
    document = make_document(owner, text="Shared across workers.\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, worker1.url, cookie_a, document)
        _, page_b = open_editor(browser, worker2.url, cookie_b, document)
        expect(avatar(page_a, "edith")).to_have_count(1)  # awareness crosses too
        expect(avatar(page_b, "olivia")).to_have_count(1)

        put_cursor(page_a, "start")
        put_cursor(page_b, "end")
        type_interleaved(page_a, "From worker one. ", page_b, "From worker two.")
        for page in (page_a, page_b):
            wait_contains(page, "From worker one. ", "From worker two.")
            wait_saved(page)
        expected = text_of(page_a)
        wait_text(page_b, expected)
        assert expected == "From worker one. Shared across workers.\nFrom worker two."
        for worker in (worker1, worker2):
            assert wait_export(worker.url, cookie_a, document, expected) == expected
        expect(page_b.locator(".cm-ySelectionInfo", has_text="olivia")).to_be_visible()
        screenshot(page_b, "editor-two-workers")


def test_a_second_worker_joins_a_document_one_worker_had_alone(transactional_db, redis_server, owner, editor):
    """Worker one has the document to itself long enough to stop publishing; when
    the second worker opens it, what was typed meanwhile, the text typed after and
    both people's presence reach the other side. The workers' ticker is slowed to
    30 s so that its catch-up from the log cannot stand in for the relay."""
    from collab.realtime.replication import Replication

    document = make_document(owner, text="Alone at first.\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    workers = running_workers(redis_server.url, env={"COLLAB_RESYNC_INTERVAL": "30"}, name="browser")
    with workers as (worker1, worker2), chromium() as browser:
        _, page_a = open_editor(browser, worker1.url, cookie_a, document)
        time.sleep(Replication.ANNOUNCE_SECONDS + 0.5)
        put_cursor(page_a, "end")
        page_a.keyboard.type("Typed alone. ")
        wait_saved(page_a)
        _, page_b = open_editor(browser, worker2.url, cookie_b, document)
        wait_text(page_b, "Alone at first.\nTyped alone. ")
        expect(avatar(page_a, "edith")).to_have_count(1)
        expect(avatar(page_b, "olivia")).to_have_count(1)
        time.sleep(Replication.ANNOUNCE_SECONDS + 0.5)  # both rooms now publish only because they know of each other
        put_cursor(page_b, "start")
        page_b.keyboard.type("From worker two. ")
        wait_contains(page_a, "From worker two. ")
        page_a.keyboard.type("And one.")
        expected = "From worker two. Alone at first.\nTyped alone. And one."
        wait_text(page_b, expected)
        wait_text(page_a, expected)
        expect(page_a.locator(".cm-ySelectionInfo", has_text="edith")).to_be_visible()
        expect(page_b.locator(".cm-ySelectionInfo", has_text="olivia")).to_be_visible()
        screenshot(page_b, "editor-second-worker-joins")


def test_a_viewer_reads_live_but_cannot_change_anything(server, owner, viewer):
    document = make_document(owner, text="Read me.\n", share=[(viewer, "viewer")])
    cookie_a, cookie_v = session_cookie(owner), session_cookie(viewer)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_v = open_editor(browser, server.url, cookie_v, document)
        expect(page_v.locator("#view-only-badge")).to_be_visible()
        expect(page_v.locator("#view-only-badge")).to_have_text("View only")
        expect(page_a.locator("#view-only-badge")).to_be_hidden()
        expect(editor_content(page_v)).to_have_attribute("aria-readonly", "true")
        expect(editor_content(page_v)).to_have_attribute("contenteditable", "false")

        # Typing, pasting-by-keys, deleting and undo change nothing.
        editor_content(page_v).click()
        page_v.keyboard.press("Control+End")
        page_v.keyboard.type("viewer was here")
        page_v.keyboard.press("Backspace")
        page_v.keyboard.press("Control+z")
        assert text_of(page_v) == "Read me.\n"

        # The owner's edits appear live.
        put_cursor(page_a, "end")
        page_a.keyboard.type("Live from the owner.")
        wait_saved(page_a)
        wait_text(page_v, "Read me.\nLive from the owner.")
        assert wait_export(server.url, cookie_a, document, "Read me.\nLive from the owner.") == (
            "Read me.\nLive from the owner."
        )
        expect(page_v.locator("#save-status")).to_be_hidden()  # nothing of theirs to save
        expect(page_v.get_by_role("button", name="Rename")).to_have_count(0)
        expect(page_v.get_by_role("link", name="Share")).to_have_count(0)
        screenshot(page_v, "editor-viewer")


def test_rights_change_live(server, owner, viewer):
    """Promoted, the viewer's editor becomes writable without a reload; removed, the page stops."""
    document = make_document(owner, text="Draft.\n", share=[(viewer, "viewer")])
    cookie_a, cookie_v = session_cookie(owner), session_cookie(viewer)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_v = open_editor(browser, server.url, cookie_v, document)
        expect(page_v.locator("#view-only-badge")).to_be_visible()

        sharing.membership_set(document=document, user=viewer, role="editor")
        expect(page_v.locator("#view-only-badge")).to_be_hidden()
        expect(editor_content(page_v)).to_have_attribute("contenteditable", "true")
        put_cursor(page_v, "end")
        page_v.keyboard.type("Now an editor.")
        wait_text(page_a, "Draft.\nNow an editor.")

        sharing.membership_set(document=document, user=viewer, role="viewer")
        expect(page_v.locator("#view-only-badge")).to_be_visible()
        expect(editor_content(page_v)).to_have_attribute("contenteditable", "false")

        sharing.membership_remove(document=document, user=viewer)
        notice = page_v.locator("#connection-notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("You no longer have access to this document.")
        expect(page_v.locator("#connection-status")).to_have_text("Disconnected")
        assert page_v.evaluate("() => window.collab.provider.shouldConnect") is False
        assert page_v.evaluate("() => document.body.dataset.closeCode") == "4403"
        screenshot(page_v, "editor-access-removed")


def test_undo_only_undoes_your_own_change(server, owner, editor):
    document = make_document(owner, text="Base.\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)

        put_cursor(page_a, "start")
        page_a.keyboard.type("Alpha ")
        wait_contains(page_b, "Alpha ")
        put_cursor(page_b, "end")
        page_b.keyboard.type("Beta")
        wait_contains(page_a, "Beta")

        editor_content(page_a).focus()
        page_a.keyboard.press("Control+z")
        for page in (page_a, page_b):
            wait_text(page, "Base.\nBeta")
        page_a.keyboard.press("Control+Shift+Z")  # what a keyboard sends: Shift makes it "Z"
        for page in (page_a, page_b):
            wait_text(page, "Alpha Base.\nBeta")
        page_a.keyboard.press("Control+z")
        wait_saved(page_a)
        wait_text(page_b, "Base.\nBeta")
        assert wait_export(server.url, cookie_a, document, "Base.\nBeta") == "Base.\nBeta"
        screenshot(page_a, "editor-undo")


def test_a_moderator_lock_makes_the_editor_read_only_live(server, owner, editor):
    moderator = make_user("mona")
    document = make_document(owner, text="Open for edits.\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        expect(page_a.locator("#lock-banner")).to_be_hidden()

        moderation.document_lock(document=document, actor=moderator, reason="under review")
        for page in (page_a, page_b):
            expect(page.locator("#lock-banner")).to_be_visible()
            expect(page.locator("#lock-banner")).to_contain_text("Locked by a moderator")
            expect(page.locator("#view-only-badge")).to_be_visible()
            expect(editor_content(page)).to_have_attribute("contenteditable", "false")
        editor_content(page_a).click()
        page_a.keyboard.type("not while locked")
        assert text_of(page_a) == "Open for edits.\n"
        screenshot(page_a, "editor-locked")

        moderation.document_unlock(document=document, actor=moderator)
        for page in (page_a, page_b):
            expect(page.locator("#lock-banner")).to_be_hidden()
            expect(page.locator("#view-only-badge")).to_be_hidden()
            expect(editor_content(page)).to_have_attribute("contenteditable", "true")
        put_cursor(page_a, "end")
        page_a.keyboard.type("Unlocked again.")
        wait_text(page_b, "Open for edits.\nUnlocked again.")
        assert wait_export(server.url, cookie_a, document, "Open for edits.\nUnlocked again.") == (
            "Open for edits.\nUnlocked again."
        )


def test_the_page_stops_when_the_session_ends_the_account_is_banned_or_the_document_deleted(server, owner, editor):
    moderator = make_user("mona")
    viewer_user = make_user("vera")
    document = make_document(owner, text="Short-lived.\n", share=[(editor, "editor"), (viewer_user, "viewer")])
    cookie_a, cookie_b, cookie_v = session_cookie(owner), session_cookie(editor), session_cookie(viewer_user)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        context_v, page_v = open_editor(browser, server.url, cookie_v, document)

        # The viewer logs out in another tab: 4401, with a way back in.
        other_tab = context_v.new_page()
        other_tab.goto(f"{server.url}/")
        other_tab.get_by_role("button", name="Log out").click()
        notice_v = page_v.locator("#connection-notice")
        expect(notice_v).to_contain_text("Your session has ended.")
        expect(notice_v.get_by_role("link", name="Log in")).to_have_attribute(
            "href", f"/accounts/login/?next=%2Fdocs%2F{document.id}%2F"
        )
        assert page_v.evaluate("() => document.body.dataset.closeCode") == "4401"
        screenshot(page_v, "editor-session-ended")

        # The editor is banned: 4410.
        moderation.user_ban(user=editor, actor=moderator, reason="spam")
        expect(page_b.locator("#connection-notice")).to_contain_text("Your account has been disabled.")
        expect(editor_content(page_b)).to_have_attribute("contenteditable", "false")
        assert page_b.evaluate("() => document.body.dataset.closeCode") == "4410"

        # The document is deleted: 4404; the page stops trying.
        moderation.document_delete(document=document, actor=moderator, reason="spam")
        expect(page_a.locator("#connection-notice")).to_contain_text("This document has been deleted.")
        expect(page_a.locator("#connection-status")).to_have_text("Disconnected")
        expect(editor_content(page_a)).to_have_attribute("contenteditable", "false")
        for page in (page_a, page_b, page_v):
            assert page.evaluate("() => window.collab.provider.shouldConnect") is False
        screenshot(page_a, "editor-document-deleted")


def tab_to(page, selector: str, presses: int = 25) -> bool:
    """Press Tab until the focus is in `selector` (the editor's host counts for its shadow content)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return True
    return False


def test_renaming_keeps_the_editor_and_tab_reaches_the_presence_bar_and_the_text(server, owner):
    document = make_document(owner, title="Old name", text="Body.\n")
    cookie = session_cookie(owner)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie, document)
        expect(page).to_have_title("Old name · collab")
        page.evaluate("() => { window.__samePage = true }")

        title = page.get_by_label("Title")
        title.fill("Typo")
        title.press("Escape")  # Escape gives the old title back
        expect(title).to_have_value("Old name")
        title.fill("New name")
        title.press("Enter")
        expect(page).to_have_title("New name · collab")
        expect(page.locator("#doc-heading")).to_have_text("New name")
        assert page.evaluate("() => window.__samePage") is True  # renamed in the background, no reload

        # From the title, Tab reaches the presence bar and the editor, both labelled.
        title.focus()
        assert tab_to(page, "#presence .avatar"), "the presence bar is not reachable by keyboard"
        expect(page.locator("#presence .avatar:focus")).to_have_attribute("title", "olivia (you)")
        assert tab_to(page, "#editor"), "the editor is not reachable by keyboard"
        expect(page.get_by_role("textbox", name="Document text")).to_be_focused()
        page.keyboard.type("Typed after Tab. ")
        wait_saved(page)
        wait_contains(page, "Typed after Tab. ")
        screenshot(page, "editor-renamed")
    document.refresh_from_db()
    assert document.title == "New name"


def test_removed_while_offline_the_page_says_so_when_back(server, owner, viewer):
    """Back online, the handshake is refused (HTTP 403, no close code): the page asks itself why."""
    document = make_document(owner, text="Private plans.\n", share=[(viewer, "viewer")])
    cookie_v = session_cookie(viewer)
    with chromium() as browser:
        context_v, page_v = open_editor(browser, server.url, cookie_v, document)
        context_v.set_offline(True)
        page_v.wait_for_function("() => document.body.dataset.connection === 'offline'")
        sharing.membership_remove(document=document, user=viewer)
        context_v.set_offline(False)
        notice = page_v.locator("#connection-notice")
        expect(notice).to_contain_text("This document is not available any more.", timeout=SYNC_TIMEOUT)
        expect(page_v.locator("#connection-status")).to_have_text("Disconnected")
        expect(page_v.get_by_role("link", name="Export")).to_be_hidden()
        assert page_v.evaluate("() => window.collab.provider.shouldConnect") is False
        screenshot(page_v, "editor-gone-while-offline")


def test_a_moderator_locks_from_the_admin_while_someone_types(server, owner):
    from tests.conftest import ensure_moderator_group

    moderator = make_user("mona", staff=True)
    moderator.groups.add(ensure_moderator_group())
    document = make_document(owner, text="Draft\n")
    cookie_owner, cookie_mod = session_cookie(owner), session_cookie(moderator)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie_owner, document)
        admin = signed_in_context(browser, server.url, cookie_mod).new_page()
        admin.goto(f"{server.url}/admin/collab/document/{document.id}/change/")
        put_cursor(page, "end")
        page.keyboard.type("typing ", delay=20)
        admin.get_by_role("button", name="Lock").click()  # the moderator's click, mid-sentence
        expect(admin.get_by_role("button", name="Unlock")).to_be_visible()
        expect(page.locator("#lock-banner")).to_be_visible(timeout=SYNC_TIMEOUT)
        expect(page.locator("#lock-banner")).to_contain_text("Locked by a moderator")
        before = text_of(page)
        page.keyboard.type("more words", delay=10)
        assert text_of(page) == before  # input is no longer accepted
        screenshot(page, "editor-locked-from-admin")
        screenshot(admin, "admin-document-locked")
        stored = wait_export(server.url, cookie_owner, document, before)
        assert stored == before and "more words" not in stored
