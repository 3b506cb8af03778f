"""Headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.db import connections
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from collab.access import sharing
from collab.models import Document
from collab.storage import persistence
from collab.yjs.crdt import new_doc
from tests.servers import ROOT

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        raise RuntimeError("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM
    # calls are still plain synchronous calls, so tell Django they are safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # Connections opened under Playwright's loop live in their own context: close them here.
            connections.close_all()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# The page runs under a strict Content-Security-Policy (no eval): every predicate
# given to wait_for_function is a function, never an expression string.

SYNC_TIMEOUT = 10_000  # ms: a bound on convergence generous enough for a loaded CI machine
VIEWPORT = {"width": 1280, "height": 760}


def named(user, first: str, last: str):
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])
    return user


def make_document(owner, *, title="Project notes", text="", share=()) -> Document:
    document = Document.objects.create(owner=owner, title=title)
    if text:
        doc, ytext = new_doc()
        ytext += text
        persistence.append(document.id, [doc.get_update()])
    for user, role in share:
        sharing.membership_set(document=document, user=user, role=role)
    return document


def signed_in_context(browser, base_url: str, cookie: str, **options):
    """A browser context holding the session `cookie` (from session_cookie, made before the browser starts)."""
    context = browser.new_context(**{"viewport": VIEWPORT, **options})
    name, value = cookie.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": base_url}])
    return context


def open_editor(browser, base_url: str, cookie: str, document, **options):
    """A new signed-in context with the document open and synced; (context, page)."""
    context = signed_in_context(browser, base_url, cookie, **options)
    page = context.new_page()
    page.goto(f"{base_url}/docs/{document.id}/")
    wait_synced(page)
    return context, page


def wait_synced(page, timeout=SYNC_TIMEOUT):
    try:
        page.wait_for_function(
            "() => document.body.dataset.connection === 'connected' && document.body.dataset.synced === 'true'",
            timeout=timeout,
        )
    except PlaywrightTimeout:
        state = page.evaluate("() => JSON.stringify(document.body.dataset)")
        raise AssertionError(f"the page did not connect and sync within {timeout} ms: {state}") from None


def wait_saved(page, timeout=SYNC_TIMEOUT):
    page.wait_for_function("() => document.body.dataset.saved === 'true'", timeout=timeout)


def text_of(page) -> str:
    return page.evaluate("window.collab.text()")


def wait_text(page, expected: str, timeout=SYNC_TIMEOUT):
    page.wait_for_function("expected => window.collab.text() === expected", arg=expected, timeout=timeout)


def wait_contains(page, *parts: str, timeout=SYNC_TIMEOUT):
    page.wait_for_function(
        "parts => parts.every(p => window.collab.text().includes(p))", arg=list(parts), timeout=timeout
    )


def export(base_url: str, cookie: str, document) -> str:
    request = urllib.request.Request(f"{base_url}/docs/{document.id}/export.md", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode("utf-8")


def wait_export(base_url: str, cookie: str, document, expected: str, timeout: float = SYNC_TIMEOUT / 1000) -> str:
    """The export once it equals `expected` (the database may lag the browsers by a commit); else the last one."""
    deadline = time.monotonic() + timeout
    while True:
        text = export(base_url, cookie, document)
        if text == expected or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def editor_content(page):
    return page.locator(".cm-content")


def put_cursor(page, where: str):
    """Focus the editor and move the cursor to the start or the end of the document."""
    editor_content(page).click()
    page.keyboard.press("Control+Home" if where == "start" else "Control+End")


def type_interleaved(page_a, text_a: str, page_b, text_b: str, chunk: int = 3):
    """Both pages type at once: alternate small chunks, never waiting for the other side."""
    for i in range(0, max(len(text_a), len(text_b)), chunk):
        if text_a[i : i + chunk]:
            page_a.keyboard.type(text_a[i : i + chunk])
        if text_b[i : i + chunk]:
            page_b.keyboard.type(text_b[i : i + chunk])


def avatar(page, name: str):
    return page.locator(f'#presence [role="listitem"][data-name="{name}"]')


# The page's copy of a document in IndexedDB (y-indexeddb's `updates` store), read
# in the page. A database deleted a moment ago may still be listed; opening it
# waits for the deletion, then finds it empty (no `updates` store).
_READ_LOCAL_COPY = """async (name) => {
    if (!(await indexedDB.databases()).some((d) => d.name === name)) return null;
    const done = (request) => new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    const db = await done(indexedDB.open(name));
    try {
        if (!db.objectStoreNames.contains("updates")) return null;
        const updates = await done(db.transaction("updates").objectStore("updates").getAll());
        return updates.map((update) => new TextDecoder().decode(update)).join("");
    } finally {
        db.close();
    }
}"""


def local_copy(page, document) -> str | None:
    """The updates this browser keeps of `document` (IndexedDB `collab-doc-<uuid>`), decoded
    as UTF-8 so the text typed in them can be found; None when the database is gone."""
    return page.evaluate(_READ_LOCAL_COPY, f"collab-doc-{document.id}")


def wait_local_copy_deleted(page, document, timeout: float = 10) -> None:
    """Wait until this browser no longer lists the IndexedDB database of `document`.

    Polled from here: wait_for_function takes a returned promise for a truthy value.
    """
    name = f"collab-doc-{document.id}"
    deadline = time.monotonic() + timeout
    while page.evaluate("async (name) => (await indexedDB.databases()).some((d) => d.name === name)", name):
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is still in this browser's IndexedDB after {timeout} s")
        page.wait_for_timeout(100)
