import re
import time

import pytest
from playwright.sync_api import expect

from collab.models import Document, Profile
from tests.browser import (
    VIEWPORT,
    avatar,
    chromium,
    make_document,
    open_editor,
    screenshot,
    signed_in_context,
    wait_synced,
)
from tests.conftest import PASSWORD, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_a_person_signs_up_creates_and_renames_a_document(server):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.get_by_role("main").get_by_role("link", name="Sign up").click()
        page.get_by_label("Username").fill("petra")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password confirmation").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("heading", name="Documents")).to_be_visible()

        page.get_by_role("button", name="New document").click()
        expect(page).to_have_url(f"{server.url}/docs/{Document.objects.get().id}/")
        page.get_by_label("Title").fill("Meeting notes")
        page.get_by_role("button", name="Rename").click()
        expect(page).to_have_title("Meeting notes · collab")

        page.get_by_role("link", name="collab").click()
        expect(page.get_by_role("link", name="Meeting notes")).to_be_visible()
        screenshot(page, "documents-list")
    assert Document.objects.get().title == "Meeting notes"


def test_the_landing_page_says_what_collab_is_and_leads_to_sign_up_and_log_in(server):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(server.url + "/")
        main = page.get_by_role("main")
        expect(main.get_by_role("heading", name="Write Markdown together, live")).to_be_visible()
        expect(main).to_contain_text("shared Markdown editor")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "landing-360")
        main.get_by_role("link", name="Log in").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.go_back()
        main.get_by_role("link", name="Sign up").click()
        expect(page.get_by_role("heading", name="Create your account")).to_be_visible()


def test_a_display_name_set_on_the_account_page_is_what_others_see(server, editor):
    editor_cookie = session_cookie(editor)
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(server.url + "/accounts/signup/")
        page.get_by_label("Username").fill("petra")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password confirmation").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()

        page.get_by_role("link", name="petra", exact=True).click()  # the name in the top bar: the account page
        page.get_by_label("Display name").fill("Petra Novak")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("banner").get_by_role("link", name="Petra Novak")).to_be_visible()
        assert Profile.objects.get(user__username="petra").display_name == "Petra Novak"

        page.get_by_role("link", name="collab").click()
        page.get_by_role("button", name="New document").click()
        wait_synced(page)
        page.get_by_role("link", name="Share").click()
        page.locator("#id_add-username").fill("edith")
        page.get_by_role("button", name="Add person").click()
        expect(page.locator(".people")).to_contain_text("Petra Novak @petra")
        page.get_by_role("link", name="Back to the document").click()
        wait_synced(page)

        _, other = open_editor(browser, server.url, editor_cookie, Document.objects.get())
        expect(avatar(other, "Petra Novak")).to_have_attribute("title", "Petra Novak")
        expect(avatar(page, "edith")).to_have_attribute("title", "edith")  # no display name: the username
        expect(avatar(page, "Petra Novak")).to_have_attribute("title", "Petra Novak (you)")
        page.locator(".cm-content").click()
        page.keyboard.type("Hello")
        expect(other.locator(".cm-ySelectionInfo", has_text="Petra Novak")).to_have_count(1)
        screenshot(other, "display-name-in-presence")


def test_renaming_to_spaces_only_shows_the_server_s_error_in_the_editor(server, owner):
    document = Document.objects.create(owner=owner, title="Plans")
    cookie = session_cookie(owner)
    with chromium() as browser:
        page = signed_in_context(browser, server.url, cookie).new_page()
        page.goto(f"{server.url}/docs/{document.id}/")
        wait_synced(page)
        page.get_by_label("Title").fill("   ")
        page.get_by_role("button", name="Rename").click()
        error = page.locator(".rename-status")
        expect(error).to_have_text("A title cannot be empty.")
        expect(error).to_have_attribute("data-state", "error")
        expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
        expect(page).to_have_title("Plans · collab")
        screenshot(page, "rename-spaces-error")

        page.get_by_label("Title").fill("Launch plans")
        page.get_by_role("button", name="Rename").click()
        expect(error).to_have_text("Renamed")
        expect(page.get_by_label("Title")).not_to_have_attribute("aria-invalid", "true")
    document.refresh_from_db()
    assert document.title == "Launch plans"


def test_a_long_title_without_spaces_fits_the_documents_and_share_pages(server, owner):
    title = "x" * 200
    document = Document.objects.create(owner=owner, title=title)
    cookie = session_cookie(owner)
    with chromium() as browser:
        for width in (1280, 360):
            page = signed_in_context(browser, server.url, cookie).new_page()
            page.set_viewport_size({"width": width, "height": 740})
            page.goto(server.url + "/")
            link = page.get_by_role("link", name=title)
            expect(link).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert link.evaluate("a => a.scrollWidth > a.clientWidth")  # cut with an ellipsis, the full title on hover
            expect(link).to_have_attribute("title", title)
            expect(page.get_by_text("edited just now")).to_be_visible()
            screenshot(page, f"documents-long-title-{width}")

            page.goto(f"{server.url}/docs/{document.id}/share/")
            expect(page.get_by_role("heading", name=f"Share “{title}”")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            # The transfer checkbox sits right before its words, not across the card.
            box = page.get_by_label("I understand that I will no longer own this document").bounding_box()
            words = page.locator("label[for=id_transfer-confirm]").evaluate(  # their first line
                "label => { const r = document.createRange(); r.selectNode(label.lastChild);"
                " const b = r.getClientRects()[0]; return {x: b.x, y: b.y, height: b.height}; }"
            )
            assert 0 <= words["x"] - (box["x"] + box["width"]) <= 16
            assert abs((words["y"] + words["height"] / 2) - (box["y"] + box["height"] / 2)) < 8
            screenshot(page, f"share-long-title-{width}")


def mailed_link(server, pattern: str, since: int, timeout: float = 10) -> str:
    """The first link matching `pattern` in an e-mail the server printed (the console e-mail
    backend) after byte `since` of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, server.log_path.read_bytes()[since:].decode(errors="replace"))
        if found:
            return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no e-mail with {pattern} in {server.log_path} within {timeout} s")


def test_a_forgotten_password_is_reset_through_the_mailed_link(server, owner):
    owner.email = "olivia@example.com"
    owner.save(update_fields=["email"])
    new = "a brand new horse battery staple"
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(server.url + "/accounts/login/")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email").fill("olivia@example.com")
        log_size = server.log_path.stat().st_size
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

        page.goto(mailed_link(server, re.escape(server.url) + r"/accounts/password/reset/[^/\s]+/[^/\s]+/", log_size))
        page.get_by_label("New password", exact=True).fill(new)
        page.get_by_label("New password confirmation").fill(new)
        page.get_by_role("button", name="Set the password").click()
        expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()

        page.get_by_role("main").get_by_role("link", name="Log in").click()
        page.get_by_label("Username").fill("olivia")
        page.get_by_label("Password").fill(new)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Documents")).to_be_visible()


def test_a_deleted_document_waits_in_the_trash_and_comes_back_with_its_text(server, owner):
    document = make_document(owner, title="Minutes", text="Kept through the trash\n")
    with chromium() as browser:
        context, page = open_editor(browser, server.url, session_cookie(owner), document)
        page.get_by_role("link", name="Delete").click()
        page.get_by_role("button", name="Delete document").click()
        expect(page.locator(".messages")).to_contain_text("“Minutes” is in the trash")
        expect(page.get_by_role("link", name="Minutes")).to_have_count(0)

        page.get_by_role("link", name="Trash").click()
        trash = page.get_by_role("list", name="Trash")
        expect(trash).to_contain_text("Minutes")
        trash.get_by_role("button", name="Restore").click()
        expect(page).to_have_url(f"{server.url}/docs/{document.id}/")
        wait_synced(page)
        expect(page.locator(".cm-content")).to_contain_text("Kept through the trash")
        context.close()
    assert Document.objects.get(pk=document.pk).trashed_at is None
