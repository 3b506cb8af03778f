"""Search over many documents: the documents page's query as one person with 10,000 documents.

One account owns 9,000 documents and was given 1,000 more; 10,000 others belong to
other people. Each text is 3,000 characters of common words; a rare word sits in 10
of them. Each search is timed as the documents page runs it (the count and the first
page of 50, collab.access.documents.document_listing), and the page itself through
Django's test client. The baseline, in the same run, is how search worked before the
stored, indexed text: each document's newest version, its words computed at query time.

  .venv/bin/python bench/search.py [--database-url postgres://...bench] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.history import paragraph_text  # noqa: E402
from bench.run import reset_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = f"postgres://{os.environ.get('USER', 'root')}@127.0.0.1:5432/collab_search_bench"
SEARCHES = {
    "a rare word": "albatross",
    "a word in every text": "lorem",
    "two words, prefixes": "dolo temp",
    "a title's middle": "ote 77",
    "nothing (the plain list)": "",
}


def populate(owner, other, documents: int) -> None:
    from django.db import connection

    from collab.models import Document, Membership, Role, Version

    rng = random.Random(7)
    texts = [paragraph_text(rng, 3_000) for _ in range(50)]  # reused: the words, not the bytes, matter
    made = []
    for i in range(2 * documents):
        text = texts[i % len(texts)] + (" albatross" if i % 1000 == 0 else "")
        who = owner if i < documents * 9 // 10 else other
        made.append(Document(owner=who, title=f"Note {i}", search_text=text))
    Document.objects.bulk_create(made, batch_size=1000)
    shared = [d for d in made[documents * 9 // 10 :]][: documents // 10]
    Membership.objects.bulk_create([Membership(document=d, user=owner, role=Role.EDITOR) for d in shared])
    Version.objects.bulk_create([Version(document=d, seq=0, text=d.search_text) for d in made], batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE collab_document SET search_vector = to_tsvector('simple'::regconfig, search_text)")
        cursor.execute("VACUUM ANALYZE")


def old_matching(found, search: str):
    """Search as it was: the newest version's text, its words computed per row."""
    from django.contrib.postgres.search import SearchQuery, SearchVector
    from django.db.models import OuterRef, Q, Subquery

    from collab.models import Version

    latest = Version.objects.filter(document=OuterRef("pk")).order_by("-created", "-id").values("text")[:1]
    found = found.alias(content=SearchVector(Subquery(latest), config="simple"))
    query = SearchQuery(search, config="simple", search_type="websearch")
    return found.filter(Q(title__icontains=search) | Q(content=query))


def timed_listing(owner, search: str, repeat: int, matching=None) -> tuple[list[float], int]:
    from django.core.paginator import Paginator

    from collab.access import documents

    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        if matching is None:
            found = documents.document_listing(user=owner, search=search)
        else:
            found = matching(documents.document_listing(user=owner), search)
        page = Paginator(found, 50).get_page(1)
        count = page.paginator.count
        list(page)
        times.append(time.perf_counter() - started)
    return times, count


def at(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated (PostgreSQL)")
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    users = get_user_model().objects
    owner, other = users.create_user(username="searcher"), users.create_user(username="other")
    started = time.perf_counter()
    populate(owner, other, args.documents)
    print(
        f"database: {connection.vendor}; {args.documents:,} documents of one account "
        f"({2 * args.documents:,} in all) made in {time.perf_counter() - started:.0f} s"
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    print("| search | matches | indexed p50 / p95 ms | page p50 / p95 ms | before p50 / p95 ms | ratio p50 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, search in SEARCHES.items():
        indexed, count = timed_listing(owner, search, args.repeat)
        page = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            assert client.get("/", {"q": search}).status_code == 200
            page.append(time.perf_counter() - began)
        if search:
            before, _ = timed_listing(owner, search, 3, matching=old_matching)  # seconds each: three will do
            old = f"{at(before, 0.5):.1f} / {at(before, 0.95):.1f}"
            ratio = f"{at(indexed, 0.5) / at(before, 0.5):.2f}×"
        else:
            old = ratio = "-"
        print(
            f"| {label} (`{search}`) | {count:,} | {at(indexed, 0.5):.1f} / {at(indexed, 0.95):.1f} | "
            f"{at(page, 0.5):.1f} / {at(page, 0.95):.1f} | {old} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
