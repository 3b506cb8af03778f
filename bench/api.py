"""The HTTP API and webhooks: request latency, and how soon a receiver hears of a change.

- API calls through Django's test client (the whole view, auth and throttle included,
  without the network): list documents, read one's content, replace it, append to it,
  create a document with Markdown;
- a webhook's lag: from creating a document to a receiver on loopback having the
  signed `document.created` (queued in the worker's threads, as without Redis).
  `document.changed` is debounced by design (2 s without a change, at least every 10 s).

  .venv/bin/python bench/api.py [--database-url sqlite:///...] [--repeat 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.history import paragraph_text  # noqa: E402
from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_api_bench.sqlite3'}"


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms"


def timed(call, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - started)
        assert response.status_code < 300, (response.status_code, response.content[:200])
    return times


def api_latency(owner, repeat: int) -> list[str]:
    import random

    from django.test import Client

    from collab.api.tokens import token_create

    raw = token_create(user=owner, name="bench", scopes=["documents:read", "documents:write"])[1]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")
    rng = random.Random(31)
    text = paragraph_text(rng, 5_000)
    made = client.post("/api/v1/documents", {"title": "API bench", "content": text}, content_type="application/json")
    url = f"/api/v1/documents/{made.json()['id']}/content"
    for i in range(50):
        client.post("/api/v1/documents", {"title": f"filler {i}"}, content_type="application/json")
    rows = [
        f"GET /documents (51 documents): {percentiles(timed(lambda: client.get('/api/v1/documents'), repeat))}",
        f"GET content (5,000 characters): {percentiles(timed(lambda: client.get(url), repeat))}",
    ]
    counter = iter(range(10**9))

    def replace():
        n = next(counter)
        return client.put(url, text.replace("lorem", f"lorem{n}", 1), content_type="text/markdown")

    rows.append(f"PUT content (one word changed, live edit): {percentiles(timed(replace, repeat))}")
    rows.append(
        "POST content (append a line): "
        + percentiles(timed(lambda: client.post(url, "one more line\n", content_type="text/markdown"), repeat // 4))
    )
    rows.append(
        "POST /documents with Markdown: "
        + percentiles(
            timed(
                lambda: client.post(
                    "/api/v1/documents",
                    {"title": "made", "content": "# Made\n\nBy a script."},
                    content_type="application/json",
                ),
                repeat // 4,
            )
        )
    )
    return rows


def lags_to_receiver(owner, event: str, act, repeat: int) -> list[float]:
    """Seconds from each `act(i)` to a receiver on loopback having one more `event`."""
    from django.conf import settings

    from collab.models import WebhookEndpoint
    from collab.webhooks import events
    from collab.webhooks.signing import new_secret
    from tests.test_webhooks import Receiver

    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = True
    settings.COLLAB_WEBHOOK_QUEUE = "thread"
    receiver = Receiver()
    endpoint = WebhookEndpoint.objects.create(user=owner, url=receiver.url, events=[event], secret=new_secret())
    events.forget_wanted()
    lags = []
    try:
        for i in range(repeat):
            count = len(receiver.received)
            started = time.perf_counter()
            act(i)
            while len(receiver.received) == count:
                time.sleep(0.0005)
            lags.append(time.perf_counter() - started)
    finally:
        receiver.close()
        endpoint.delete()
        events.forget_wanted()
    return lags


def webhook_lag(owner, repeat: int) -> str:
    from collab.models import Document

    lags = lags_to_receiver(
        owner, "document.created", lambda i: Document.objects.create(owner=owner, title=f"hooked {i}"), repeat
    )
    return f"Webhook document.created, from the commit to the receiver: {percentiles(lags)}"


def changed_lag(owner, repeat: int) -> str:
    """From an API write to a receiver having `document.changed`: the 2 s of quiet the
    debounce waits for, then the queue's look and the delivery."""
    from django.test import Client

    from collab.api.tokens import token_create

    raw = token_create(user=owner, name="bench-changed", scopes=["documents:read", "documents:write"])[1]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")
    made = client.post("/api/v1/documents", {"title": "changed"}, content_type="application/json").json()
    url = f"/api/v1/documents/{made['id']}/content"
    lags = lags_to_receiver(
        owner, "document.changed", lambda i: client.put(url, f"edit {i}\n", content_type="text/markdown"), repeat
    )
    return f"Webhook document.changed, from an API write to the receiver (2 s quiet by design): {percentiles(lags)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    os.environ.setdefault("COLLAB_API_RATE", "1000000/m")
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection

    owner = get_user_model().objects.create_user(username="api")
    print(f"database: {connection.vendor}")
    for row in api_latency(owner, args.repeat):
        print(row)
    print(webhook_lag(owner, max(20, args.repeat // 4)))
    print(changed_lag(owner, 10))
    return 0


if __name__ == "__main__":
    sys.exit(main())
