"""Personal API tokens: shown once, kept as a SHA-256 digest and their last four characters.

A token reads `collab_pat_` and 43 URL-safe characters (32 random bytes): the
prefix lets secret scanners recognise a leaked one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from collab.models import ApiToken

PREFIX = "collab_pat_"
LAST_USED_EVERY = timedelta(minutes=1)  # how stale `last_used_at` may get: one write a minute at most


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user, name: str, scopes: list[str], expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token and its text, which is not kept anywhere: show it once."""
    unknown = set(scopes) - set(ApiToken.Scope.values)
    if unknown or not scopes:
        raise ValueError(f"unknown or no scopes: {sorted(unknown)}")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, digest=digest_of(raw), last4=raw[-4:], scopes=sorted(set(scopes)), expires_at=expires_at
    )
    return token, raw


def token_for(raw: str) -> ApiToken | None:
    """The usable token with this text (its owner active), or None."""
    if not raw.startswith(PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest_of(raw)).first()
    if token is None or not token.is_usable() or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())


def tokens_of(*, user):
    return ApiToken.objects.filter(user=user).order_by("-created")
