"""How the pages look, in headless Chromium: a phone's width, the dark scheme, remote cursors."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from collab.access import documents, sharing
from tests.browser import (
    chromium,
    editor_content,
    make_document,
    named,
    open_editor,
    screenshot,
    signed_in_context,
    wait_synced,
)
from tests.conftest import make_user, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.processes]

PHONE = {"width": 360, "height": 740}
LONG_TITLE = "x" * 200  # the longest title, with no space to wrap at
SAMPLE = """# Launch checklist

- [x] Freeze the branch
- [ ] Run the load test

> Roll out gradually.

Contact `ops`.
"""


def page_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def background(page, selector: str) -> str:
    """The computed background colour of the first element matching `selector` (in the editor's shadow root too)."""
    return page.evaluate(
        """(selector) => {
          const element = document.querySelector(selector)
            || document.getElementById("editor")?.shadowRoot?.querySelector(selector);
          return getComputedStyle(element).backgroundColor;
        }""",
        selector,
    )


def luminance(css_color: str) -> float:
    """The relative luminance (0 black .. 1 white) of an `rgb(...)` computed colour."""
    r, g, b = (int(part) / 255 for part in re.findall(r"\d+(?:\.\d+)?", css_color)[:3])
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


# -- every page at 360 px ------------------------------------------------------------


def test_every_page_fits_a_phone_360_px_wide(server, owner, viewer):
    """No page scrolls sideways at 360 px: pages for visitors, for people signed in, the editor, the admin."""
    named(owner, "Olivia", "Hart")
    document = make_document(owner, title=LONG_TITLE, text=SAMPLE, share=[(viewer, "viewer")])
    make_document(owner, title="Launch checklist")
    documents.document_trash(document=make_document(owner, title=LONG_TITLE[::-1]), actor=owner)
    link = sharing.link_create(document=document, role="viewer", expires_at=None, created_by=owner)
    admin = make_user("ada", staff=True)
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    reset = {"uidb64": urlsafe_base64_encode(force_bytes(owner.pk)), "token": default_token_generator.make_token(owner)}
    doc = {"document_id": document.id}
    pages = {
        None: [
            ("landing", reverse("home")),
            ("login", reverse("login")),
            ("signup", reverse("signup")),
            ("password reset", reverse("password_reset")),
            ("password reset sent", reverse("password_reset_done")),
            ("new password", reverse("password_reset_confirm", kwargs=reset)),
            ("password reset complete", reverse("password_reset_complete")),
            ("guest name", reverse("share_link", args=[link.token])),
            ("invalid link", reverse("share_link", args=["no-such-link"])),
            ("admin login", reverse("admin:login")),
        ],
        session_cookie(owner): [
            ("documents", reverse("home")),
            ("account", reverse("account")),
            ("password change", reverse("password_change")),
            ("editor (owner)", reverse("document", kwargs=doc)),
            ("share", reverse("document_share", kwargs=doc)),
            ("rename", reverse("document_rename", kwargs=doc)),
            ("delete", reverse("document_delete", kwargs=doc)),
            ("trash", reverse("trash")),
            ("not found", "/docs/00000000-0000-0000-0000-000000000000/"),
        ],
        session_cookie(viewer): [
            ("editor (viewer)", reverse("document", kwargs=doc)),
            ("report", reverse("document_report", kwargs=doc)),
        ],
        session_cookie(admin): [
            ("admin document list", reverse("admin:collab_document_changelist")),
            ("admin document", reverse("admin:collab_document_change", args=[document.pk])),
        ],
    }
    missing = ("not found", "invalid link")  # pages that answer 404
    widths = {}
    with chromium() as browser:
        for cookie, visits in pages.items():
            if cookie:
                context = signed_in_context(browser, server.url, cookie, viewport=PHONE)
            else:
                context = browser.new_context(viewport=PHONE)
            page = context.new_page()
            for name, path in visits:
                response = page.goto(server.url + path)
                assert response.status == (404 if name in missing else 200), (name, response.status)
                if name.startswith("editor"):
                    wait_synced(page)
                widths[name] = page_width(page)
                screenshot(page, f"phone-{name.replace(' ', '-').replace('(', '').replace(')', '')}")
            context.close()

        # A refused form (no CSRF cookie) shows the site's 403 page, which must fit as well.
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(server.url + reverse("login"))
        context.clear_cookies()
        page.get_by_label("Username").fill("olivia")
        page.get_by_label("Password").fill("anything")
        with page.expect_navigation() as refused:
            page.get_by_role("button", name="Log in").click()
        assert refused.value.status == 403
        widths["forbidden (CSRF)"] = page_width(page)
        screenshot(page, "phone-forbidden")

    too_wide = {name: width for name, width in widths.items() if width > PHONE["width"]}
    assert not too_wide, f"pages wider than {PHONE['width']} px: {too_wide}"
    assert len(widths) == sum(len(visits) for visits in pages.values()) + 1


def test_on_a_phone_the_editor_gives_the_title_the_width_and_keeps_every_action(server, owner, viewer):
    document = make_document(owner, title=LONG_TITLE, text=SAMPLE, share=[(viewer, "viewer")])
    cookies = {"owner": session_cookie(owner), "viewer": session_cookie(viewer)}
    with chromium() as browser:
        for who, title in (("owner", "#doc-title"), ("viewer", "#doc-title-static")):
            _, page = open_editor(browser, server.url, cookies[who], document, viewport=PHONE)
            # The title has the first row beside the brand (and a viewer's badge): it was
            # cut at a third of the screen, 115 px of 360, with room to spare.
            assert page.locator(title).bounding_box()["width"] >= 0.45 * PHONE["width"], who
            actions = page.locator(".doc-actions a, .doc-actions button")
            assert actions.count() >= 2
            for i in range(actions.count()):
                if not actions.nth(i).is_visible():
                    continue  # not for this person (a viewer has no Comment button)
                box = actions.nth(i).bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (who, actions.nth(i).inner_text())
            assert page_width(page) <= PHONE["width"]
            screenshot(page, f"phone-editor-{who}")


# -- the dark scheme -------------------------------------------------------------------


def test_the_dark_scheme_darkens_the_pages_the_editor_and_the_preview(server, owner):
    document = make_document(owner, text=SAMPLE)
    cookie = session_cookie(owner)
    seen = {}
    with chromium() as browser:
        for scheme in ("light", "dark"):
            context = signed_in_context(browser, server.url, cookie, color_scheme=scheme)
            page = context.new_page()
            page.goto(server.url + reverse("home"))
            seen[scheme, "documents"] = luminance(background(page, "body"))
            page.goto(f"{server.url}/docs/{document.id}/")
            wait_synced(page)
            if page.locator("#preview-toggle").get_attribute("aria-pressed") != "true":
                page.locator("#preview-toggle").click()
            expect(page.locator("#preview h1")).to_have_text("Launch checklist")
            seen[scheme, "editor page"] = luminance(background(page, "body"))
            seen[scheme, "editor"] = luminance(background(page, ".cm-editor"))
            seen[scheme, "preview"] = luminance(background(page, "#preview-pane"))
            text = page.evaluate(
                "() => getComputedStyle(document.getElementById('editor').shadowRoot"
                ".querySelector('.cm-content')).color"
            )
            seen[scheme, "editor text"] = luminance(text)
            screenshot(page, f"editor-{scheme}")
            context.close()
    for part in ("documents", "editor page", "editor", "preview"):
        assert seen["light", part] > 0.8, (part, seen)
        assert seen["dark", part] < 0.05, (part, seen)
    assert seen["dark", "editor text"] > 0.6  # light text on the dark editor


# -- remote cursors ----------------------------------------------------------------------

LABEL_OPACITY = """(name) => {
  const root = document.getElementById("editor").shadowRoot;
  const label = [...root.querySelectorAll(".cm-ySelectionInfo")].find((l) => l.textContent === name);
  return label ? getComputedStyle(label).opacity : null;
}"""


def wait_label(page, name: str, opacity: str, timeout: int = 10_000):
    page.wait_for_function(f"(name) => ({LABEL_OPACITY})(name) === {opacity!r}", arg=name, timeout=timeout)


def test_a_remote_cursor_shows_its_name_when_it_arrives_or_moves_and_on_hover_otherwise_a_thin_caret(
    server, owner, editor
):
    named(owner, "Olivia", "Hart")
    named(editor, "Edith", "Moreau")
    document = make_document(owner, text=SAMPLE, share=[(editor, "editor")])
    cookie_a, cookie_b = session_cookie(owner), session_cookie(editor)
    with chromium() as browser:
        _, page_a = open_editor(browser, server.url, cookie_a, document)
        _, page_b = open_editor(browser, server.url, cookie_b, document)
        editor_content(page_a).get_by_text("Roll out gradually.").click()

        # Edith arrives in the text: Olivia sees her name over her cursor...
        editor_content(page_b).get_by_text("Run the load test").click()
        wait_label(page_a, "Edith Moreau", "1")
        screenshot(page_a, "remote-cursor-arrived")
        # ...for a moment, then only a thin caret in her colour, off the line above.
        wait_label(page_a, "Edith Moreau", "0")
        caret = page_a.locator(".cm-ySelectionCaret")
        assert caret.bounding_box()["width"] <= 3
        screenshot(page_a, "remote-cursor-quiet")

        # Hovering the caret shows the name; moving away hides it again.
        caret.hover()
        wait_label(page_a, "Edith Moreau", "1")
        page_a.mouse.move(5, 400)
        wait_label(page_a, "Edith Moreau", "0")

        # When she moves, and when she types, the name shows again.
        editor_content(page_b).get_by_text("Contact").click()
        page_b.keyboard.press("End")  # typing at the end of a line leaves her cursor's awareness state as it was
        wait_label(page_a, "Edith Moreau", "1")
        wait_label(page_a, "Edith Moreau", "0")
        page_b.keyboard.type(" Please")
        wait_label(page_a, "Edith Moreau", "1")
        # Her own cursor has no label on her page.
        assert page_b.evaluate(LABEL_OPACITY, "Edith Moreau") is None
