"""The chat beside the document, the Mentions list and the moderators' deletions, in
headless Chromium: live between two people on two workers with the unread count, a
viewer without a composer, older messages on scroll, the owner's switch, a phone's
width and the dark scheme."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from playwright.sync_api import expect

from collab.discussion import service
from collab.history.authorship import author_for_user
from collab.models import AuditEntry, ChatMessage, Comment
from tests.browser import chromium, make_document, named, open_editor, screenshot, signed_in_context
from tests.conftest import ensure_moderator_group, make_user, session_cookie
from tests.test_browser_history import PHONE, luminance, page_width
from tests.test_discussion import received, say, talker

pytestmark = [pytest.mark.browser, pytest.mark.processes]

ANCHOR = {"start": {"tname": "content", "assoc": 0}, "end": {"tname": "content", "assoc": -1}}


def chat_of(page):
    return page.locator("#chat-list .chat-message")


def send(page, body: str) -> None:
    page.locator("#chat-input").fill(body)
    page.locator("#chat-input").press("Enter")


def stored_chat(document, author, *bodies: str) -> None:
    for body in bodies:
        service.chat_send(document_id=document.id, author=author_for_user(author), body=body)


def test_chat_is_live_between_two_people_on_two_workers_with_an_unread_count(two_workers, owner, editor):
    named(owner, "Olivia", "Park")
    document = make_document(owner, text="Plans\n", share=[(editor, "editor")])
    with chromium() as browser:
        _, olivia = open_editor(browser, two_workers[0].url, session_cookie(owner), document)
        _, edith = open_editor(browser, two_workers[1].url, session_cookie(editor), document)
        for page in (olivia, edith):
            expect(page.locator("#chat-toggle")).to_be_visible()
            expect(page.locator("#chat-panel")).to_be_hidden()
        olivia.locator("#chat-toggle").click()
        expect(olivia.locator("#chat-panel")).to_be_visible()
        expect(olivia.locator(".chat-empty")).to_be_visible()
        send(olivia, "Shall we <b>meet</b> at ten?")
        expect(chat_of(olivia)).to_have_count(1)
        expect(olivia.locator("#chat-input")).to_have_value("")
        # Edith's panel is closed: the toggle counts it, on the other worker.
        expect(edith.locator("#chat-unread")).to_have_text("1")
        expect(edith.locator("#chat-unread")).to_be_visible()
        send_twice = "A second line"
        olivia.locator("#chat-input").fill("Two lines")
        olivia.locator("#chat-input").press("Shift+Enter")
        olivia.locator("#chat-input").type(send_twice)
        expect(chat_of(olivia)).to_have_count(1)  # Shift+Enter is a new line, not a send
        olivia.locator("#chat-input").press("Enter")
        expect(edith.locator("#chat-unread")).to_have_text("2")
        edith.locator("#chat-toggle").click()
        expect(edith.locator("#chat-unread")).to_be_hidden()
        expect(edith.locator("#chat-toggle")).to_have_attribute("data-unread", "0")
        messages = chat_of(edith)
        expect(messages).to_have_count(2)
        first = messages.nth(0)
        expect(first.locator(".chat-author")).to_have_text("Olivia Park")
        expect(first.locator(".chat-body")).to_have_text("Shall we <b>meet</b> at ten?")  # as text, not HTML
        assert first.locator(".chat-body b").count() == 0
        expect(first.locator(".chat-time")).to_have_text("just now")
        expect(first.locator(".chat-chip")).to_have_text("OP")
        expect(messages.nth(1).locator(".chat-body")).to_have_text("Two lines\nA second line")
        send(edith, "Ten is fine")
        expect(chat_of(olivia)).to_have_count(3)
        expect(chat_of(olivia).nth(2).locator(".chat-body")).to_have_text("Ten is fine")
        expect(olivia.locator("#chat-unread")).to_be_hidden()  # open: nothing unread
        expect(chat_of(edith).nth(2)).to_have_class(re.compile(r"\bis-mine\b"))
        screenshot(edith, "chat-two-workers")
    assert list(ChatMessage.objects.values_list("body", flat=True)) == [
        "Shall we <b>meet</b> at ten?",
        "Two lines\nA second line",
        "Ten is fine",
    ]


def test_a_viewer_reads_the_chat_but_has_no_composer(server, owner, viewer):
    document = make_document(owner, share=[(viewer, "viewer")])
    stored_chat(document, owner, "Read this first")
    with chromium() as browser:
        _, page = open_editor(browser, server.url, session_cookie(viewer), document)
        page.locator("#chat-toggle").click()
        expect(chat_of(page)).to_have_count(1)
        expect(chat_of(page).locator(".chat-body")).to_have_text("Read this first")
        expect(page.locator("#chat-form")).to_be_hidden()
        # Its Report link opens the report form on that message.
        chat_of(page).get_by_role("link", name=re.compile("Report this message")).click()
        expect(page.locator(".reported-text")).to_have_text("Read this first")


def test_a_chat_message_over_the_limit_is_not_sent_and_the_page_says_by_how_much(server, owner):
    document = make_document(owner)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, session_cookie(owner), document)
        page.locator("#chat-toggle").click()
        box = page.locator("#chat-input")
        box.fill("m" * 2001)  # COLLAB_MAX_CHAT_CHARS is 2,000
        expect(page.locator("#chat-form .box-limit")).to_have_text("1 character too long (at most 2,000).")
        box.press("Enter")
        expect(box).to_have_value("m" * 2001)  # kept, whole
        box.press("Backspace")
        expect(page.locator("#chat-form .box-limit")).to_be_hidden()
        box.press("Enter")
        expect(chat_of(page)).to_have_count(1)
        assert ChatMessage.objects.get().body == "m" * 2000


def test_older_messages_load_when_the_list_is_scrolled_to_the_top(server, owner):
    document = make_document(owner)
    stored_chat(document, owner, *(f"message {i}" for i in range(120)))
    with chromium() as browser:
        _, page = open_editor(browser, server.url, session_cookie(owner), document)
        page.locator("#chat-toggle").click()
        expect(chat_of(page)).to_have_count(50)
        expect(chat_of(page).last.locator(".chat-body")).to_have_text("message 119")
        expect(page.locator("#chat-older")).to_be_visible()
        page.locator("#chat-list").evaluate("list => { list.scrollTop = 0; }")
        expect(chat_of(page)).to_have_count(100)
        page.locator("#chat-list").evaluate("list => { list.scrollTop = 0; }")
        expect(chat_of(page)).to_have_count(120)
        expect(chat_of(page).first.locator(".chat-body")).to_have_text("message 0")
        expect(page.locator("#chat-older")).to_be_hidden()
        bodies = chat_of(page).locator(".chat-body").all_text_contents()
        assert bodies == [f"message {i}" for i in range(120)]  # in order, none twice


def test_the_chat_disappears_for_a_connected_editor_when_the_owner_turns_it_off(server, owner, editor):
    document = make_document(owner, share=[(editor, "editor")])
    with chromium() as browser:
        _, edith = open_editor(browser, server.url, session_cookie(editor), document)
        edith.locator("#chat-toggle").click()
        expect(edith.locator("#chat-panel")).to_be_visible()
        share = signed_in_context(browser, server.url, session_cookie(owner)).new_page()
        share.goto(f"{server.url}/docs/{document.id}/share/")
        switches = share.locator("#discussion-settings")
        expect(switches.get_by_label("Allow chat")).to_be_checked()
        switches.get_by_label("Allow chat").uncheck()
        switches.get_by_role("button", name="Save").click()
        expect(share.locator(".messages")).to_contain_text("Allowed: comments.")
        expect(edith.locator("#chat-panel")).to_be_hidden(timeout=3000)
        expect(edith.locator("#chat-toggle")).to_be_hidden()
        share.locator("#discussion-settings").get_by_label("Allow chat").check()
        share.locator("#discussion-settings").get_by_role("button", name="Save").click()
        expect(edith.locator("#chat-toggle")).to_be_visible(timeout=3000)


def test_the_documents_page_lists_an_at_mention_and_leads_to_the_thread(server, owner, editor):
    document = make_document(owner, title="Budget", text="The budget\n", share=[(editor, "editor")])
    sent = service.thread_create(
        document_id=document.id,
        author=author_for_user(owner),
        anchor=ANCHOR,
        quote="budget",
        prefix="The ",
        suffix="",
        body="@edith can you check these numbers?",
    )
    with chromium() as browser:
        page = signed_in_context(browser, server.url, session_cookie(editor)).new_page()
        page.goto(f"{server.url}/")
        mentions = page.get_by_role("list", name="Mentions")
        expect(mentions.locator(".mention")).to_have_count(1)
        expect(mentions).to_contain_text("olivia mentioned you")
        expect(mentions).to_contain_text("@edith can you check these numbers?")
        mentions.get_by_role("link", name="Budget").click()
        expect(page).to_have_url(f"{server.url}/docs/{document.id}/#thread-{sent['thread']['id']}")


class LiveTalker:
    """A client that asked for extension messages, on an event loop of its own beside the browser's."""

    def __init__(self, server, document, user):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = self.run(talker(server, document, user, "live"))
        self.run(self.client.send(say({"type": "discussion.load"})))

    def run(self, coroutine, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def received(self, kind: str) -> list[dict]:
        return list(received(self.client, kind))

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_a_moderator_deletes_a_comment_and_a_chat_message_by_pressing_their_buttons(server, owner, editor):
    moderator = make_user("mona", staff=True)
    moderator.groups.add(ensure_moderator_group())
    document = make_document(owner, title="Plans", share=[(editor, "editor")])
    service.thread_create(
        document_id=document.id,
        author=author_for_user(editor),
        anchor=ANCHOR,
        quote="x",
        prefix="",
        suffix="",
        body="A rude comment",
    )
    stored_chat(document, editor, "A rude message", "A fine message")
    comment = Comment.objects.get()
    rude = ChatMessage.objects.get(body="A rude message")
    cookie, owner_cookie = session_cookie(moderator), session_cookie(owner)
    live = LiveTalker(server, document, owner)
    try:
        with chromium() as browser:
            _, olivia = open_editor(browser, server.url, owner_cookie, document)
            olivia.locator("#chat-toggle").click()
            expect(chat_of(olivia)).to_have_count(2)
            admin = signed_in_context(browser, server.url, cookie).new_page()
            admin.goto(f"{server.url}/admin/collab/document/{document.id}/change/")
            admin.get_by_role("link", name="Comments and chat").click()
            row = admin.locator(f"#comment-{comment.pk} form")
            row.get_by_placeholder("Reason (optional)").fill("insulting")
            row.get_by_role("button", name="Delete comment").click()
            expect(admin.locator(".messagelist")).to_contain_text("Deleted edith's comment")
            expect(admin.locator(f"#comment-{comment.pk}")).to_contain_text("Deleted by a moderator.")
            row = admin.locator(f"#chat-{rude.pk} form")
            row.get_by_placeholder("Reason (optional)").fill("spam")
            row.get_by_role("button", name="Delete message").click()
            expect(admin.locator(".messagelist")).to_contain_text("Deleted edith's chat message")
            screenshot(admin, "admin-comments-and-chat")
            # The open editor shows the message deleted, within a second or so.
            gone = chat_of(olivia).nth(0)
            expect(gone).to_have_class(re.compile(r"\bis-deleted\b"), timeout=3000)
            expect(gone.locator(".chat-body")).to_have_text("Message deleted by a moderator")
            expect(chat_of(olivia).nth(1).locator(".chat-body")).to_have_text("A fine message")
        removed = live.received("thread.removed")
        deleted = [m for m in live.received("chat.message") if m["message"]["deleted"]]
        assert [m["id"] for m in removed] == [comment.thread_id]
        assert [m["message"]["id"] for m in deleted] == [rude.pk]
    finally:
        live.close()
    entries = dict(AuditEntry.objects.values_list("action", "reason"))
    assert entries == {"delete comment in": "insulting", "delete chat message in": "spam"}
    assert AuditEntry.objects.get(action="delete comment in").actor_name == "mona"


def test_a_banned_accounts_messages_are_marked_in_the_chat(server, owner, editor):
    from collab.moderation import actions as moderation

    document = make_document(owner, share=[(editor, "editor")])
    stored_chat(document, editor, "Buy cheap things")
    moderation.user_ban(user=editor, actor=owner, reason="spam")
    with chromium() as browser:
        _, page = open_editor(browser, server.url, session_cookie(owner), document)
        page.locator("#chat-toggle").click()
        expect(chat_of(page).locator(".chat-banned")).to_have_text("banned")
        expect(chat_of(page).locator(".chat-body")).to_have_text("Buy cheap things")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_chat_and_the_documents_page_fit_a_phone_and_read_in_both_schemes(server, owner, editor, scheme):
    document = make_document(owner, title="A title " * 6, share=[(editor, "editor")])
    stored_chat(document, editor, "A long word: " + "x" * 200, "Hello")
    service.thread_create(
        document_id=document.id,
        author=author_for_user(editor),
        anchor=ANCHOR,
        quote="x",
        prefix="",
        suffix="",
        body="@olivia " + "y" * 300,
    )
    with chromium() as browser:
        options = {"viewport": PHONE, "color_scheme": scheme}
        _, page = open_editor(browser, server.url, session_cookie(owner), document, **options)
        page.locator("#chat-toggle").click()
        expect(chat_of(page)).to_have_count(2)
        assert page_width(page) <= PHONE["width"]
        box = page.locator("#chat-panel").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5
        expect(page.locator("#chat-input")).to_be_visible()
        body = chat_of(page).nth(1).locator(".chat-body")
        text = luminance(body.evaluate("e => getComputedStyle(e).color"))
        ground = luminance(page.locator("#chat-panel").evaluate("e => getComputedStyle(e).backgroundColor"))
        contrast = (max(text, ground) + 0.05) / (min(text, ground) + 0.05)
        assert contrast >= 7, contrast
        assert (ground < 0.1) == (scheme == "dark")
        screenshot(page, f"chat-phone-{scheme}")
        home = page.context.new_page()
        home.goto(f"{server.url}/")
        expect(home.get_by_role("list", name="Mentions").locator(".mention")).to_have_count(1)
        assert page_width(home) <= PHONE["width"]
        screenshot(home, f"mentions-phone-{scheme}")
