"""Delivering one event to one endpoint: signed, timed, logged per attempt, retried.

Only a 2xx answer counts; redirects are not followed; each attempt has
COLLAB_WEBHOOK_TIMEOUT seconds. A failed attempt is tried again after each delay
of COLLAB_WEBHOOK_RETRIES in turn (about 9 hours in all by default); a 410 Gone,
or a URL that may not be called, stops at once and turns the endpoint off. After
COLLAB_WEBHOOK_DISABLE_AFTER deliveries in a row fail for good, the endpoint is
turned off and its page says why.
"""

from __future__ import annotations

import json
import logging
import secrets
import time

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from collab.infra import metrics
from collab.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from collab.webhooks import guard, signing

logger = logging.getLogger(__name__)


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def deliver(delivery_id: int) -> str:
    """One attempt (a queue's job); returns what became of the delivery."""
    try:
        return _deliver(delivery_id)
    finally:
        if settings.COLLAB_WEBHOOK_QUEUE != "rq":
            connection.close()  # a thread of ours, not a request: nobody else closes it


def _deliver(delivery_id: int) -> str:
    from collab.webhooks.queue import enqueue

    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "gone"
    endpoint = delivery.endpoint
    if not endpoint.active:
        return _finish(delivery, WebhookDelivery.Status.FAILED)
    body = json.dumps(delivery.payload, separators=(",", ":"))
    now = timezone.now()
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
        keys.append(endpoint.previous_secret)
    headers = signing.headers(message_id=delivery.message_id, body=body, secrets_=keys, at=now)
    started, status, answer, error = time.monotonic(), None, b"", ""
    try:
        status, answer = guard.post(endpoint.url, body.encode(), headers, settings.COLLAB_WEBHOOK_TIMEOUT)
    except guard.Refused as exc:
        error = f"refused: {exc}"
    except Exception as exc:  # the receiver is down, slow or rude: an attempt that failed
        error = repr(exc)[:300]
    WebhookAttempt.objects.create(
        delivery=delivery,
        status_code=status,
        duration_ms=round((time.monotonic() - started) * 1000),
        response=answer.decode("utf-8", "replace")[:1000],
        error=error,
    )
    delivery.attempts += 1
    delivery.save(update_fields=["attempts"])
    if status is not None and 200 <= status < 300:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failures=0)
        return _finish(delivery, WebhookDelivery.Status.SUCCEEDED)
    if status == 410 or error.startswith("refused"):
        _turn_off(endpoint, "the receiver answered 410 Gone" if status == 410 else error)
        return _finish(delivery, WebhookDelivery.Status.FAILED)
    retries = settings.COLLAB_WEBHOOK_RETRIES
    if delivery.attempts <= len(retries):
        metrics.WEBHOOKS.labels("retrying").inc()
        enqueue(delivery.pk, delay=retries[delivery.attempts - 1])
        return "retrying"
    failures = WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failures=F("failures") + 1)
    endpoint.refresh_from_db(fields=["failures"])
    if failures and endpoint.failures >= settings.COLLAB_WEBHOOK_DISABLE_AFTER:
        count = endpoint.failures
        _turn_off(endpoint, f"{count} deliveries in a row failed" if count > 1 else "a delivery failed for good")
    return _finish(delivery, WebhookDelivery.Status.FAILED)


def _finish(delivery: WebhookDelivery, status: str) -> str:
    metrics.WEBHOOKS.labels(status).inc()
    delivery.status, delivery.finished_at = status, timezone.now()
    delivery.save(update_fields=["status", "finished_at"])
    return status


def _turn_off(endpoint: WebhookEndpoint, reason: str) -> None:
    logger.warning("webhook %s turned off: %s", endpoint.pk, reason)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_reason=reason[:200])


def send_again(delivery: WebhookDelivery) -> WebhookDelivery:
    """The same event once more, as a new delivery (a receiver that was fixed)."""
    from collab.webhooks.queue import enqueue_on_commit

    again = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint, message_id=new_message_id(), event=delivery.event, payload=delivery.payload
    )
    enqueue_on_commit([again.pk])
    return again
