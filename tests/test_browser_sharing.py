"""The owner on the Share page, in headless Chromium, pressing its buttons; the effect
is checked on the other people's open pages, served by a real `manage.py serve` worker."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from collab.models import Document, Membership
from tests.browser import (
    chromium,
    editor_content,
    local_copy,
    make_document,
    open_editor,
    put_cursor,
    screenshot,
    signed_in_context,
    text_of,
    wait_local_copy_deleted,
    wait_saved,
    wait_synced,
    wait_text,
)
from tests.conftest import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; each test opens contexts of its own and closes them."""
    with chromium() as running:
        yield running


@pytest.fixture
def pages(browser, server):
    """Opens pages of `server`: `pages.editor(cookie, document)`, `pages.share(cookie, document)`."""
    opened = Pages(browser, server.url)
    yield opened
    opened.close()


class Pages:
    def __init__(self, browser, url: str):
        self.browser, self.url, self.contexts = browser, url, []

    def context(self, cookie: str = ""):
        context = signed_in_context(self.browser, self.url, cookie) if cookie else self.browser.new_context()
        self.contexts.append(context)
        return context

    def editor(self, cookie: str, document):
        """The document's page, connected and synced."""
        context, page = open_editor(self.browser, self.url, cookie, document)
        self.contexts.append(context)
        return page

    def share(self, cookie: str, document):
        page = self.context(cookie).new_page()
        page.goto(f"{self.url}/docs/{document.id}/share/")
        return page

    def close(self):
        for context in self.contexts:
            context.close()


def section(page, heading: str):
    """The card of the Share page under `heading` (People, Links, Transfer ownership)."""
    return page.locator("section", has=page.get_by_role("heading", name=heading, exact=True))


def person_row(page, username: str):
    return section(page, "People").locator("li.person", has_text=username)


def told(page, text: str):
    """The page, after a button, says `text` in its messages."""
    expect(page.locator(".messages")).to_contain_text(text)


def type_at_end(page, text: str):
    """Type `text` at the end in one input (one update, so it can be found in the local copy)."""
    put_cursor(page, "end")
    page.keyboard.insert_text(text)


def test_a_person_added_as_editor_opens_the_document_and_the_owner_sees_their_typing(pages, owner, editor):
    document = make_document(owner, text="Agenda\n")
    cookies = session_cookie(owner), session_cookie(editor)
    page_o = pages.editor(cookies[0], document)
    outside = pages.context(cookies[1]).new_page()
    assert outside.goto(f"{pages.url}/docs/{document.id}/").status == 404  # not shared yet

    share = pages.share(cookies[0], document)
    people = section(share, "People")
    people.get_by_label("Username").fill("edith")
    people.get_by_label("Role").select_option("editor")
    people.get_by_role("button", name="Add person").click()
    told(share, "edith can now edit.")
    expect(person_row(share, "edith").get_by_label("Role of edith")).to_have_value("editor")

    page_e = pages.editor(cookies[1], document)
    expect(page_e.locator("#view-only-badge")).to_be_hidden()
    type_at_end(page_e, "Edith was added.")
    wait_text(page_o, "Agenda\nEdith was added.")
    assert Membership.objects.get(document=document, user=editor).role == "editor"
    screenshot(share, "share-person-added")


def test_changing_an_editor_to_viewer_turns_their_open_page_read_only_live(pages, owner, editor):
    document = make_document(owner, text="Budget\n", share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    page_o = pages.editor(cookies[0], document)
    page_e = pages.editor(cookies[1], document)
    type_at_end(page_e, "Edith's line.")
    wait_text(page_o, "Budget\nEdith's line.")

    share = pages.share(cookies[0], document)
    row = person_row(share, "edith")
    row.get_by_label("Role of edith").select_option("viewer")
    row.get_by_role("button", name="Change").click()
    told(share, "edith is now viewer.")

    expect(page_e.locator("#view-only-badge")).to_be_visible()
    expect(page_e.locator("#view-only-badge")).to_have_text("View only")
    expect(editor_content(page_e)).to_have_attribute("contenteditable", "false")
    expect(page_e.locator("#connection-status")).to_have_text("Connected")  # still reading live
    type_at_end(page_e, " not any more")
    assert text_of(page_e) == "Budget\nEdith's line."
    type_at_end(page_o, " Olivia's reply.")
    wait_text(page_e, "Budget\nEdith's line. Olivia's reply.")
    screenshot(page_e, "share-role-changed-to-viewer")

    row = person_row(share, "edith")
    row.get_by_label("Role of edith").select_option("editor")
    row.get_by_role("button", name="Change").click()
    told(share, "edith is now editor.")
    expect(page_e.locator("#view-only-badge")).to_be_hidden()
    type_at_end(page_e, " Edith again.")
    wait_text(page_o, "Budget\nEdith's line. Olivia's reply. Edith again.")


def test_removing_a_person_closes_their_page_and_deletes_its_copy_in_their_browser(pages, owner, editor):
    document = make_document(owner, text="Salaries\n", share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    page_e = pages.editor(cookies[1], document)
    type_at_end(page_e, "Edith's notes.")
    wait_saved(page_e)
    assert "Edith's notes." in local_copy(page_e, document)

    share = pages.share(cookies[0], document)
    person_row(share, "edith").get_by_role("button", name="Remove").click()
    told(share, "edith no longer has access.")
    expect(person_row(share, "edith")).to_have_count(0)

    notice = page_e.locator("#connection-notice")
    expect(notice).to_contain_text("You no longer have access to this document.")
    expect(page_e.locator("#connection-status")).to_have_text("Disconnected")
    expect(editor_content(page_e)).to_have_attribute("contenteditable", "false")
    assert page_e.evaluate("() => document.body.dataset.closeCode") == "4403"
    wait_local_copy_deleted(page_e, document)
    assert local_copy(page_e, document) is None
    screenshot(page_e, "share-person-removed")


def test_revoking_a_link_closes_the_guests_page_and_deletes_its_copy_in_their_browser(pages, owner):
    document = make_document(owner, text="Open call\n")
    cookie = session_cookie(owner)
    page_o = pages.editor(cookie, document)
    share = pages.share(cookie, document)
    links = section(share, "Links")
    links.get_by_label("Role").select_option("editor")
    links.get_by_role("button", name="Create link").click()
    told(share, "Link created.")
    url = section(share, "Links").get_by_label("Editor link").input_value()

    guest = pages.context().new_page()
    guest.goto(url)
    guest.get_by_label("Your name").fill("Gus")
    guest.get_by_role("button", name="Open the document").click()
    wait_synced(guest)
    type_at_end(guest, "Gus replies.")
    wait_text(page_o, "Open call\nGus replies.")
    wait_saved(guest)
    assert "Gus replies." in local_copy(guest, document)

    section(share, "Links").get_by_role("button", name="Revoke").click()
    told(share, "Link revoked: it no longer opens the document.")
    expect(section(share, "Links").locator(".link-item")).to_contain_text("revoked")

    expect(guest.locator("#connection-notice")).to_contain_text("You no longer have access to this document.")
    assert guest.evaluate("() => document.body.dataset.closeCode") == "4403"
    wait_local_copy_deleted(guest, document)
    expect(page_o.locator("#connection-status")).to_have_text("Connected")  # the owner stays
    stranger = pages.context().new_page()
    assert stranger.goto(url).status == 404  # the link opens nothing any more
    screenshot(guest, "share-link-revoked-guest")


def test_transferring_ownership_gives_the_new_owner_the_owner_controls(pages, owner, editor):
    document = make_document(owner, title="Handover", text="Keys\n", share=[(editor, "editor")])
    cookies = session_cookie(owner), session_cookie(editor)
    page_o = pages.editor(cookies[0], document)
    page_e = pages.editor(cookies[1], document)
    expect(page_e.get_by_role("link", name="Share")).to_have_count(0)
    expect(page_e.get_by_role("textbox", name="Title")).to_have_count(0)

    share = pages.share(cookies[0], document)
    transfer = section(share, "Transfer ownership")
    transfer.get_by_label("Username").fill("edith")
    transfer.get_by_label("I understand that I will no longer own this document").check()
    transfer.get_by_role("button", name="Transfer").click()
    told(share, "edith now owns “Handover”.")
    wait_synced(share)  # back on the document, now as an editor
    expect(share.get_by_role("link", name="Share")).to_have_count(0)
    expect(share.get_by_role("link", name="Report")).to_be_visible()

    # Both open pages are told their new role live; each can still write.
    expect(page_e.locator("#editor-app")).to_have_attribute("data-role", "owner")
    expect(page_o.locator("#editor-app")).to_have_attribute("data-role", "editor")
    type_at_end(page_o, "Olivia, now an editor.")
    wait_text(page_e, "Keys\nOlivia, now an editor.")

    page_e.reload()
    wait_synced(page_e)
    expect(page_e.get_by_role("textbox", name="Title")).to_be_editable()
    expect(page_e.get_by_role("link", name="Delete")).to_be_visible()
    page_e.get_by_role("link", name="Share").click()
    expect(person_row(page_e, "olivia").get_by_label("Role of olivia")).to_have_value("editor")
    screenshot(page_e, "share-ownership-transferred")
    assert Document.objects.get(pk=document.pk).owner == editor
