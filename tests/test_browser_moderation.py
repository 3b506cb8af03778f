"""A moderator in the admin, in headless Chromium, pressing the buttons; the effect
is checked on live WebSocket connections to a real `manage.py serve` worker."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from collab.access import sharing
from collab.exceptions import CloseCode
from collab.models import AuditEntry, Document, Membership, Report
from collab.moderation import actions as moderation
from tests.browser import chromium, make_document, screenshot, signed_in_context
from tests.conftest import PASSWORD, make_user, session_cookie
from tests.yclient import open_client

pytestmark = [pytest.mark.browser, pytest.mark.processes]

ADMIN = "/admin/collab/document/"


class LiveConnection:
    """A real y-websocket client on an event loop of its own, beside the browser's."""

    def __init__(self, server, document, cookie: str, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = self._run(open_client(server, document, cookie, name))

    def _run(self, coroutine, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close_code(self, timeout: float = 5) -> int:
        """The code the server closed this connection with, waiting up to `timeout` seconds."""
        return self._run(self.client.wait_closed(timeout), timeout + 1)

    def is_open(self) -> bool:
        return not self.client.closed.is_set()

    def rights(self, predicate, timeout: float = 5) -> dict:
        """The first rights message the server sent that satisfies `predicate`."""
        self._run(self.client.wait_for(lambda: predicate(self.client.rights or {}), timeout), timeout + 1)
        return self.client.rights

    def close(self) -> None:
        self._run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def live(server):
    """Opens live connections to `server`; closes them after the test."""
    opened = []

    def connect(document, cookie, name):
        opened.append(LiveConnection(server, document, cookie, name))
        return opened[-1]

    yield connect
    for connection in opened:
        connection.close()


@pytest.fixture
def moderator_and_document(transactional_db, owner, editor):
    from tests.conftest import ensure_moderator_group

    moderator = make_user("mona", staff=True)
    moderator.groups.add(ensure_moderator_group())
    document = make_document(owner, title="Shared plans", text="Draft\n", share=[(editor, "editor")])
    return moderator, document


def admin_page(browser, server, cookie: str, path: str, **options):
    """A page of the admin at `path`, signed in with `cookie`."""
    page = signed_in_context(browser, server.url, cookie, **options).new_page()
    page.goto(f"{server.url}{path}")
    return page


def cookies_of(*users) -> dict:
    """Each user's session cookie, made before the browser starts."""
    return {user: session_cookie(user) for user in users}


def audited(action: str) -> list[str]:
    return list(AuditEntry.objects.filter(action=action).values_list("reason", flat=True))


def moderation_row(page, text: str):
    """The row of the Moderation section whose description contains `text`."""
    return page.locator("form.collab-moderation-row", has_text=text)


def press(page, text: str, button: str, reason: str = ""):
    row = moderation_row(page, text)
    if reason:
        row.get_by_placeholder("Reason (optional)").fill(reason)
    row.get_by_role("button", name=button, exact=True).click()


@pytest.mark.parametrize(
    ("what", "row", "done", "code"),
    [
        ("remove edith from", "Remove edith", "edith was removed from the document", CloseCode.FORBIDDEN),
        ("ban", "Ban", "edith is banned", CloseCode.ACCOUNT_DISABLED),
    ],
)
def test_pressing_remove_or_ban_closes_the_persons_connection_and_only_theirs(
    server, live, moderator_and_document, owner, editor, what, row, done, code
):
    moderator, document = moderator_and_document
    cookies = cookies_of(moderator, owner, editor)
    editors_connection = live(document, cookies[editor], "edith")
    owners_connection = live(document, cookies[owner], "olivia")
    path = f"{ADMIN}{document.id}/change/" if what != "ban" else f"/admin/collab/account/{editor.pk}/change/"
    with chromium() as browser:
        page = admin_page(browser, server, cookies[moderator], path)
        press(page, row, row.split()[0], reason="posted spam links")
        expect(page.locator(".messagelist")).to_contain_text(done, ignore_case=True)
        assert editors_connection.close_code() == code
        expect(moderation_row(page, row)).to_have_count(0)  # nothing left to remove or ban
        screenshot(page, f"admin-{what.split()[0]}-pressed")
    assert audited(what) == ["posted spam links"]
    assert owners_connection.is_open()
    editor.refresh_from_db()
    assert Membership.objects.filter(document=document, user=editor).exists() == (what == "ban")
    assert editor.is_active == (what != "ban")
    document.refresh_from_db()
    assert document.title == "Shared plans"  # the change form was not submitted


def test_lock_unlock_and_disconnect_are_pressed_with_reasons(server, live, moderator_and_document, owner, editor):
    moderator, document = moderator_and_document
    cookies = cookies_of(moderator, owner, editor)
    connection = live(document, cookies[editor], "edith")
    with chromium() as browser:
        page = admin_page(browser, server, cookies[moderator], f"{ADMIN}{document.id}/change/")

        press(page, "Lock", "Lock", reason="under review")
        assert connection.rights(lambda r: r.get("reason") == "locked")["canWrite"] is False
        expect(page.locator(".messagelist")).to_contain_text("Locked")

        press(page, "Unlock", "Unlock")
        assert connection.rights(lambda r: r.get("canWrite") is True)["reason"] == ""
        expect(moderation_row(page, "Lock: nobody may edit")).to_be_visible()

        press(page, "Disconnect everyone", "Disconnect everyone", reason="flood")
        assert connection.close_code() == CloseCode.DISCONNECTED
        expect(page.locator(".messagelist")).to_contain_text("Everyone was disconnected")
    assert (audited("lock"), audited("unlock"), audited("disconnect everyone")) == (["under review"], [""], ["flood"])


def test_the_other_buttons_of_the_document_page_do_their_own_job(server, live, moderator_and_document, owner):
    """Save renames and moderates nothing; Delete asks for a reason and deletes for good."""
    moderator, document = moderator_and_document
    superuser = type(owner).objects.create_superuser("root", password=PASSWORD)
    cookies = cookies_of(superuser, owner)
    connection = live(document, cookies[owner], "olivia")
    with chromium() as browser:
        page = admin_page(browser, server, cookies[superuser], f"{ADMIN}{document.id}/change/")
        page.get_by_label("Title:").fill("Renamed plans")
        page.get_by_role("button", name="Save and continue editing").click()
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
        assert not AuditEntry.objects.exists() and connection.is_open()

        page.get_by_role("link", name="Delete", exact=True).click()
        page.get_by_label("Reason (optional):").fill("copyright notice")
        page.get_by_role("button", name="Delete for good").click()
        expect(page.locator(".messagelist")).to_contain_text("deleted successfully")
        assert connection.close_code() == CloseCode.NOT_FOUND
    assert not Document.objects.filter(pk=document.pk).exists()
    assert audited("delete") == ["copyright notice"]


def test_a_list_action_takes_the_reason_typed_in_the_action_bar(server, live, moderator_and_document, editor):
    moderator, document = moderator_and_document
    cookies = cookies_of(moderator, editor)
    connection = live(document, cookies[editor], "edith")
    with chromium() as browser:
        page = admin_page(browser, server, cookies[moderator], ADMIN)
        page.get_by_role("row", name="Shared plans").get_by_role("checkbox").check()
        page.locator("select[name=action]").select_option("lock_selected")
        page.get_by_label("Reason (optional):").fill("reported twice")
        page.get_by_role("button", name="Go").click()
        expect(page.locator(".messagelist")).to_contain_text("Locked 1 document(s)")
        connection.rights(lambda r: r.get("reason") == "locked")
    assert audited("lock") == ["reported twice"]


def test_who_is_connected_shows_the_moderators_local_times_and_a_worker_name(
    server, live, moderator_and_document, owner, editor
):
    moderator, document = moderator_and_document
    cookies = cookies_of(moderator, owner, editor)
    live(document, cookies[editor], "edith")
    live(document, cookies[owner], "olivia")
    zone = "Pacific/Auckland"  # far from the server's UTC
    with chromium() as browser:
        path = f"{ADMIN}{document.id}/change/"
        page = admin_page(browser, server, cookies[moderator], path, locale="en-GB", timezone_id=zone)
        connected = page.locator(".field-connected_now li")
        expect(connected).to_have_count(2)
        worker = f"{socket.gethostname()}:{server.port}"
        for name, role in (("edith", "editor"), ("olivia", "owner")):
            row = connected.filter(has_text=name)
            since = datetime.fromisoformat(row.locator("time").get_attribute("datetime")).astimezone(ZoneInfo(zone))
            expect(row).to_have_text(f"{name} ({role}) since {since:%H:%M} on worker {worker}")
            assert abs(time.time() - since.timestamp()) < 120
            title = row.locator("time").get_attribute("title")
            assert str(since.year) in title and since.strftime("%B") in title and f"{since:%H:%M:%S}" in title
        screenshot(page, "admin-who-is-connected")


def test_list_columns_fit_beside_the_filters(server, moderator_and_document, owner, viewer):
    moderator, document = moderator_and_document
    long_words = "Quarterly planning notes for the extended leadership offsite meeting agenda"
    Document.objects.filter(pk=document.pk).update(title=long_words)
    for i in range(3):
        report = moderation.report_create(
            document=document, reporter=viewer, reporter_name="victor", reason=f"{long_words} {i}"
        )
        moderation.document_lock(document=document, actor=moderator, reason=long_words)
        moderation.report_resolve(report=report, actor=moderator, resolution=f"{long_words}, resolved {i}")
    sharing.membership_set(document=document, user=viewer, role="viewer")
    assert Report.objects.count() == 3
    cookie = session_cookie(moderator)
    with chromium() as browser:
        for width in (1024, 1280, 1600):
            context = browser.new_context(viewport={"width": width, "height": 800})
            context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": server.url}])
            page = context.new_page()
            for name in ("document", "report", "auditentry", "account", "membership"):
                page.goto(f"{server.url}/admin/collab/{name}/")
                page_overflow, list_overflow = page.evaluate(
                    """() => {
                        const box = document.querySelector('#changelist-form .results');
                        return [document.documentElement.scrollWidth - innerWidth, box.scrollWidth - box.clientWidth];
                    }"""
                )
                assert page_overflow <= 0, f"the {name} list page is {page_overflow}px too wide at {width}px"
                if width >= 1280:  # narrower, with the sidebar open, a long list scrolls in its box
                    assert list_overflow <= 0, f"the {name} list is cut {list_overflow}px short at {width}px"
                screenshot(page, f"admin-{name}-list-{width}")
            context.close()
