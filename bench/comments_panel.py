"""A document with 500 comment threads in the editor: how long until its comments panel
holds them all, in headless Chromium.

One worker on a fresh SQLite database. The document has 20,000 characters and 500
threads of three comments each on stretches of its text. The page is opened five
times; each time, from the navigation's start, the times at which the text is
synced and at which the comments panel holds all 500 threads (a MutationObserver
set before the page's scripts run).

  .venv/bin/python bench/comments_panel.py [--threads 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.history import paragraph_text  # noqa: E402
from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_panel_bench.sqlite3'}"

OBSERVE = """
(() => {
  window.panelTimes = {};
  const want = %d;
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("comments-list");
    new MutationObserver(() => {
      if (!window.panelTimes.full && list.children.length >= want) window.panelTimes.full = performance.now();
    }).observe(list, { childList: true });
  });
})();
"""


def make_document(threads: int, rng: random.Random):
    from django.contrib.auth import get_user_model
    from pycrdt import Assoc, Doc, StickyIndex, Text

    from collab.discussion import service
    from collab.history.authorship import author_for_user
    from collab.storage import persistence
    from tests.browser import make_document as stored_document
    from tests.conftest import session_cookie

    user = get_user_model().objects.create_user(username="panel")
    document = stored_document(user, title="500 threads", text=paragraph_text(rng, 20_000))
    doc = Doc()
    text = doc.get("content", type=Text)
    for update in persistence.read_since(document.id).all_updates():
        doc.apply_update(update)
    author = author_for_user(user)
    length = len(text)  # ASCII: characters and bytes alike
    for i in range(threads):
        start = rng.randrange(length - 40)
        end = start + rng.randint(5, 30)
        anchor = {
            "start": StickyIndex.new(text, start, Assoc.AFTER).to_json(),
            "end": StickyIndex.new(text, end, Assoc.BEFORE).to_json(),
        }
        content = str(text)
        made = service.thread_create(
            document_id=document.id,
            author=author,
            anchor=anchor,
            quote=content[start:end],
            prefix=content[max(0, start - 30) : start],
            suffix=content[end : end + 30],
            body=f"Thread {i}: " + paragraph_text(rng, 120),
        )
        for _ in range(2):
            service.comment_create(
                document_id=document.id, author=author, thread=made["thread"]["id"], body=paragraph_text(rng, 80)
            )
    return session_cookie(user), str(document.id)


def measure(browser, base_url: str, cookie: str, document_id: str, threads: int) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    name, value = cookie.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": base_url}])
    context.add_init_script(OBSERVE % threads)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/docs/{document_id}/")
        deadline = time.monotonic() + 120
        synced_at = None
        while True:
            state = page.evaluate(
                "() => ({synced: document.body.dataset.synced === 'true', now: performance.now(), "
                "full: window.panelTimes.full || null})"
            )
            if state["synced"] and synced_at is None:
                synced_at = state["now"]
            if state["full"] is not None and synced_at is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the panel did not fill: {state}")
            time.sleep(0.02)
        return {"synced": synced_at, "full": state["full"]}
    finally:
        context.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    args = parser.parse_args(argv)
    setup_django(reset_database(args.database_url))
    from tests.browser import chromium
    from tests.servers import Server

    cookie, document_id = make_document(args.threads, random.Random(30))
    results = []
    with Server(log_name="bench-panel") as server, chromium() as browser:
        for _ in range(args.runs):
            results.append(measure(browser, server.url, cookie, document_id, args.threads))
    synced = sorted(r["synced"] for r in results)
    full = sorted(r["full"] for r in results)
    print(
        f"{args.threads} threads (x3 comments) on 20,000 characters, {args.runs} page loads, ms from navigation start:"
    )
    print(f"  text synced: median {synced[len(synced) // 2]:.0f}, max {synced[-1]:.0f}")
    print(f"  comments panel holding every thread: median {full[len(full) // 2]:.0f}, max {full[-1]:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
