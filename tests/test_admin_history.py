"""A document's history in the admin: moderators list its versions, read and compare
them, and restore one (audited); reports lead to it. The buttons are pressed in
headless Chromium against a real worker, with a live WebSocket client watching."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.admin import site
from django.contrib.auth.models import Permission
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import expect
from pycrdt import Doc, Text

from collab.history import textdiff
from collab.history.authorship import author_for_user, claim
from collab.history.versions import version_cut, versions_of
from collab.models import AuditEntry, Document, Report, Restore, Version
from collab.moderation import actions as moderation
from collab.storage import persistence
from collab.yjs.crdt import TEXT_NAME
from tests.browser import chromium, make_document, screenshot, signed_in_context
from tests.conftest import ensure_moderator_group, make_user, session_cookie
from tests.test_browser_moderation import LiveConnection

ADMIN = "/admin/collab/document/"
GOOD = "Meeting notes\n- agenda: budget\n- owner: Olivia\n"
SPAM = "BUY CHEAP <b>PILLS</b> http://spam.example\n"
RESTORED = "restore version of"

# -- the cast and their documents ------------------------------------------------


def with_history_permissions(group):
    """The moderator group as the migrations leave it (0005, then 0008 adds history)."""
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="collab", codename__in=["view_version", "restore_version"])
    )
    return group


def moderator_named(username: str):
    user = make_user(username, staff=True)
    user.groups.add(with_history_permissions(ensure_moderator_group()))
    return user


def staff_with(username: str, *codenames: str):
    """Staff holding exactly these collab permissions."""
    user = make_user(username, staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="collab", codename__in=codenames))
    return user


@pytest.fixture
def mona(db):
    return moderator_named("mona")


def write(document, user, change) -> None:
    """`change(text)` made by `user` on the stored text, appended to the log as a real update."""
    doc = Doc()
    text = doc.get(TEXT_NAME, type=Text)
    for update in persistence.read_since(document.id).all_updates():
        doc.apply_update(update)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    claim(document.id, [doc.client_id], author_for_user(user))
    change(text)
    persistence.append(document.id, updates, [user.pk] * len(updates))


def replace_all(content: str):
    def change(text):
        del text[0 : len(str(text).encode())]
        text.insert(0, content)

    return change


def vandalize(owner, vandal):
    """A document with a good version by its owner, then a vandal's version: (document, good, bad)."""
    document = make_document(owner, title="Board minutes", share=[(vandal, "editor")])
    write(document, owner, lambda text: text.insert(0, GOOD))
    good = version_cut(document_id=document.id)
    write(document, vandal, replace_all(SPAM))
    bad = version_cut(document_id=document.id)
    return document, good, bad


@pytest.fixture
def vandalized(owner, editor):
    return vandalize(owner, editor)


def signed_in(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def versions_url(document) -> str:
    return f"{ADMIN}{document.id}/versions/"


def version_url(version, show: str = "") -> str:
    return f"{ADMIN}{version.document_id}/versions/{version.pk}/" + (f"?show={show}" if show else "")


def restore_url(version) -> str:
    return f"{version_url(version)}restore/"


def restore_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=RESTORED))


# -- finding the history -----------------------------------------------------------


def test_the_document_page_and_the_list_link_to_the_history(mona, vandalized):
    document, _, _ = vandalized
    client = signed_in(mona)
    page = client.get(f"{ADMIN}{document.id}/change/").content.decode()
    assert f'href="{versions_url(document)}"' in page
    assert "Admin changes" in page  # Django's own log keeps its link, under a name of its own
    assert f'href="{versions_url(document)}"' in client.get(ADMIN).content.decode()


def test_staff_without_view_version_get_no_link_and_403(vandalized):
    document, good, _ = vandalized
    staff = staff_with("stan", "view_document", "view_content", "restore_version")
    client = signed_in(staff)
    assert versions_url(document) not in client.get(f"{ADMIN}{document.id}/change/").content.decode()
    assert versions_url(document) not in client.get(ADMIN).content.decode()
    assert client.get(versions_url(document)).status_code == 403
    assert client.get(version_url(good)).status_code == 403
    assert client.get("/admin/collab/version/").status_code == 403


def test_the_history_lists_versions_newest_first_with_who_and_how_much(mona, vandalized, editor):
    document, good, bad = vandalized
    page = signed_in(mona).get(versions_url(document)).content.decode()
    rows = re.findall(r'<th scope="row"><a href="([^"]+)">', page)
    assert rows == [version_url(bad), version_url(good)]
    bad_row = page[page.index(version_url(bad)) : page.index(version_url(good))]
    assert "edith" in bad_row and f"+{bad.chars_added}" in bad_row and f"−{bad.chars_removed}" in bad_row
    assert (bad.chars_added, bad.chars_removed) == textdiff.counts(GOOD, SPAM) and bad.chars_removed > 0


def test_the_history_is_paginated(mona, vandalized, owner, monkeypatch):
    document, good, bad = vandalized
    write(document, owner, lambda text: text.insert(0, "x"))
    newest = version_cut(document_id=document.id)
    monkeypatch.setattr(site._registry[Document], "versions_per_page", 2)
    client = signed_in(mona)
    first = client.get(versions_url(document)).content.decode()
    second = client.get(versions_url(document) + "?p=2").content.decode()
    assert re.findall(r'<th scope="row"><a href="([^"]+)">', first) == [version_url(newest), version_url(bad)]
    assert re.findall(r'<th scope="row"><a href="([^"]+)">', second) == [version_url(good)]
    assert "Page 1 of 2 (3 versions)" in first and 'href="?p=2"' in first


# -- reading and comparing ---------------------------------------------------------


def test_a_versions_text_is_shown_escaped(mona, vandalized):
    _, _, bad = vandalized
    page = signed_in(mona).get(version_url(bad)).content.decode()
    assert "BUY CHEAP &lt;b&gt;PILLS&lt;/b&gt;" in page
    assert "<b>PILLS</b>" not in page


def diff_sides(page: str) -> tuple[str, str]:
    """The texts before and after of the page's diff, read back from its <del>, <ins> and plain runs."""
    body = re.search(r'<pre class="collab-content collab-diff">(.*?)</pre>', page, re.S).group(1)
    before = after = ""
    for tag, inner, plain in re.findall(r"<(ins|del)>(.*?)</\1>|([^<]+)", body, re.S):
        text = html.unescape(inner or plain)
        before += text if tag != "ins" else ""
        after += text if tag != "del" else ""
    return before, after


def test_a_version_is_compared_with_the_one_before_and_with_the_current_text(mona, vandalized, owner):
    document, good, bad = vandalized
    write(document, owner, lambda text: text.insert(0, "Recovered? "))  # the current text is not the last version
    client = signed_in(mona)

    against_previous = client.get(version_url(bad, "previous")).content.decode()
    assert diff_sides(against_previous) == (GOOD, SPAM)
    assert "<del>" in against_previous and "<ins>" in against_previous and "<b>PILLS" not in against_previous

    against_current = client.get(version_url(good, "current")).content.decode()
    assert diff_sides(against_current) == (GOOD, "Recovered? " + SPAM)

    first = client.get(version_url(good, "previous")).content.decode()
    assert "none: from nothing" in first and diff_sides(first) == ("", GOOD)


def test_a_rewrite_reads_as_one_deletion_and_one_insertion_not_as_scraps():
    old, new = "Meeting notes, owner: Olivia\n", "BUY CHEAP http://spam.example\n"
    assert ("equal", "e") in textdiff.opcodes(old, new)  # scraps: the two share an "e" or two
    assert textdiff.readable(textdiff.opcodes(old, new)) == [
        ("delete", "Meeting notes, owner: Olivia"),
        ("insert", "BUY CHEAP http://spam.example"),
        ("equal", "\n"),
    ]
    assert textdiff.readable(textdiff.opcodes("The quick brown fox", "The quick red fox")) == [
        ("equal", "The quick "),
        ("delete", "brown"),
        ("insert", "red"),
        ("equal", " fox"),
    ]


@given(st.text("ab \n", max_size=40), st.text("ab \n", max_size=40))
def test_folding_a_diff_keeps_both_texts(old, new):
    runs = textdiff.readable(textdiff.opcodes(old, new))
    assert "".join(text for op, text in runs if op != "insert") == old
    assert "".join(text for op, text in runs if op != "delete") == new
    assert all(text for _, text in runs)


def test_an_unknown_version_or_one_of_another_document_is_404(mona, vandalized, owner):
    document, good, _ = vandalized
    other = make_document(owner, title="Other")
    client = signed_in(mona)
    assert client.get(f"{ADMIN}{document.id}/versions/999999/").status_code == 404
    assert client.get(f"{ADMIN}{other.id}/versions/{good.pk}/").status_code == 404
    assert client.post(f"{ADMIN}{other.id}/versions/{good.pk}/restore/", {"confirmed": "yes"}).status_code == 404
    assert persistence.document_text(document.id) == SPAM


def test_staff_without_view_content_see_the_versions_but_not_their_text(vandalized):
    document, good, bad = vandalized
    client = signed_in(staff_with("stan", "view_document", "view_version"))
    assert client.get(versions_url(document)).status_code == 200
    for show in ("", "previous", "current"):
        page = client.get(version_url(good, show)).content.decode()
        assert "you may not read documents' content" in page
        assert "agenda" not in page and "PILLS" not in page
        assert "Restore this version" not in page


# -- restoring ---------------------------------------------------------------------


def test_a_moderator_without_restore_version_gets_no_button_and_403(vandalized):
    document, good, _ = vandalized
    client = signed_in(staff_with("stan", "view_document", "view_version", "view_content"))
    page = client.get(version_url(good)).content.decode()
    assert "agenda: budget" in page and "Restore this version" not in page
    assert client.get(restore_url(good)).status_code == 403
    assert client.post(restore_url(good), {"confirmed": "yes"}).status_code == 403
    assert persistence.document_text(document.id) == SPAM
    assert not restore_entries() and not Restore.objects.exists()


def test_restoring_needs_the_forms_csrf_token(mona, vandalized):
    document, good, _ = vandalized
    client = signed_in(mona, enforce_csrf_checks=True)
    assert client.post(restore_url(good), {"confirmed": "yes"}).status_code == 403
    assert persistence.document_text(document.id) == SPAM and not restore_entries()


def test_the_restore_button_asks_for_confirmation_first(mona, vandalized):
    document, good, _ = vandalized
    client = signed_in(mona)
    assert f'action="{restore_url(good)}"' in client.get(version_url(good)).content.decode()
    response = client.post(restore_url(good), {"reason": "vandalism"})
    page = response.content.decode()
    assert response.status_code == 200 and "Yes, restore this version" in page
    assert 'name="reason" value="vandalism"' in page and 'name="confirmed" value="yes"' in page
    assert diff_sides(page) == (SPAM, GOOD)  # what the restore changes: the spam goes, the minutes come back
    assert persistence.document_text(document.id) == SPAM and not restore_entries()


def test_restoring_a_version_is_audited_and_keeps_the_text_it_replaced(mona, vandalized):
    document, good, bad = vandalized
    client = signed_in(mona)
    response = client.post(restore_url(good), {"confirmed": "yes", "reason": "vandalism reported twice"})
    assert response.status_code == 302 and response["Location"] == versions_url(document)
    assert persistence.document_text(document.id) == GOOD
    [entry] = restore_entries()
    assert (entry.actor, entry.reason, entry.target_type, entry.target_id) == (
        mona,
        "vandalism reported twice",
        "document",
        str(document.id),
    )
    assert entry.target_repr.startswith("Board minutes (the version of ")
    restore = Restore.objects.get()
    assert (restore.version, restore.by, restore.by_name) == (good, mona, "mona")
    # The spam was the newest version already: no other is cut; restoring that one undoes this.
    assert list(versions_of(document.id)) == [bad, good]
    page = client.get(versions_url(document)).content.decode()
    assert "Restored the version of" in page


def test_text_written_since_the_last_version_is_kept_as_one_before_the_restore(mona, vandalized, editor):
    document, good, bad = vandalized
    write(document, editor, lambda text: text.insert(0, "MORE "))
    moderation.version_restore(version=good, actor=mona)
    newest = versions_of(document.id).first()
    assert (newest.kind, newest.text) == (Version.Kind.BEFORE_RESTORE, "MORE " + SPAM)
    assert persistence.document_text(document.id) == GOOD
    page = signed_in(mona).get(versions_url(document)).content.decode()
    assert page.index("Before a restore") < page.index(version_url(bad))


def test_restoring_the_current_text_changes_nothing_and_records_nothing(mona, vandalized):
    document, _, bad = vandalized
    response = signed_in(mona).post(restore_url(bad), {"confirmed": "yes"}, follow=True)
    assert "nothing changed" in response.content.decode()
    assert persistence.document_text(document.id) == SPAM
    assert not restore_entries() and not Restore.objects.exists()


def test_a_locked_document_is_restored_too(mona, vandalized):
    """The usual order with vandalism: lock it, then bring the good text back."""
    document, good, _ = vandalized
    moderation.document_lock(document=document, actor=mona, reason="vandalism")
    moderation.version_restore(version=good, actor=mona, reason="vandalism")
    assert persistence.document_text(document.id) == GOOD
    assert [e.action for e in AuditEntry.objects.order_by("created", "id")] == ["lock", RESTORED]


# -- reports and the list of every version -----------------------------------------


def test_a_report_lists_the_documents_latest_versions_and_links_its_history(mona, vandalized, viewer):
    document, good, bad = vandalized
    report = moderation.report_create(document=document, reporter=viewer, reporter_name="victor", reason="spam")
    client = signed_in(mona)
    page = client.get(f"/admin/collab/report/{report.pk}/change/").content.decode()
    assert page.index(f'href="{version_url(bad)}"') < page.index(f'href="{version_url(good)}"')
    assert f'href="{versions_url(document)}"' in page
    assert client.post(f"/admin/collab/report/{report.pk}/change/", {"resolution": "restored"}).status_code == 302
    assert Report.objects.get().status == Report.Status.RESOLVED  # the form still saves


def test_staff_without_view_version_see_reports_without_versions(vandalized, viewer):
    document, good, _ = vandalized
    report = moderation.report_create(document=document, reporter=viewer, reporter_name="victor", reason="spam")
    client = signed_in(staff_with("stan", "view_report", "change_report"))
    page = client.get(f"/admin/collab/report/{report.pk}/change/").content.decode()
    assert version_url(good) not in page and versions_url(document) not in page


def test_the_versions_list_searches_by_document_and_opens_on_its_history(mona, vandalized, owner):
    document, good, _ = vandalized
    make_document(owner, title="Unrelated", text="x")
    version_cut(document_id=Document.objects.get(title="Unrelated").id)
    client = signed_in(mona)
    found = client.get("/admin/collab/version/?q=Board").content.decode()
    assert found.count("Board minutes") >= 2 and "Unrelated" not in found
    response = client.get(f"/admin/collab/version/{good.pk}/change/")
    assert response.status_code == 302 and response["Location"] == version_url(good)
    assert client.get("/admin/collab/version/nonsense/change/").status_code == 404


# -- in the browser ----------------------------------------------------------------


class Watcher(LiveConnection):
    """A live WebSocket client of the document, waiting for a text."""

    def wait_text(self, expected: str, timeout: float = 5) -> str:
        self._run(self.client.wait_for(lambda: self.client.value() == expected, timeout), timeout + 1)
        return self.client.value()


@pytest.fixture
def browser_cast(transactional_db, owner, editor):
    """A moderator, and a document vandalized by its editor (transactional tests flush the group)."""
    return moderator_named("mona"), *vandalize(owner, editor)


@pytest.mark.browser
@pytest.mark.processes
def test_a_moderator_restores_the_last_good_version_and_live_clients_get_it(server, browser_cast, owner):
    moderator, document, good, bad = browser_cast
    cookies = {user: session_cookie(user) for user in (moderator, owner)}
    watcher = Watcher(server, document, cookies[owner], "olivia")
    try:
        assert watcher.client.value() == SPAM
        with chromium() as browser:
            page = signed_in_context(browser, server.url, cookies[moderator]).new_page()
            page.goto(f"{server.url}/admin/")
            page.get_by_role("link", name="Documents").first.click()
            page.get_by_role("link", name="Board minutes").click()
            page.get_by_role("link", name="History", exact=True).click()
            rows = page.locator("#versions tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_contain_text("edith")
            rows.nth(1).get_by_role("link").click()  # the older one, before the spam
            expect(page.locator("pre.collab-version-text")).to_have_text(GOOD)
            page.get_by_role("link", name="Changes since, to the current text").click()
            expect(page.locator("pre.collab-diff del").first).to_be_visible()
            assert shown_sides(page) == (GOOD, SPAM)  # the spam's markup shown as text
            screenshot(page, "admin-version-diff")

            row = page.locator("form.collab-moderation-row", has_text="Restore this version")
            row.get_by_placeholder("Reason (optional)").fill("spam over the minutes")
            row.get_by_role("button", name="Restore this version").click()
            expect(page.get_by_role("button", name="Yes, restore this version")).to_be_visible()
            assert persistence.document_text(document.id) == SPAM  # nothing yet: this is the confirmation
            screenshot(page, "admin-version-restore-confirm")
            page.get_by_role("button", name="Yes, restore this version").click()

            expect(page.locator(".messagelist")).to_contain_text("Restored the version of")
            assert watcher.wait_text(GOOD) == GOOD
            screenshot(page, "admin-versions-after-restore")
    finally:
        watcher.close()
    assert persistence.document_text(document.id) == GOOD
    assert [entry.reason for entry in restore_entries()] == ["spam over the minutes"]
    assert restore_entries()[0].actor == moderator


@pytest.mark.browser
@pytest.mark.processes
def test_a_reported_document_is_one_click_from_its_last_good_version(server, browser_cast, viewer, editor):
    """The usual order: a report, the document locked, then its last good version restored."""
    moderator, document, good, _ = browser_cast
    report = moderation.report_create(document=document, reporter=viewer, reporter_name="victor", reason="vandalism")
    moderation.document_lock(document=document, actor=moderator, reason="vandalism")
    watcher = Watcher(server, document, session_cookie(editor), "edith")
    cookie = session_cookie(moderator)
    try:
        with chromium() as browser:
            page = signed_in_context(browser, server.url, cookie).new_page()
            page.goto(f"{server.url}/admin/collab/report/{report.pk}/change/")
            versions = page.locator(".field-document_versions ul.collab-versions li")
            expect(versions).to_have_count(2)
            screenshot(page, "admin-report-versions")
            versions.nth(1).get_by_role("link").click()
            expect(page.locator("pre.collab-version-text")).to_have_text(GOOD)
            page.get_by_role("button", name="Restore this version").click()
            page.get_by_role("button", name="Yes, restore this version").click()
            expect(page.locator(".messagelist")).to_contain_text("Restored the version of")
            assert watcher.wait_text(GOOD) == GOOD  # locked against people, not against the restore
    finally:
        watcher.close()
    assert persistence.document_text(document.id) == GOOD
    assert len(restore_entries()) == 1


def shown_sides(page) -> tuple[str, str]:
    """The texts before and after of the diff the browser shows (without <ins>, without <del>)."""
    return tuple(
        page.evaluate(
            """(skip) => [...document.querySelector("pre.collab-diff").childNodes]
                .filter((node) => node.nodeName !== skip).map((node) => node.textContent).join("")""",
            skip,
        )
        for skip in ("INS", "DEL")
    )


def overflow(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - innerWidth")


def luminance(page, selector: str, prop: str = "backgroundColor") -> float:
    """The WCAG relative luminance (0 black … 1 white) of the first match's colour `prop`."""
    rgb = page.evaluate(
        "([s, p]) => getComputedStyle(document.querySelector(s))[p].match(/\\d+/g).slice(0, 3).map(Number)",
        [selector, prop],
    )
    r, g, b = ((c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


@pytest.mark.browser
@pytest.mark.processes
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_history_pages_fit_a_phone_in_either_theme(server, browser_cast, scheme):
    moderator, document, good, bad = browser_cast
    long_word = "x" * 300  # a line without spaces must wrap, not widen the page
    write(document, moderator, lambda text: text.insert(0, long_word + "\n"))
    cookie = session_cookie(moderator)
    with chromium() as browser:
        context = signed_in_context(
            browser, server.url, cookie, viewport={"width": 360, "height": 740}, color_scheme=scheme
        )
        page = context.new_page()
        for path, name in (
            (versions_url(document), "versions"),
            (version_url(good, "current"), "diff"),
            (restore_url(good), "restore"),
        ):
            page.goto(f"{server.url}{path}")
            assert overflow(page) <= 0, f"the {name} page is {overflow(page)}px too wide for a phone"
            if name == "versions":
                box = page.evaluate(
                    "() => [...document.querySelectorAll('.collab-scroll')].map(b => b.scrollWidth - b.clientWidth)"
                )
                assert box == [0], "the list of versions fits a phone without scrolling sideways"
            screenshot(page, f"admin-history-{name}-phone-{scheme}")
        assert (luminance(page, "body") < 0.2) == (scheme == "dark")
        for mark in ("ins", "del"):
            background, text = (luminance(page, f"pre.collab-diff {mark}", p) for p in ("backgroundColor", "color"))
            assert (background < 0.2) == (scheme == "dark"), f"<{mark}> keeps to the theme"
            assert contrast(background, text) >= 4.5, f"<{mark}> is readable"


@pytest.mark.browser
@pytest.mark.processes
def test_the_history_columns_leave_the_lists_fitting_their_width(server, browser_cast, viewer):
    """As every list of the admin: no wider than the page, and from 1280 px no column cut off."""
    moderator, document, _, _ = browser_cast
    Document.objects.filter(pk=document.pk).update(title="Quarterly planning notes for the extended leadership offsite")
    moderation.report_create(document=document, reporter=viewer, reporter_name="victor", reason="vandalism " * 20)
    cookie = session_cookie(moderator)
    with chromium() as browser:
        for width in (1024, 1280):
            page = signed_in_context(browser, server.url, cookie, viewport={"width": width, "height": 800}).new_page()
            for name in ("document", "report", "version"):
                page.goto(f"{server.url}/admin/collab/{name}/")
                expect(page.locator("#result_list")).to_contain_text("Quarterly planning")
                assert overflow(page) <= 0, f"the {name} list page is {overflow(page)}px too wide at {width}px"
                cut = page.evaluate(
                    "() => { const box = document.querySelector('#changelist-form .results');"
                    " return box.scrollWidth - box.clientWidth; }"
                )
                assert width < 1280 or cut <= 0, f"the {name} list is cut {cut}px short at {width}px"
            page.context.close()
