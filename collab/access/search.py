"""Finding documents by their words: what is searched, and how.

Each document keeps `search_text`, its text as of the last few seconds of editing
(written by its rooms, collab.realtime.room, and by every write made without one,
collab.history.restore.text_write), and on PostgreSQL `search_vector`, that text's
words under a GIN index. A search matches a title containing the words as typed, or
a text holding every word, each as a prefix ("plan" finds "planning"); on
SQLite the text must contain the words as typed.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet, TextField, Value

from collab.models import Document

WORD = re.compile(r"[^\W_]+")  # letters and digits: PostgreSQL's parser splits at "_"


def searchable(text: str) -> str:
    """What of a text is searched: its start, so that its words fit a tsvector (1 MB)."""
    return text[: settings.COLLAB_SEARCH_CHARS]


def search_index(texts: dict) -> None:
    """{document id: its text now} -> stored for searching, without touching `updated`."""
    for document_id, text in texts.items():
        text = searchable(text)
        fields = {"search_text": text}
        if connection.vendor == "postgresql":
            fields["search_vector"] = SearchVector(Value(text, output_field=TextField()), config="simple")
        Document.objects.filter(pk=document_id).update(**fields)


def search_matching(found: QuerySet[Document], search: str) -> QuerySet[Document]:
    """The documents of `found` whose title or text match `search` (not blank)."""
    by_title = Q(title__icontains=search)
    if connection.vendor != "postgresql":
        return found.filter(by_title | Q(search_text__icontains=search))
    words = WORD.findall(search.lower())
    if not words:
        return found.filter(by_title)
    # Only word characters reach the query: nothing typed is read as tsquery syntax.
    query = SearchQuery(" & ".join(f"{word}:*" for word in words), config="simple", search_type="raw")
    return found.filter(by_title | Q(search_vector=query))
