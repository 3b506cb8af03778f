import pytest
from playwright.sync_api import expect

from collab.models import Document
from tests.browser import chromium, screenshot
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def test_a_person_signs_up_creates_and_renames_a_document(server):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.get_by_role("link", name="Create an account").click()
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
