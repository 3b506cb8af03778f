"""Who wrote what, in the editor: the "Authors" toggle colours each person's text in
their presence colour and names them on hover; a paste is the paster's; the choice
is remembered; everyone connected is told of a restore; a page that writes under
another person's name stops with 4422 and offers a way out."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from collab.history import restore, versions
from collab.history.authorship import author_for_user
from collab.models import Version
from tests.browser import (
    SYNC_TIMEOUT,
    avatar,
    chromium,
    editor_content,
    make_document,
    named,
    open_editor,
    put_cursor,
    screenshot,
    text_of,
    type_interleaved,
    wait_contains,
    wait_saved,
    wait_synced,
    wait_text,
)
from tests.conftest import session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]

OLD = "Notes from before.\n"  # written by no one the server knows: no colour

# Each coloured run of the editor: its text, the name on hover, and the colour of
# its underline (the person's colour on a light page).
RUNS = """() => {
  const root = document.getElementById("editor").shadowRoot;
  return [...root.querySelectorAll(".cm-author")].map((span) => ({
    text: span.textContent,
    title: span.title,
    underline: (getComputedStyle(span).boxShadow.match(/rgba?\\([^)]*\\)/) || [""])[0],
  }));
}"""


def runs(page) -> list[dict]:
    return page.evaluate(RUNS)


def text_by(page, name: str) -> str:
    return "".join(run["text"] for run in runs(page) if run["title"] == name)


def wait_text_by(page, name: str, *parts: str, timeout: float = SYNC_TIMEOUT):
    """Wait until the runs named `name` hold each of `parts`."""
    deadline = page.evaluate("Date.now()") + timeout
    while not all(part in (written := text_by(page, name)) for part in parts):
        if page.evaluate("Date.now()") > deadline:
            raise AssertionError(f"{name}'s runs hold {written!r}, not all of {parts}")
        page.wait_for_timeout(50)


def avatar_color(page, name: str) -> str:
    return avatar(page, name).evaluate("a => getComputedStyle(a).backgroundColor")


def paste(page, text: str):
    """`text` on the clipboard, then Ctrl+V in the editor (which has the focus)."""
    origin = page.evaluate("() => location.origin")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    page.keyboard.press("ControlOrMeta+V")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_authors_colours_each_persons_text_in_their_presence_colour_names_them_and_stays_on(server, owner, editor):
    named(owner, "Olivia", "Hart")
    named(editor, "Edith", "Moreau")
    document = make_document(owner, title="Minutes", text=OLD, share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        toggle_a = page_a.get_by_role("button", name="Authors")
        expect(toggle_a).to_have_attribute("aria-pressed", "false")  # off by default
        assert runs(page_a) == []

        put_cursor(page_a, "start")
        put_cursor(page_b, "end")
        type_interleaved(page_a, "Olivia opens. ", page_b, "Edith closes.")
        for page in (page_a, page_b):
            wait_saved(page)
        wait_text(page_b, text_of(page_a))

        toggle_a.click()
        expect(toggle_a).to_have_attribute("aria-pressed", "true")
        wait_text_by(page_a, "Olivia Hart", "Olivia opens. ")
        wait_text_by(page_a, "Edith Moreau", "Edith closes.")
        colors = {run["title"]: run["underline"] for run in runs(page_a)}
        assert set(colors) == {"Olivia Hart", "Edith Moreau"}  # the old text is nobody's
        assert OLD.strip() not in "".join(run["text"] for run in runs(page_a))
        # Each person's colour is the one of their avatar in the presence bar, and they differ.
        assert colors["Olivia Hart"] == avatar_color(page_a, "Olivia Hart")
        assert colors["Edith Moreau"] == avatar_color(page_a, "Edith Moreau")
        assert colors["Olivia Hart"] != colors["Edith Moreau"]
        # Hovering a run names its author.
        edith_run = page_a.locator(".cm-author", has_text="Edith").first
        edith_run.hover()
        expect(edith_run).to_have_attribute("title", "Edith Moreau")
        screenshot(page_a, "authors-two-people")

        # Edith copies Olivia's words and pastes them: the pasted copy is Edith's.
        page_b.keyboard.press("Enter")
        paste(page_b, "Quoting: Olivia opens.")
        wait_contains(page_a, "Quoting: Olivia opens.")
        wait_text_by(page_a, "Edith Moreau", "Quoting: Olivia opens.")
        assert text_by(page_a, "Olivia Hart") == "Olivia opens. "

        # Olivia's own new text is hers at once, before the server has it.
        put_cursor(page_a, "end")
        page_a.keyboard.type(" Olivia again.")
        wait_text_by(page_a, "Olivia Hart", "Olivia again.")

        # Edith never turned it on: her page shows no colours.
        expect(page_b.get_by_role("button", name="Authors")).to_have_attribute("aria-pressed", "false")
        assert runs(page_b) == []

        # The choice survives a reload.
        wait_saved(page_a)
        page_a.reload()
        wait_synced(page_a)
        expect(toggle_a).to_have_attribute("aria-pressed", "true")
        wait_text_by(page_a, "Olivia Hart", "Olivia opens. ", "Olivia again.")
        wait_text_by(page_a, "Edith Moreau", "Edith closes.", "Quoting: Olivia opens.")

        # Turned off: no colours, and it stays off.
        toggle_a.click()
        expect(toggle_a).to_have_attribute("aria-pressed", "false")
        assert runs(page_a) == []
        page_a.reload()
        wait_synced(page_a)
        expect(toggle_a).to_have_attribute("aria-pressed", "false")
        assert runs(page_a) == []

        # On a phone the top bar still fits, the toggle within the screen.
        toggle_a.click()
        page_a.set_viewport_size({"width": 360, "height": 740})
        wait_text_by(page_a, "Edith Moreau", "Edith closes.")
        box = toggle_a.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
        assert page_width(page_a) <= 360
        screenshot(page_a, "authors-phone")


def test_the_authors_colours_read_on_a_dark_page(server, owner):
    named(owner, "Olivia", "Hart")
    document = make_document(owner, title="Night notes")
    cookie = session_cookie(owner)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie, document, color_scheme="dark")
        put_cursor(page, "start")
        page.keyboard.type("Written at night.")
        page.get_by_role("button", name="Authors").click()
        wait_text_by(page, "Olivia Hart", "Written at night.")
        run = page.locator(".cm-author").first
        # The text keeps the dark theme's light colour; the tint behind it stays dark.
        text = run.evaluate("s => getComputedStyle(s).color")
        tint = run.evaluate("s => getComputedStyle(s).backgroundColor")
        assert luminance(text) > 0.6, text
        assert luminance(tint) < 0.3, tint
        screenshot(page, "authors-dark")


def luminance(css: str) -> float:
    """Relative luminance of an rgb()/rgba() colour (alpha ignored: tints are measured over black)."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)[:4]]
    r, g, b = numbers[:3]
    alpha = numbers[3] if len(numbers) > 3 else 1.0

    def channel(c: float) -> float:
        c = c * alpha / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_everyone_connected_is_told_who_restored_which_version(server, owner, editor):
    named(owner, "Olivia", "Hart")
    named(editor, "Edith", "Moreau")
    document = make_document(owner, title="Plans", text="First plan.\n", share=[(editor, "editor")])
    old = versions.version_cut(document_id=document.id)
    cookie = session_cookie(editor)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie, document, timezone_id="Europe/Paris")
        put_cursor(page, "end")
        page.keyboard.type("Second plan.")
        wait_saved(page)
        page.get_by_role("button", name="Authors").click()
        wait_text_by(page, "Edith Moreau", "Second plan.")

        restore.version_restore(version=old, by=owner, author=author_for_user(owner))

        notice = page.get_by_role("status").filter(has_text="restored")
        at = old.created.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
        expect(notice).to_have_text(re.compile(rf"Olivia Hart restored the version of {at}\.\s*Dismiss"))
        wait_text(page, "First plan.\n")
        expect(page.locator("#connection-status")).to_have_text("Connected")  # an edit like any other
        screenshot(page, "authors-restored")
        page.get_by_role("button", name="Dismiss").click()
        expect(notice).to_be_hidden()

        # Undone by restoring the version cut just before: the text it brings back is the restorer's.
        before = Version.objects.get(document=document, kind=Version.Kind.BEFORE_RESTORE)
        restore.version_restore(version=before, by=owner, author=author_for_user(owner))
        wait_text(page, "First plan.\nSecond plan.")
        expect(notice).to_be_visible()
        wait_text_by(page, "Olivia Hart", "Second plan.")
        assert text_by(page, "Edith Moreau") == ""


def test_a_page_writing_under_another_persons_client_id_stops_with_4422_and_offers_a_way_out(server, owner, editor):
    document = make_document(owner, title="Minutes", text="Minutes\n", share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        put_cursor(page_a, "end")
        page_a.keyboard.type("Olivia's line.")
        wait_saved(page_a)
        olivias_id = page_a.evaluate("window.collab.doc.clientID")

        _, page_b = open_editor(browser, server.url, cookie_b, document)
        # Edith's page writes under Olivia's client id (as a copy Olivia left in this
        # browser's IndexedDB would): the server refuses it.
        page_b.evaluate("id => { window.collab.doc.clientID = id; }", olivias_id)
        put_cursor(page_b, "end")
        page_b.keyboard.type(" Not Olivia.")

        notice = page_b.locator("#connection-notice")
        expect(notice).to_contain_text("started under another person's name", timeout=SYNC_TIMEOUT)
        expect(notice).not_to_contain_text("at most")  # no size limits: this is not about size
        expect(notice.get_by_role("link", name="Download a copy of my text")).to_be_visible()
        expect(page_b.locator("body")).to_have_attribute("data-close-code", "4422")
        expect(page_b.locator("#connection-status")).to_have_text("Disconnected")
        screenshot(page_b, "authors-4422")
        # It does not reconnect (and so is not refused again and again).
        page_b.wait_for_timeout(1500)
        expect(page_b.locator("#connection-status")).to_have_text("Disconnected")
        assert "Not Olivia" not in text_of(page_a)

        notice.get_by_role("button", name="Discard my unsaved changes and reload").click()
        wait_synced(page_b)
        expect(page_b.locator("#connection-notice")).to_be_hidden()
        assert text_of(page_b) == "Minutes\nOlivia's line."
        put_cursor(page_b, "end")
        page_b.keyboard.type(" Edith's own.")
        wait_saved(page_b)
        wait_contains(page_a, "Olivia's line. Edith's own.")
        expect(editor_content(page_b)).to_contain_text("Edith's own.")
