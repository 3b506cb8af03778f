"""Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-id`,
`webhook-timestamp` and `webhook-signature`, which receivers check with stock
libraries (the `standardwebhooks` package, Svix's)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from django.utils import timezone
from standardwebhooks.webhooks import Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(*, message_id: str, body: str, secrets_: list[str], at: datetime | None = None) -> dict[str, str]:
    """The headers of one delivery; several secrets (during a rotation) give several signatures."""
    at = at or timezone.now()
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_ if secret)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "collab-webhooks",
    }
