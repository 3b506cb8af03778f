"""Comments in the editor, in headless Chromium: threads on a selection, replies, the
highlight following the text, detached threads, the commenter role, resolve, a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from collab.access import sharing
from collab.history import versions
from tests.browser import (
    chromium,
    editor_content,
    export,
    make_document,
    named,
    open_editor,
    screenshot,
    text_of,
    wait_contains,
    wait_saved,
    wait_text,
)
from tests.conftest import make_user, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]

TEXT = "The budget is far too small for a project of this size.\nSecond line.\n"
PHONE = {"width": 360, "height": 740}


# -- what a person does --------------------------------------------------------------


def move_to(page, offset: int):
    """Focus the editor and put the cursor `offset` characters into the first line, by keyboard."""
    editor_content(page).click()
    page.keyboard.press("Control+Home")
    for _ in range(offset):
        page.keyboard.press("ArrowRight")


def select(page, words: str):
    """Select `words` (on the first line) with the keyboard: Shift+Arrow over them."""
    move_to(page, text_of(page).index(words))
    for _ in range(len(words)):
        page.keyboard.press("Shift+ArrowRight")


def comment_on(page, words: str, body: str, *, via: str = "selection"):
    """Select `words`, press Comment (by the selection, in the top bar, or Ctrl+Alt+M), write
    `body`, send it; the stored thread's card."""
    select(page, words)
    if via == "shortcut":
        page.keyboard.press("Control+Alt+m")
    elif via == "top bar":
        page.locator("#comment-add").click()
    else:
        page.locator(".cm-comment-button").click()
    box = page.locator("#comment-composer-text")
    expect(box).to_be_focused()
    expect(page.locator("#comment-composer-quote")).to_have_text(words)
    box.fill(body)
    page.locator("#comment-composer button[type=submit]").click()
    expect(page.locator("#comment-composer")).to_be_hidden()
    card = thread_card(page, body)
    expect(card).to_have_count(1)
    # From now on found by its id: the text it is found by may change.
    return page.locator(f'.thread[data-thread-id="{card.get_attribute("data-thread-id")}"]')


def open_panel(page):
    if page.locator("#comments-toggle").get_attribute("aria-pressed") != "true":
        page.locator("#comments-toggle").click()
    expect(page.locator("#comments-pane")).to_be_visible()


def thread_card(page, text: str):
    return page.locator(".thread").filter(has_text=text)


# Each thread's highlighted text, in document order, without the remote cursors drawn inside it.
HIGHLIGHTS = """() => {
  const texts = new Map();
  for (const mark of document.getElementById("editor").shadowRoot.querySelectorAll(".cm-comment[data-thread]")) {
    const copy = mark.cloneNode(true);
    copy.querySelectorAll(".cm-ySelectionCaret, .cm-widgetBuffer").forEach((node) => node.remove());
    const id = mark.dataset.thread;
    texts.set(id, (texts.get(id) || "") + copy.textContent.replaceAll("\u2060", ""));
  }
  return [...texts.values()];
}"""


def highlights(page) -> list[str]:
    """The highlighted text of each thread in the editor."""
    return page.evaluate(HIGHLIGHTS)


def expect_highlights(page, expected: list[str], timeout: float = 10_000):
    """Wait until the editor highlights exactly `expected` (the marks are recomputed shortly after edits)."""
    deadline = page.evaluate("() => performance.now()") + timeout
    while True:
        seen = highlights(page)
        if seen == expected or page.evaluate("() => performance.now()") > deadline:
            break
        page.wait_for_timeout(100)
    assert seen == expected


def loaded(page):
    expect(page.locator("#comments-pane")).to_have_attribute("data-loaded", "true")


# -- tests -------------------------------------------------------------------------------


def test_two_people_comment_and_reply_and_see_each_others_threads_live_on_two_workers(two_workers, owner, editor):
    named(owner, "Olivia", "Owner")
    named(editor, "Edith", "Editor")
    document = make_document(owner, text=TEXT, share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, olivia = open_editor(browser, two_workers[0].url, cookies[0], document)
        _, edith = open_editor(browser, two_workers[1].url, cookies[1], document)
        loaded(edith)

        card = comment_on(olivia, "budget", "Which budget, @edith?")
        expect(card.locator(".thread-quote-text")).to_have_text("budget")
        expect(card.locator(".author-name")).to_have_text("Olivia Owner")
        expect(card.locator(".mention")).to_have_text("@edith")
        expect(card.locator("time")).to_have_text("just now")
        assert highlights(olivia) == ["budget"]

        # Edith's page, on the other worker: the count, the highlight, then the thread.
        expect(edith.locator("#comments-count")).to_have_text("1")
        expect_highlights(edith, ["budget"])
        edith.locator(".cm-comment").first.click()  # the highlight opens its thread in the panel
        theirs = thread_card(edith, "Which budget")
        theirs = edith.locator(f'.thread[data-thread-id="{theirs.get_attribute("data-thread-id")}"]')
        expect(theirs).to_have_class(re.compile(r"\bis-active\b"))
        chip = theirs.locator(".comment .chip").first
        assert chip.evaluate("(el) => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
        # Not hers to edit or delete; hers to answer.
        expect(theirs.locator(".comment-edit")).to_have_count(0)
        theirs.locator(".reply-form textarea").fill("The 2027 one, @olivia.")
        theirs.locator(".reply-form button[type=submit]").click()
        expect(theirs.locator(".comment")).to_have_count(2)
        expect(theirs.locator(".reply-form textarea")).to_have_value("")

        # Olivia sees the reply live, then edits her own comment (and only hers).
        expect(card.locator(".comment")).to_have_count(2)
        expect(card.locator(".comment").nth(1)).to_contain_text("The 2027 one")
        expect(card.locator(".comment").nth(1).locator(".mention")).to_have_text("@olivia")  # not the full stop
        screenshot(olivia, "comments-reply")
        expect(card.locator(".comment").nth(1).locator(".comment-edit")).to_have_count(0)
        card.locator(".comment").first.locator(".comment-edit").click()
        box = card.locator(".edit-form textarea")
        expect(box).to_be_focused()
        box.fill("Which budget exactly, @edith?")
        card.locator(".edit-form button[type=submit]").click()
        expect(card.locator(".comment").first.locator(".comment-body")).to_have_text("Which budget exactly, @edith?")
        expect(theirs.locator(".comment").first).to_contain_text("Which budget exactly")
        expect(theirs.locator(".comment").first.locator(".edited")).to_have_text("(edited)")

        # Edith deletes her reply: both pages say so, and keep the thread.
        mine = theirs.locator(".comment").nth(1)
        mine.locator(".comment-delete").click()
        mine.get_by_role("button", name="Delete").click()
        expect(theirs.locator(".comment").nth(1).locator(".comment-body")).to_have_text("Comment deleted")
        expect(card.locator(".comment").nth(1).locator(".comment-body")).to_have_text("Comment deleted")

        # A page that opens later gets every thread.
        _, late = open_editor(browser, two_workers[1].url, cookies[1], document)
        open_panel(late)
        expect(thread_card(late, "Which budget exactly")).to_have_count(1)
        expect_highlights(late, ["budget"])
        screenshot(olivia, "comments-two-people")


def test_the_highlight_covers_the_same_words_while_someone_types_around_and_inside_them(server, owner, editor):
    document = make_document(owner, text=TEXT, share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, olivia = open_editor(browser, server.url, cookies[0], document)
        _, edith = open_editor(browser, server.url, cookies[1], document)
        loaded(edith)
        comment_on(olivia, "far too small", "Say how small.")
        expect_highlights(edith, ["far too small"])

        # Edith types before the line, right before the words, inside them and right after them.
        move_to(edith, 0)
        edith.keyboard.type("Note: ")
        move_to(edith, text_of(edith).index("far"))
        edith.keyboard.type("much ")
        move_to(edith, text_of(edith).index("small"))
        edith.keyboard.type("very ")
        move_to(edith, text_of(edith).index("small") + len("small"))
        edith.keyboard.type(", sadly")
        expected = "Note: The budget is much far too very small, sadly for a project of this size.\nSecond line.\n"
        wait_text(edith, expected)
        wait_saved(edith)
        wait_text(olivia, expected)

        for page in (olivia, edith):
            expect_highlights(page, ["far too very small"])
        # Resolved from the anchors alone by a page that opens now.
        _, fresh = open_editor(browser, server.url, cookies[0], document)
        expect_highlights(fresh, ["far too very small"])
        screenshot(edith, "comments-highlight-follows")


def test_deleting_the_whole_commented_text_shows_the_thread_detached_with_its_quote(server, owner, editor):
    document = make_document(owner, text=TEXT, share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, olivia = open_editor(browser, server.url, cookies[0], document)
        _, edith = open_editor(browser, server.url, cookies[1], document)
        loaded(edith)
        card = comment_on(olivia, "budget ", "Too vague.")
        expect_highlights(edith, ["budget "])

        select(edith, "budget ")
        edith.keyboard.press("Backspace")
        wait_contains(olivia, "The is far too small")
        # Never dropped: shown with its quote and a label, no longer highlighted.
        expect(card.locator(".detached")).to_be_visible()
        expect(card.locator(".thread-quote-text")).to_have_text("budget")
        expect(card).to_have_class(re.compile(r"\bis-detached\b"))
        expect_highlights(olivia, [])
        expect(olivia.locator("#comments-count")).to_have_text("1")
        _, fresh = open_editor(browser, server.url, cookies[0], document)
        open_panel(fresh)
        expect(thread_card(fresh, "Too vague.").locator(".detached")).to_be_visible()
        screenshot(olivia, "comments-detached")


def test_restoring_a_version_that_brings_the_words_back_attaches_their_thread_again(server, owner, editor):
    document = make_document(owner, text=TEXT, share=[(editor, "editor")])
    versions.version_cut(document_id=document.id)  # the text as it was, kept as a version
    cookies = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        context, olivia = open_editor(browser, server.url, cookies[0], document)
        _, edith = open_editor(browser, server.url, cookies[1], document)
        loaded(edith)
        card = comment_on(olivia, "budget", "Which one?")
        expect_highlights(edith, ["budget"])
        select(edith, "budget ")
        edith.keyboard.press("Backspace")
        wait_saved(edith)
        expect(card.locator(".detached")).to_be_visible()

        history = context.new_page()
        history.goto(f"{server.url}/docs/{document.id}/history/")
        history.locator(".version-row").last.get_by_role("link", name="View").click()
        history.get_by_role("link", name="Restore this version").click()
        history.get_by_role("button", name="Restore").click()
        expect(history.locator(".messages")).to_contain_text("Restored the version of")

        for page in (olivia, edith):
            wait_text(page, TEXT)
            expect_highlights(page, ["budget"])
        expect(card.locator(".detached")).to_be_hidden()


def test_a_commenter_cannot_change_the_text_but_can_comment_and_a_viewer_only_reads(server, owner, viewer):
    carla = make_user("carla")
    document = make_document(owner, text=TEXT, share=[(viewer, "viewer")])
    sharing.membership_set(document=document, user=carla, role="commenter")
    cookies = session_cookie(owner), session_cookie(carla), session_cookie(viewer)
    with chromium() as browser:
        _, olivia = open_editor(browser, server.url, cookies[0], document)
        _, page = open_editor(browser, server.url, cookies[1], document)
        loaded(page)
        expect(page.locator("#view-only-badge")).to_be_visible()

        move_to(page, 4)
        page.keyboard.type("HACKED ")
        page.keyboard.press("Backspace")
        card = comment_on(page, "project", "Which project?", via="shortcut")
        expect(card.locator(".author-name")).to_have_text("carla")
        # The thread reaches the owner; the text did not change anywhere.
        expect(thread_card(olivia, "Which project?")).to_be_hidden()  # her panel is closed...
        expect(olivia.locator("#comments-count")).to_have_text("1")  # ...its count says so
        expect_highlights(olivia, ["project"])
        assert text_of(page) == TEXT and text_of(olivia) == TEXT
        assert export(server.url, cookies[0], document) == TEXT

        # A viewer reads the thread and cannot write in it.
        _, victor = open_editor(browser, server.url, cookies[2], document)
        loaded(victor)
        expect(victor.locator("#comment-add")).to_be_hidden()
        open_panel(victor)
        theirs = thread_card(victor, "Which project?")
        expect(theirs).to_have_count(1)
        expect(theirs.locator(".reply-form")).to_be_hidden()
        expect(theirs.locator(".thread-resolve")).to_be_hidden()
        select(victor, "budget")
        victor.keyboard.press("Control+Alt+m")
        expect(victor.locator("#comment-composer")).to_be_hidden()
        expect(victor.locator("#comments-error")).to_contain_text("not write them")


def test_resolving_hides_the_highlight_and_the_resolved_filter_shows_the_thread(server, owner, editor):
    document = make_document(owner, text=TEXT, share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, olivia = open_editor(browser, server.url, cookies[0], document)
        _, edith = open_editor(browser, server.url, cookies[1], document)
        loaded(edith)
        card = comment_on(olivia, "Second line", "Cut this line?")
        comment_on(olivia, "budget", "Which one?")
        open_panel(edith)
        # Document order: the first line's thread first.
        expect(edith.locator(".thread .thread-quote-text")).to_have_text(["budget", "Second line"])

        card.locator(".thread-resolve").click()
        expect(card).to_be_hidden()  # the Open filter
        expect_highlights(olivia, ["budget"])
        expect_highlights(edith, ["budget"])
        expect(edith.locator("#comments-count")).to_have_text("1")
        expect(edith.locator(".thread")).to_have_count(2)
        expect(thread_card(edith, "Cut this line?")).to_be_hidden()

        edith.locator('#comments-filter [data-filter="resolved"]').click()
        resolved = thread_card(edith, "Cut this line?")
        expect(resolved).to_be_visible()
        expect(resolved.locator(".resolved")).to_have_text(re.compile(r"Resolved by "))
        expect(thread_card(edith, "Which one?")).to_be_hidden()
        edith.locator('#comments-filter [data-filter="all"]').click()
        expect(edith.locator(".thread:visible")).to_have_count(2)

        # Reopened, it is highlighted again.
        resolved.locator(".thread-resolve").click()
        expect_highlights(olivia, ["budget", "Second line"])
        expect(resolved.locator(".resolved")).to_be_hidden()


def test_the_comments_panel_fits_a_phone_360_px_wide_in_the_dark_scheme(server, owner):
    document = make_document(owner, text=TEXT)
    cookie = session_cookie(owner)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie, document, viewport=PHONE, color_scheme="dark")
        loaded(page)
        card = comment_on(
            page, "far too small for a project", "A" * 120 + " and @someone with a long name " + "b" * 80, via="top bar"
        )
        expect(page.locator("#comments-pane")).to_be_visible()
        pane = page.locator("#comments-pane").bounding_box()
        assert pane["x"] >= 0 and pane["x"] + pane["width"] <= PHONE["width"]
        assert pane["width"] >= PHONE["width"] - 1  # a full-width sheet
        for part in (card, card.locator(".comment-body"), card.locator(".reply-form")):
            box = part.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], part
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate("() => document.getElementById('comments-pane').scrollWidth") <= PHONE["width"]
        dark = card.evaluate("(el) => getComputedStyle(el).backgroundColor")
        assert sum(int(c) for c in re.findall(r"\d+", dark)[:3]) < 3 * 60, dark
        screenshot(page, "comments-phone-dark")
        # The sheet closes and the text is there under it.
        page.locator("#comments-close").click()
        expect(page.locator("#comments-pane")).to_be_hidden()
        expect(page.locator("#comments-toggle")).to_be_focused()


def test_a_comment_over_the_limit_is_not_sent_the_page_says_by_how_much_and_keeps_it(server, owner):
    document = make_document(owner, text=TEXT)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, session_cookie(owner), document)
        loaded(page)
        select(page, "budget")
        page.locator(".cm-comment-button").click()
        too_long = "x" * 4999 + "🙂y"  # 5,001 characters as the server counts them
        box = page.locator("#comment-composer-text")
        box.fill(too_long)
        limit = page.locator("#comment-composer .box-limit")
        expect(limit).to_have_text("1 character too long (at most 5,000).")
        expect(box).to_have_attribute("aria-invalid", "true")
        page.locator("#comment-composer button[type=submit]").click()
        box.press("Control+Enter")
        expect(box).to_have_value(too_long)  # nothing cut off, nothing lost
        expect(page.locator("#comment-composer")).to_be_visible()
        # Shorter, it goes through, and the note goes away.
        box.fill("x" * 4999 + "🙂")
        expect(limit).to_be_hidden()
        page.locator("#comment-composer button[type=submit]").click()
        card = page.locator(".thread")
        expect(card).to_have_count(1)
        # A reply likewise.
        reply = card.locator("textarea.comment-box").first
        reply.fill("z" * 5003)
        expect(card.locator(".box-limit")).to_have_text("3 characters too long (at most 5,000).")
        card.locator(".reply-form button[type=submit]").click()
        expect(reply).to_have_value("z" * 5003)
        expect(card.locator(".comment")).to_have_count(1)
        expect(page.locator("#comments-error")).to_be_hidden()  # the server was never asked


def test_turning_comments_off_on_the_share_page_hides_them_live_and_on_again_shows_them(server, owner):
    document = make_document(owner, text=TEXT)
    cookie = session_cookie(owner)
    with chromium() as browser:
        context, page = open_editor(browser, server.url, cookie, document)
        loaded(page)
        comment_on(page, "budget", "Keep this?")
        share = context.new_page()
        share.goto(f"{server.url}/docs/{document.id}/share/")
        settings = share.locator("#discussion-settings")

        settings.get_by_label("Allow comments").uncheck()
        settings.get_by_role("button", name="Save").click()
        expect(page.locator("#comments-toggle")).to_be_hidden()
        expect(page.locator("#comments-pane")).to_be_hidden()
        expect_highlights(page, [])
        select(page, "project")
        expect(page.locator(".cm-comment-button")).to_have_count(0)

        share.goto(f"{server.url}/docs/{document.id}/share/")
        settings.get_by_label("Allow comments").check()
        settings.get_by_role("button", name="Save").click()
        expect(page.locator("#comments-toggle")).to_be_visible()
        expect(page.locator("#comments-count")).to_have_text("1")
        expect_highlights(page, ["budget"])


def test_a_page_that_was_offline_loads_the_threads_it_missed_when_it_reconnects(server, owner, editor):
    document = make_document(owner, text=TEXT, share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, olivia = open_editor(browser, server.url, cookies[0], document)
        offline, edith = open_editor(browser, server.url, cookies[1], document)
        loaded(edith)
        first = comment_on(olivia, "budget", "Before the outage.")
        expect(edith.locator("#comments-count")).to_have_text("1")

        offline.set_offline(True)
        edith.wait_for_function("() => document.body.dataset.connection === 'offline'")
        comment_on(olivia, "Second line", "During the outage.")
        first.locator(".thread-resolve").click()
        expect(olivia.locator("#comments-count")).to_have_text("1")
        expect(edith.locator("#comments-count")).to_have_text("1")  # still the old state
        expect_highlights(edith, ["budget"])

        offline.set_offline(False)
        open_panel(edith)
        expect(thread_card(edith, "During the outage.")).to_be_visible()
        expect(thread_card(edith, "Before the outage.")).to_be_hidden()  # resolved meanwhile
        expect_highlights(edith, ["Second line"])
