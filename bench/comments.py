"""Comments: do anchors survive editing, what does a comment cost others' keystrokes,
and how long does a document with many threads take to load.

- anchors: 200 threads on random stretches of a 20,000-character document, then
  1,000 random edits (typing, deleting, pasting, some across whole anchored
  stretches); every thread must resolve, attached (a non-empty range) or detached
  (its text gone), none missing;
- a keystroke's commit and relay to five connections in a room, alone and while
  another connection of the room sends one comment a second (alternating rounds in
  the same run, in one process, without sockets);
- the discussion a page is sent when it opens a document with 500 threads of three
  comments each and 500 chat messages: the time to build it and its size.

  .venv/bin/python bench/comments.py [--database-url sqlite:///...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.history import ms, paragraph_text  # noqa: E402
from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_comments_bench.sqlite3'}"


def anchors_after_edits(rng: random.Random, threads: int = 200, edits: int = 1000) -> str:
    from pycrdt import Assoc, Doc, StickyIndex, Text

    from collab.discussion import anchors

    doc = Doc()
    text = doc.get("content", type=Text)
    text += paragraph_text(rng, 20_000)
    made = []
    for _ in range(threads):
        start = rng.randrange(len(text) - 50)
        end = start + rng.randint(3, 40)
        made.append(
            (
                anchors.check_position(StickyIndex.new(text, start, Assoc.AFTER).to_json()),
                anchors.check_position(StickyIndex.new(text, end, Assoc.BEFORE).to_json()),
            )
        )
    for _ in range(edits):
        length, roll = len(text), rng.random()
        if roll < 0.5:
            text.insert(rng.randrange(length), rng.choice(["a", "the ", "\n", "word "]))
        elif roll < 0.8:
            at = rng.randrange(length - 5)
            del text[at : at + rng.randint(1, 5)]
        elif roll < 0.9:
            at = rng.randrange(length - 200)
            del text[at : at + rng.randint(20, 200)]  # whole anchored stretches go
        else:
            text.insert(rng.randrange(length), paragraph_text(rng, 300))  # a paste
    attached = detached = missing = 0
    for start, end in made:
        a, b = anchors.resolve(text, start), anchors.resolve(text, end)
        if a is None or b is None:
            missing += 1
        elif a < b:
            attached += 1
        else:
            detached += 1
    return (
        f"Anchors after {edits:,} random edits: {threads} threads, {attached} attached, {detached} detached "
        f"(their text deleted), {missing} missing"
    )


async def keystrokes_beside_comments(owner, rounds: int, per_round: int) -> tuple[list[float], list[float]]:
    from dataclasses import replace

    from channels.db import database_sync_to_async
    from pycrdt import Assoc, Doc, StickyIndex, Text

    from collab.models import Document
    from collab.realtime.registry import RoomRegistry
    from collab.yjs import protocol
    from tests.helpers import FakeConnection

    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Comments bench")
    registry = RoomRegistry()
    connections = [FakeConnection(owner.pk) for _ in range(6)]
    for conn in connections:
        conn.seat = replace(conn.seat, extensions=True)  # pages ask for extension messages
    room = await registry.join(document.id, connections[0], connections[0].seat)
    for conn in connections[1:]:
        await registry.join(document.id, conn, conn.seat)
    typist, talker = connections[0], connections[1]
    doc = Doc()
    typed: list[bytes] = []
    doc.observe(lambda event: typed.append(event.update))
    text = doc.get("content", type=Text)
    text += "Something to comment on, and then some more text.\n"
    await room.receive(typist, protocol.sync_update(typed.pop()))
    await room.drain()
    anchor = {
        "start": StickyIndex.new(text, 0, Assoc.AFTER).to_json(),
        "end": StickyIndex.new(text, 9, Assoc.BEFORE).to_json(),
    }
    alone: list[float] = []
    beside: list[float] = []

    async def comments(stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            message = {"type": "thread.create", "anchor": anchor, "quote": "Something", "prefix": "", "suffix": ""}
            await room.receive(talker, protocol.extension_frame({**message, "body": f"comment {n}"}))
            n += 1
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass

    async def keystrokes(into: list[float]) -> None:
        for _ in range(per_round):
            text.insert(len(text), random.choice("abcdefgh "))
            frame = protocol.sync_update(typed.pop())
            started = time.perf_counter()
            await room.receive(typist, frame)
            await room.drain()
            into.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)

    for round_ in range(rounds):
        for with_comments in (round_ % 2 == 0, round_ % 2 == 1):
            stop = asyncio.Event()
            task = asyncio.create_task(comments(stop)) if with_comments else None
            await keystrokes(beside if with_comments else alone)
            stop.set()
            if task:
                await task
    for conn in connections:
        await registry.leave(room, conn)
    return alone, beside


def large_discussion(owner, rng: random.Random, repeat: int) -> str:
    from collab.discussion import service
    from collab.history.authorship import author_for_user
    from collab.models import Document

    document = Document.objects.create(owner=owner, title="500 threads")
    author = author_for_user(owner)
    anchor = {"start": {"tname": "content", "assoc": 0}, "end": {"tname": "content", "assoc": 0}}
    for i in range(500):
        made = service.thread_create(
            document_id=document.id,
            author=author,
            anchor=anchor,
            quote=f"quote {i}",
            prefix="",
            suffix="",
            body="x" * 80,
        )
        for _ in range(2):
            service.comment_create(document_id=document.id, author=author, thread=made["thread"]["id"], body="y" * 80)
        service.chat_send(document_id=document.id, author=author, body=f"chat {i}")
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        state = service.discussion_state(document.id)
        times.append(time.perf_counter() - started)
        size = len(json.dumps(state, separators=(",", ":")))
    return f"A document with 500 threads (1,500 comments): the discussion a page is sent, {ms(times)}, {size:,} bytes"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    os.environ.setdefault("COLLAB_RATE_MESSAGES", "100000")
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection

    owner = get_user_model().objects.create_user(username="comments")
    rng = random.Random(30)
    print(f"database: {connection.vendor}")
    print(anchors_after_edits(rng))
    alone, beside = asyncio.run(keystrokes_beside_comments(owner, args.rounds, 100))
    added = statistics.median(beside) / statistics.median(alone) - 1
    print(
        f"A keystroke's commit and relay to 5 pages: alone {ms(alone)}; beside 1 comment/s: {ms(beside)} "
        f"(medians {added * 100:+.1f} %, p99 {sorted(alone)[int(0.99 * len(alone))] * 1000:.2f} / "
        f"{sorted(beside)[int(0.99 * len(beside))] * 1000:.2f} ms)"
    )
    print(large_discussion(owner, rng, 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
