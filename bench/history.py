"""History: what authorship adds to a commit, and how fast versions open, diff, restore and load.

- a keystroke's commit in a room (check, append, apply, relay), with the authorship
  check and without it, in alternating rounds of the same run;
- the History page of a document with 100 versions, and a version of a 20,000-character
  document viewed, diffed against the version before and against now, and its
  attributed changes (the JSON the page's script reads), through Django's test client;
- a restore of a one-paragraph change in that document: the update's size and the time;
- opening a room whose archive (the log's merged snapshot, deleted text included) is 1 MB;
- bytes stored per 10,000 keystrokes: the live state a joining client gets, and the archive.

  .venv/bin/python bench/history.py [--database-url sqlite:///...] [--rounds 10]

By default a fresh SQLite file in the system's temporary directory; a PostgreSQL URL
(its database name must contain "bench": it is dropped and recreated) measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_history_bench.sqlite3'}"
WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float]) -> str:
    return f"p50 {p(values, 0.5) * 1000:.2f} ms, p95 {p(values, 0.95) * 1000:.2f} ms"


def paragraph_text(rng: random.Random, chars: int) -> str:
    lines, total = [], 0
    while total < chars:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:chars]


# -- the commit -----------------------------------------------------------------


async def commit_rounds(owner, rounds: int, per_round: int) -> tuple[list[float], list[float]]:
    from pycrdt import Doc, Text

    from collab.realtime.room import Room
    from collab.yjs import protocol
    from tests.helpers import sender_and_listener

    with_check: list[float] = []
    without: list[float] = []
    authored = Room._authored

    async def passthrough(self, batch, caught_up=False):
        return batch

    async with sender_and_listener(owner) as (document, room, sender, listener):
        typist = Doc()
        typed: list[bytes] = []
        typist.observe(lambda event: typed.append(event.update))
        text = typist.get("content", type=Text)

        async def keystrokes(into: list[float]) -> None:
            for _ in range(per_round):
                text.insert(len(text), random.choice("abcdefgh "))
                frame = protocol.sync_update(typed.pop())
                started = time.perf_counter()
                await room.receive(sender, frame)
                await room.drain()
                into.append(time.perf_counter() - started)

        await keystrokes([])  # warm up: the typist's client id is claimed here, once
        for round_ in range(rounds):
            for check in (round_ % 2 == 0, round_ % 2 == 1):
                Room._authored = authored if check else passthrough
                await keystrokes(with_check if check else without)
        Room._authored = authored
    return with_check, without


# -- pages --------------------------------------------------------------------


def document_with_versions(owner, *, count: int, chars: int, rng: random.Random):
    """A document edited `count` times by paragraphs, a version cut after each edit."""
    from pycrdt import Doc, Text

    from collab.history.authorship import author_for_user, claim
    from collab.history.versions import version_cut
    from collab.models import Document
    from collab.storage import persistence

    document = Document.objects.create(owner=owner, title=f"History of {count}")
    doc = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    claim(document.id, [doc.client_id], author_for_user(owner))
    text.insert(0, paragraph_text(rng, chars))
    for i in range(count):
        if i:
            lines = str(text).split("\n")
            at = rng.randrange(len(lines))
            offset = len("\n".join(lines[:at]).encode())
            text.insert(offset, f"\nedit {i}: " + " ".join(rng.choice(WORDS) for _ in range(6)))
        persistence.append(document.id, updates, [owner.pk] * len(updates))
        updates.clear()
        version_cut(document_id=document.id)
    return document


def timed_get(client, url: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return times


def pages(owner, rng: random.Random, repeat: int) -> list[str]:
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from collab.models import Version

    rows = []
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    hundred = document_with_versions(owner, count=100, chars=2_000, rng=rng)
    large = document_with_versions(owner, count=5, chars=20_000, rng=rng)
    version = Version.objects.filter(document=large).order_by("-created", "-id")[1]
    try:
        history = reverse("document_history", args=[hundred.id])
        view = reverse("version", args=[large.id, version.id])
        changes = reverse("version_changes", args=[large.id, version.id])
    except NoReverseMatch:
        return ["History pages: not built yet"]
    rows.append(f"History page, 100 versions (first page): {ms(timed_get(client, history, repeat))}")
    rows.append(f"A version of 20,000 characters, viewed: {ms(timed_get(client, view, repeat))}")
    for compare in ("previous", "current"):
        times = timed_get(client, f"{view}?compare={compare}", repeat)
        rows.append(f"  diffed against {'the version before' if compare == 'previous' else 'now'}: {ms(times)}")
        times = timed_get(client, f"{changes}?compare={compare}", repeat)
        rows.append(f"  its attributed changes (JSON), against {compare}: {ms(times)}")
    return rows


def restore_cost(owner, rng: random.Random, repeat: int) -> list[str]:
    from collab.history.authorship import author_for_user
    from collab.history.restore import version_restore
    from collab.history.versions import version_cut
    from collab.models import Document, DocumentUpdate
    from collab.storage import persistence

    sizes, times = [], []
    for _ in range(repeat):
        document = document_with_versions(owner, count=1, chars=20_000, rng=rng)
        good = document.versions.get()
        # One paragraph rewritten, as a vandal would.
        from pycrdt import Doc, Text

        doc = Doc()
        text = doc.get("content", type=Text)
        for update in persistence.read_since(document.id).all_updates():
            doc.apply_update(update)
        updates: list[bytes] = []
        doc.observe(lambda event, sink=updates: sink.append(event.update))
        lines = str(text).split("\n")
        start = len("\n".join(lines[:20]).encode()) + 1
        del text[start : start + len(lines[20].encode())]
        text.insert(start, "This paragraph was rewritten by someone who should not have.")
        persistence.append(document.id, updates, [owner.pk] * len(updates))
        version_cut(document_id=document.id)
        started = time.perf_counter()
        made = version_restore(version=good, by=owner, author=author_for_user(owner))
        times.append(time.perf_counter() - started)
        sizes.append(len(bytes(DocumentUpdate.objects.get(document=document, seq=made.seq).data)))
        assert persistence.document_text(document.id) == good.text
        Document.objects.filter(pk=document.pk).delete()
    return [
        f"Restore of a one-paragraph change, 20,000 characters: update {statistics.median(sizes):.0f} bytes "
        f"(max {max(sizes)}), time {ms(times)} (a version cut first, the diff, the append)"
    ]


async def room_load(document_id, repeat: int) -> list[float]:
    from collab.realtime.room import Room

    times = []
    for _ in range(repeat):
        room = Room(document_id)
        started = time.perf_counter()
        await room.start()
        times.append(time.perf_counter() - started)
        await room.stop(compact=False)
    return times


def archive_and_keystrokes(owner, rng: random.Random, repeat: int) -> list[str]:
    from pycrdt import Doc, Text

    from collab.models import Document, DocumentSnapshot
    from collab.storage import persistence
    from collab.yjs.crdt import new_doc

    rows = []
    # 10,000 keystrokes: typing with corrections (one in five deletes), committed one by one.
    document = Document.objects.create(owner=owner, title="Keystrokes")
    doc = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for _ in range(10_000):
        if len(text) > 20 and rng.random() < 0.2:
            del text[len(text) - 1 : len(text)]
        else:
            text.insert(len(text), rng.choice("abcdefghij  \n"))
    persistence.append(document.id, updates, [owner.pk] * len(updates))
    log_bytes = sum(len(u) for u in updates)
    persistence.compact(document.id)
    archive = len(bytes(DocumentSnapshot.objects.get(document=document).data))
    live, _ = new_doc()
    live.apply_update(bytes(DocumentSnapshot.objects.get(document=document).data))
    rows.append(
        f"10,000 keystrokes ({len(text)} characters left): log entries {log_bytes:,} B before compaction; "
        f"archive (merged snapshot) {archive:,} B; live state a joining client gets {len(live.get_update()):,} B"
    )
    # A room whose archive is 1 MB: a document rewritten many times over.
    big = Document.objects.create(owner=owner, title="Archive of 1 MB")
    doc = Doc()
    text = doc.get("content", type=Text)
    updates.clear()
    doc.observe(lambda event: updates.append(event.update))
    while True:
        text.insert(len(text), paragraph_text(rng, 20_000))
        del text[0 : len(text) - 5_000]
        merged = persistence.merge_stored(updates)
        if len(merged) >= 1_000_000:
            break
    persistence.append(big.id, [merged], [owner.pk])
    persistence.compact(big.id)
    size = len(bytes(DocumentSnapshot.objects.get(document=big).data))
    times = asyncio.run(room_load(big.id, repeat))
    rows.append(f"Opening a room whose archive is {size / 1e6:.2f} MB ({len(text):,} characters live): {ms(times)}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of each kind of commit")
    parser.add_argument("--repeat", type=int, default=40, help="requests per page measured")
    args = parser.parse_args(argv)
    os.environ.setdefault("COLLAB_RATE_MESSAGES", "100000")  # one typist, as fast as the room goes
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection

    owner = get_user_model().objects.create_user(username="history")
    rng = random.Random(29)
    print(f"database: {connection.vendor}")
    with_check, without = asyncio.run(commit_rounds(owner, args.rounds, 200))
    added = statistics.median(with_check) / statistics.median(without) - 1
    print(
        f"Commit of one keystroke, with authorship: {ms(with_check)}; without: {ms(without)}; "
        f"added by authorship (medians): {added * 100:+.1f} %"
    )
    for row in pages(owner, rng, args.repeat):
        print(row)
    for row in restore_cost(owner, rng, max(5, args.repeat // 4)):
        print(row)
    for row in archive_and_keystrokes(owner, rng, args.repeat):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
