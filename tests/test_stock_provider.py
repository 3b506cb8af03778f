"""The stock y-websocket provider, in Chromium, on a document with comments and chat:
it never receives collab's extension messages (it would log "Unable to compute
message" for each) and keeps syncing text while others comment and chat."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

import pytest

from collab.models import Document
from collab.storage import persistence
from tests.browser import chromium, signed_in_context
from tests.conftest import session_cookie, until
from tests.helpers import stored
from tests.test_discussion import new_thread, say, talker, until_received

pytestmark = [pytest.mark.browser, pytest.mark.processes]

ROOT = Path(__file__).resolve().parent.parent


def in_thread(fn):
    """fn() on a thread of its own, for what may not run beside Playwright's event loop."""
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join(60)
    assert result, "it did not finish"
    return result[0]


@pytest.fixture(scope="module")
def stock_bundle(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("stock") / "provider.js"
    subprocess.run(
        [
            str(ROOT / "node_modules/.bin/esbuild"),
            str(ROOT / "tests/stock/provider.js"),
            "--bundle",
            f"--outfile={out}",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out.read_text()


def test_the_stock_provider_syncs_beside_comments_and_chat_and_logs_no_error(server, owner, editor, stock_bundle):
    document = Document.objects.create(owner=owner, title="With a stock client")
    from collab.access import sharing

    sharing.membership_set(document=document, user=editor, role="editor")
    cookie = session_cookie(editor)
    with chromium() as browser:
        context = signed_in_context(browser, server.url, cookie, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(f"{server.url}/healthz")
        page.add_script_tag(content=stock_bundle)
        ws_base = server.ws_url + "/ws/docs"
        page.evaluate(f"window.client = window.stockClient({ws_base!r}, {str(document.id) + '/'!r})")
        deadline = time.monotonic() + 10
        while not page.evaluate("window.client.state.synced"):
            assert time.monotonic() < deadline, "the stock provider did not sync"
            time.sleep(0.05)
        page.evaluate("window.client.type('typed by the stock provider. ')")

        async def comment_and_chat():
            olivia = await talker(server, document, owner, "olivia")
            await olivia.wait_for(lambda: "stock provider" in olivia.value())
            await olivia.send(say(new_thread(olivia, 0, 5, "A comment the stock client must not hear of")))
            await until_received(olivia, "thread")
            await olivia.send(say({"type": "chat.send", "body": "and a chat message"}))
            await until_received(olivia, "chat.message")
            olivia.insert(0, "Olivia: ")

            async def saved():
                return (await stored(document)).startswith("Olivia: ")

            assert await until(saved)
            await olivia.close()

        # Playwright's sync API holds this thread's event loop: the socket client runs in another.
        in_thread(lambda: asyncio.run(comment_and_chat()))
        deadline = time.monotonic() + 10
        while page.evaluate("window.client.text()") != "Olivia: typed by the stock provider. ":
            assert time.monotonic() < deadline, page.evaluate("window.client.text()")
            time.sleep(0.05)
        page.evaluate("window.client.type('more')")
        deadline = time.monotonic() + 10
        while not in_thread(lambda: persistence.document_text(document.id)).endswith("more"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # What it logs for a message type it does not know ("Unable to compute message"),
        # or anything else; the page's own favicon request is no concern of the provider.
        assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors
        assert page.evaluate("window.client.state.closes") == []
        context.close()
