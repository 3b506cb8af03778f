"""How long appends to a large document wait while its log is compacted.

Builds a document of about 1 MiB, then, for each round, appends 500 small edits
(the default COLLAB_COMPACT_EVERY) and compacts them while another connection
keeps appending to the same document; prints how long each compaction took and
the slowest append made meanwhile.

Usage:
  .venv/bin/python bench/compaction.py [--rounds 5] [--database-url postgres://root@127.0.0.1:5432/collab_bench]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import DEFAULT_DATABASE_URL, reset_database, setup_django  # noqa: E402

DOCUMENT_BYTES = 1024 * 1024
EDITS_PER_ROUND = 500


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    args = parser.parse_args(argv)
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection

    from collab.models import Document
    from collab.storage import persistence
    from collab.yjs.crdt import new_doc

    owner = get_user_model().objects.create_user("bench-compaction")
    document = Document.objects.create(owner=owner, title="compaction")
    doc, text = new_doc()
    text.insert(0, "x" * DOCUMENT_BYTES)
    persistence.append(document.id, [doc.get_update()])
    persistence.compact(document.id)

    def edit(at: int) -> bytes:
        before = doc.get_state()
        text.insert(at, "hello")
        return doc.get_update(before)

    def appender(stop: threading.Event, waits: list[float]) -> None:
        try:
            while not stop.is_set():
                update = edit(0)
                started = time.perf_counter()
                persistence.append(document.id, [update])
                waits.append(time.perf_counter() - started)
                time.sleep(0.001)
        finally:
            connection.close()

    print(f"{connection.vendor}: {DOCUMENT_BYTES // 1024} KiB document, {EDITS_PER_ROUND} entries per compaction")
    print("round | compaction ms | appends meanwhile | slowest append ms")
    for round_no in range(1, args.rounds + 1):
        for i in range(EDITS_PER_ROUND):
            persistence.append(document.id, [edit(i * 7 % 1000)])
        waits: list[float] = []
        stop = threading.Event()
        thread = threading.Thread(target=appender, args=(stop, waits))
        thread.start()
        time.sleep(0.05)
        started = time.perf_counter()
        persistence.compact(document.id)
        took = time.perf_counter() - started
        time.sleep(0.02)
        stop.set()
        thread.join()
        print(f"{round_no} | {took * 1000:.1f} | {len(waits)} | {max(waits) * 1000:.1f}")
    assert persistence.document_text(document.id) == str(text)


if __name__ == "__main__":
    main()
