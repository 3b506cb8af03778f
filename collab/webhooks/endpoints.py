"""People's webhook endpoints: made, changed, turned on and off, deleted, their secret
rotated. The Webhooks page, the admin and code all call these functions."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from collab.models import Document, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from collab.webhooks import guard
from collab.webhooks.events import forget_wanted
from collab.webhooks.signing import new_secret

PREVIOUS_SECRET_LASTS = timedelta(hours=24)  # after a rotation, the old secret still signs this long
LOG_LENGTH = 50  # deliveries an endpoint's page shows
KEEP = object()  # endpoint_update's `document` when it stays as it is


class Invalid(Exception):
    """An endpoint that may not be saved as asked; `field` says which part is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check_url(url: str) -> None:
    """Invalid unless collab may call `url` (no private or loopback target, etc.: guard)."""
    try:
        guard.checked_address(url)
    except guard.Refused as exc:
        raise Invalid("url", f"This address may not be called: {exc}.") from None


def _checked(*, user, url: str, events: list[str], document: Document | None) -> list[str]:
    check_url(url)
    known = set(WebhookEndpoint.Event.values)
    if not events:
        raise Invalid("events", "Choose at least one event.")
    if not set(events) <= known:
        raise Invalid("events", f"Unknown events: {', '.join(sorted(set(events) - known))}.")
    if document is not None and (document.owner_id != user.pk or document.trashed_at is not None):
        raise Invalid("document", "You can only add an endpoint for a document you own.")
    return [event for event in WebhookEndpoint.Event.values if event in events]  # one order, no repeats


def endpoint_create(*, user, url: str, events: list[str], document: Document | None = None) -> WebhookEndpoint:
    """A new active endpoint with a secret of its own; Invalid if the URL may not be called."""
    events = _checked(user=user, url=url, events=events, document=document)
    endpoint = WebhookEndpoint.objects.create(user=user, document=document, url=url, events=events, secret=new_secret())
    forget_wanted()
    return endpoint


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    document: Document | None | object = KEEP,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given (`document=None` means all the owner's documents). Turning an
    endpoint on again forgets why it was turned off and the failures counted."""
    if url is not None or events is not None or document is not KEEP:
        endpoint.events = _checked(
            user=endpoint.user,
            url=endpoint.url if url is None else url,
            events=endpoint.events if events is None else events,
            document=endpoint.document if document is KEEP else document,
        )
        if url is not None:
            endpoint.url = url
        if document is not KEEP:
            endpoint.document = document
    if active is True and not endpoint.active:
        endpoint.active, endpoint.disabled_reason, endpoint.failures = True, "", 0
    elif active is False:
        endpoint.active, endpoint.disabled_reason = False, ""
    endpoint.save()
    forget_wanted()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery log; deliveries waiting in the queue find nothing to do."""
    endpoint.delete()
    forget_wanted()


def secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; deliveries are signed with the old one too for 24 hours, so the
    receiver can switch to the new one in its own time."""
    endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
    endpoint.previous_until = timezone.now() + PREVIOUS_SECRET_LASTS
    endpoint.save(update_fields=["secret", "previous_secret", "previous_until"])
    return endpoint


def previous_secret_valid(endpoint: WebhookEndpoint) -> bool:
    return bool(endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > timezone.now())


def endpoints_for(*, user) -> QuerySet[WebhookEndpoint]:
    """A user's endpoints, newest first, each with `delivery_count`."""
    return (
        WebhookEndpoint.objects.filter(user=user)
        .select_related("document")
        .annotate(delivery_count=Count("deliveries"))
        .order_by("-created", "-pk")
    )


def endpoint_of(*, user, endpoint_id: int) -> WebhookEndpoint | None:
    """The endpoint if it is the user's, else None."""
    return WebhookEndpoint.objects.select_related("document").filter(pk=endpoint_id, user=user).first()


def delivery_of(*, user, delivery_id: int) -> WebhookDelivery | None:
    """The delivery if it was made for one of the user's endpoints, else None."""
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id, endpoint__user=user).first()


def deliveries_of(*, endpoint: WebhookEndpoint, limit: int = LOG_LENGTH) -> list[WebhookDelivery]:
    """The latest deliveries, newest first, each with `last_attempt` (None before the first)."""
    deliveries = list(
        endpoint.deliveries.order_by("-created", "-pk").prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("at", "pk"))
        )[:limit]
    )
    for delivery in deliveries:
        attempts = list(delivery.attempt_log.all())
        delivery.last_attempt = attempts[-1] if attempts else None
    return deliveries
