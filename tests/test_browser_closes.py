"""What the editor page says when the server closes its connection for good, and
what it does with its copy of the document in IndexedDB (`collab-doc-<uuid>`):
kept where the person may come back (4401, 4409), deleted where their access is
gone (4404, 4410; 4403 is in test_browser_sharing). Each close is caused the way
it happens: another tab, another browser, the owner's button, a moderator."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from collab.moderation import actions as moderation
from tests.browser import (
    SYNC_TIMEOUT,
    chromium,
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
)
from tests.conftest import PASSWORD, make_user, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]

DRAFT = "Edith's draft."


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; each test's contexts are closed after it."""
    with chromium() as running:
        yield running


class Scene:
    """Edith's page open on a document of Olivia's, with a line of hers saved in it."""

    def __init__(self, browser, server, owner, editor):
        self.browser, self.server, self.owner, self.editor = browser, server, owner, editor
        self.document = make_document(owner, title="Minutes", text="Minutes\n", share=[(editor, "editor")])
        self.contexts = []
        self.context, self.page = open_editor(browser, server.url, session_cookie(editor), self.document)
        self.contexts.append(self.context)
        put_cursor(self.page, "end")
        self.page.keyboard.insert_text(DRAFT)  # one update, found whole in the local copy
        wait_saved(self.page)

    def new_page(self, user):
        """A page in a browser of its own, signed in as `user` in a session of its own."""
        context = signed_in_context(self.browser, self.server.url, session_cookie(user))
        self.contexts.append(context)
        return context.new_page()

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def scene(browser, server, owner, editor):
    opened = Scene(browser, server, owner, editor)
    yield opened
    opened.close()


def log_out_in_another_tab(scene):
    tab = scene.context.new_page()
    tab.goto(f"{scene.server.url}/")
    tab.get_by_role("button", name="Log out").click()
    expect(tab.get_by_role("link", name="Log in")).to_be_visible()


def change_the_password_in_another_browser(scene):
    page = scene.new_page(scene.editor)
    page.goto(f"{scene.server.url}/accounts/password/")
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase 42")
    page.get_by_label("New password confirmation").fill("a brand new passphrase 42")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".messages")).to_contain_text("Your password was changed.")


def owner_deletes_the_document(scene):
    page = scene.new_page(scene.owner)
    page.goto(f"{scene.server.url}/docs/{scene.document.id}/")
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete document").click()
    expect(page.get_by_role("heading", name="Delete “Minutes”?")).to_have_count(0)


def moderator_disconnects_everyone(scene):
    moderation.document_disconnect_all(document=scene.document, actor=make_user("mona"), reason="flood")


def moderator_bans_the_account(scene):
    moderation.user_ban(user=scene.editor, actor=make_user("mona"), reason="spam")


@pytest.mark.parametrize(
    ("cause", "code", "says", "kept"),
    [
        (log_out_in_another_tab, 4401, "Your session has ended.", True),
        (change_the_password_in_another_browser, 4401, "Your session has ended.", True),
        (moderator_disconnects_everyone, 4409, "A moderator disconnected everyone from this document.", True),
        (owner_deletes_the_document, 4404, "This document has been deleted.", False),
        (moderator_bans_the_account, 4410, "Your account has been disabled.", False),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_the_page_says_why_it_stopped_and_keeps_its_local_copy_only_if_the_person_may_come_back(
    scene, cause, code, says, kept
):
    page = scene.page
    assert DRAFT in local_copy(page, scene.document)

    cause(scene)
    notice = page.locator("#connection-notice")
    expect(notice).to_contain_text(says, timeout=SYNC_TIMEOUT)
    assert page.evaluate("() => document.body.dataset.closeCode") == str(code)
    expect(page.locator("#connection-status")).to_have_text("Disconnected")
    assert page.evaluate("() => window.collab.provider.shouldConnect") is False
    if kept:
        assert DRAFT in local_copy(page, scene.document)
    else:
        wait_local_copy_deleted(page, scene.document)
        assert local_copy(page, scene.document) is None
    assert text_of(page) == f"Minutes\n{DRAFT}"  # what was on screen stays there to read
    screenshot(page, f"closed-{code}-{cause.__name__}")


def test_after_a_moderators_disconnect_the_page_says_to_reload_and_a_reload_joins_again(scene):
    page = scene.page
    moderator_disconnects_everyone(scene)
    notice = page.locator("#connection-notice")
    expect(notice).to_contain_text("A moderator disconnected everyone from this document.", timeout=SYNC_TIMEOUT)
    expect(notice).to_contain_text("Reload the page to join again")
    expect(notice.get_by_role("link", name="Back to documents")).to_be_visible()

    page.reload()
    wait_synced(page)
    expect(page.locator("#connection-notice")).to_be_hidden()
    assert text_of(page) == f"Minutes\n{DRAFT}"
    assert DRAFT in local_copy(page, scene.document)
