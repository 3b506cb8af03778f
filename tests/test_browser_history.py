"""The History pages in headless Chromium: the list, an attributed diff, a restore while
someone types, and the pages on a phone and in the dark scheme."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from collab.history import versions
from collab.models import Restore
from tests.browser import (
    SYNC_TIMEOUT,
    chromium,
    make_document,
    named,
    open_editor,
    put_cursor,
    screenshot,
    signed_in_context,
    text_of,
    wait_contains,
    wait_saved,
    wait_synced,
    wait_text,
)
from tests.conftest import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]

PHONE = {"width": 360, "height": 740}


def page_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def luminance(css_color: str) -> float:
    """The relative luminance (0 black .. 1 white) of an `rgb(...)` computed colour."""
    parts = re.findall(r"\d+(?:\.\d+)?", css_color)
    assert len(parts) >= 3, css_color
    r, g, b = (float(part) / 255 for part in parts[:3])
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def typed(page, words: str) -> None:
    """Type `words` at the end of the page's document and wait until the server has them."""
    put_cursor(page, "end")
    page.keyboard.type(words)
    wait_saved(page)


def cut(document):
    return versions.version_cut(document_id=document.id)


def test_the_history_lists_versions_and_a_diff_names_who_wrote_each_change(server, owner, editor):
    named(editor, "Edith", "Stone")
    document = make_document(owner, title="Trip", share=[(editor, "editor")])
    with chromium() as browser:
        _, mine = open_editor(browser, server.url, session_cookie(owner), document)
        typed(mine, "Pack the tent\n")
        first = cut(document)
        _, theirs = open_editor(browser, server.url, session_cookie(editor), document)
        wait_text(theirs, "Pack the tent\n")
        put_cursor(theirs, "start")
        theirs.keyboard.press("End")
        for _ in "tent":
            theirs.keyboard.press("Shift+ArrowLeft")
        theirs.keyboard.type("stove")
        wait_saved(theirs)
        second = cut(document)
        assert second.text == "Pack the stove\n"

        page = signed_in_context(browser, server.url, session_cookie(owner)).new_page()
        page.goto(f"{server.url}/docs/{document.id}/history/")
        rows = page.locator(".version-row")
        expect(rows).to_have_count(2)
        expect(rows.first.locator(".author-chip")).to_have_text(["Edith Stone"])
        expect(rows.nth(1).locator(".author-chip")).to_have_text(["olivia"])
        screenshot(page, "history-list")

        rows.first.get_by_role("link", name="Changes").click()
        expect(page).to_have_url(f"{server.url}/docs/{document.id}/history/{second.id}/?compare=previous")
        expect(page.locator("body[data-attributed=true]")).to_be_attached(timeout=SYNC_TIMEOUT)
        added = page.locator("#diff ins")
        removed = page.locator("#diff del")
        expect(added).to_have_text(["stove"])
        expect(added.first).to_have_attribute("title", "Edith Stone")
        expect(removed).to_have_text(["tent"])
        expect(removed.first).to_have_attribute("title", "olivia (removed text they wrote)")
        # Underlined in the author's colour, the colour of their chip.
        chip = page.locator(".diff-head .author-chip", has_text="Edith Stone")
        colour = chip.evaluate("chip => getComputedStyle(chip).getPropertyValue('--author').trim()")
        assert added.first.evaluate("e => e.style.getPropertyValue('--author')") == colour
        screenshot(page, "history-diff")

        page.get_by_role("link", name="History", exact=True).click()
        rows.nth(1).get_by_role("link", name="Compare with now").click()
        expect(page.locator("body[data-attributed=true]")).to_be_attached(timeout=SYNC_TIMEOUT)
        expect(page.locator("#diff ins")).to_have_text(["stove"])
        expect(page.locator("#diff del")).to_have_text(["tent"])
        assert first.text == "Pack the tent\n"


def test_a_restore_while_someone_types_keeps_what_they_type(server, owner, editor):
    document = make_document(owner, title="Minutes", text="Agreed: ship on Friday\n", share=[(editor, "editor")])
    good = cut(document)
    with chromium() as browser:
        _, typist = open_editor(browser, server.url, session_cookie(editor), document)
        typed(typist, "VANDALISM\n")

        _, restorer = open_editor(browser, server.url, session_cookie(owner), document)
        wait_text(restorer, "Agreed: ship on Friday\nVANDALISM\n")
        restorer.goto(f"{server.url}/docs/{document.id}/history/")
        restorer.locator(".version-row").last.get_by_role("link", name="View").click()
        expect(restorer.locator(".version-text")).to_have_text("Agreed: ship on Friday\n")
        restorer.get_by_role("link", name="Restore this version").click()
        expect(restorer.get_by_role("heading", name="Restore the version of")).to_be_visible()

        put_cursor(typist, "end")
        restorer.get_by_role("button", name="Restore").click()
        expect(restorer.locator(".messages")).to_contain_text("Restored the version of")
        wait_synced(restorer)
        # The typist goes on while the restore reaches their page, a few keys at a time.
        for chunk in ("Also", ": bri", "ng ca", "ke"):
            typist.keyboard.type(chunk)
            typist.wait_for_timeout(150)
        wait_saved(typist)
        wait_contains(restorer, "Also: bring cake")
        final = text_of(typist)
        wait_text(restorer, final)
        assert final == "Agreed: ship on Friday\nAlso: bring cake", final
        screenshot(restorer, "history-restored")
    restore = Restore.objects.get()
    assert (restore.version, restore.by) == (good, owner)


def test_the_history_pages_fit_a_phone_and_the_dark_scheme(server, owner):
    long = "y" * 100
    document = make_document(owner, title="x" * 200, text="A line much longer than a phone is wide, " * 8 + "\n")
    first = cut(document)
    versions.version_cut(document_id=document.id, kind="named", name=long)
    cookie = session_cookie(owner)
    with chromium() as browser:
        for scheme in ("light", "dark"):
            page = signed_in_context(browser, server.url, cookie, viewport=PHONE, color_scheme=scheme).new_page()
            for name, path in (
                ("list", f"/docs/{document.id}/history/"),
                ("version", f"/docs/{document.id}/history/{first.id}/"),
                ("diff", f"/docs/{document.id}/history/{first.id}/?compare=previous"),
                ("restore", f"/docs/{document.id}/history/{first.id}/restore/"),
            ):
                page.goto(server.url + path)
                assert page_width(page) <= PHONE["width"], (scheme, name, page_width(page))
                screenshot(page, f"history-phone-{scheme}-{name}")
            page.goto(server.url + f"/docs/{document.id}/history/{first.id}/?compare=previous")
            # history.js swaps the server's diff for the attributed one: read the latter.
            expect(page.locator("body[data-attributed=true]")).to_be_attached(timeout=SYNC_TIMEOUT)
            background = page.locator("#diff ins").first.evaluate("e => getComputedStyle(e).backgroundColor")
            if scheme == "dark":
                assert luminance(background) < 0.1, background
            else:
                assert luminance(background) > 0.7, background
