"""document.changed, debounced across workers: one event after 2 s without a change,
and at least one every 10 s while changes go on, whichever workers saw them.

Each worker's ticker notes the documents its rooms changed and looks for the
ones that are due (`tick`); a row of DocumentChange per document stands for the
event, and the worker that deletes it sends it (on PostgreSQL, the others skip
the rows it has locked). A text written without a room (the API, an import, a
restore: `written`) is noted the same way, and the queue looks again once it is due,
in case no worker has a room open to do it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from collab.models import Document, DocumentChange, WebhookEndpoint
from collab.webhooks.events import emit, wanted
from collab.webhooks.queue import run

QUIET = timedelta(seconds=2)
AT_LEAST_EVERY = timedelta(seconds=10)
EVENT = WebhookEndpoint.Event.DOCUMENT_CHANGED


def tick(changed_ids, now=None) -> int:
    """The ticker's call: note what changed, send what is due; how many events went out."""
    if EVENT not in wanted():
        return 0
    now = now or timezone.now()
    for document_id in changed_ids:
        updated = DocumentChange.objects.filter(document_id=document_id).update(last_at=now)
        if not updated:
            DocumentChange.objects.get_or_create(document_id=document_id, defaults={"first_at": now, "last_at": now})
    return flush(now)


def written(document_id) -> None:
    """A text written other than in a room: noted as a room's change, looked at when due."""
    if EVENT in wanted():
        tick([document_id])  # may send others' events that are due; this one is due later
        run(flush, delay=QUIET.total_seconds() + 0.1)


def flush(now=None) -> int:
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        due = DocumentChange.objects.filter(Q(last_at__lte=now - QUIET) | Q(first_at__lte=now - AT_LEAST_EVERY))
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True)
        for change in list(due):
            # Whoever deletes the row sends the event: one worker, whatever the database.
            if not DocumentChange.objects.filter(pk=change.pk, first_at=change.first_at).delete()[0]:
                continue
            document = Document.objects.filter(pk=change.document_id, trashed_at__isnull=True).first()
            if document is not None:
                emit(EVENT, document, {"changed_since": change.first_at.isoformat()})
                sent += 1
    return sent
