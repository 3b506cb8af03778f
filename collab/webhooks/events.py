"""The events: which endpoints want one, and the deliveries made for them.

Payloads are thin (ids, title, who, when, where to fetch the content):
{"type": "document.changed", "timestamp": "...", "data": {"document": {"id", "title",
"url", "content_url"}, ...}}.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from collab.models import Document, WebhookDelivery, WebhookEndpoint
from collab.webhooks.delivery import new_message_id
from collab.webhooks.queue import enqueue_on_commit

_wanted: tuple[float, set[str]] = (0.0, set())


def wanted() -> set[str]:
    """The events some active endpoint asks for (read at most every 5 s per process)."""
    global _wanted
    read_at, events = _wanted
    if time.monotonic() - read_at > 5:
        events = set()
        for listed in WebhookEndpoint.objects.filter(active=True).values_list("events", flat=True):
            events.update(listed)
        _wanted = (time.monotonic(), events)
    return events


def forget_wanted() -> None:
    global _wanted
    _wanted = (0.0, set())


def absolute(path: str) -> str:
    return settings.COLLAB_SITE_URL.rstrip("/") + path


def document_json(document: Document) -> dict:
    return {
        "id": str(document.pk),
        "title": document.title,
        "url": absolute(document.get_absolute_url()),
        "content_url": absolute(f"/api/v1/documents/{document.pk}/content"),
    }


def emit(event: str, document: Document, data: dict | None = None) -> list[WebhookDelivery]:
    """Deliveries of `event` to every active endpoint that asked for it (the document's
    own, and its owner's for all their documents), queued when the transaction commits."""
    if event not in wanted():
        return []
    # The owner's only: an endpoint for a document given away since stops hearing of it.
    endpoints = WebhookEndpoint.objects.filter(active=True, user_id=document.owner_id).filter(
        Q(document_id=document.pk) | Q(document__isnull=True)
    )
    payload = {
        "type": event,
        "timestamp": timezone.now().isoformat(),
        "data": {"document": document_json(document), **(data or {})},
    }
    made = [
        WebhookDelivery.objects.create(endpoint=endpoint, message_id=new_message_id(), event=event, payload=payload)
        for endpoint in endpoints
        if event in endpoint.events
    ]
    enqueue_on_commit([delivery.pk for delivery in made])
    return made
