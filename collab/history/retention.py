"""Thinning old versions: named ones are kept for good, automatic ones ever more sparsely.

Every automatic version of the last day is kept; older than that, the newest of
each hour for the first 30 days, then the newest of each day. The latest version
of a document is always kept: the next cut compares against it. Only version rows
are deleted; the update log and connections are not touched, so this runs while
people edit (`manage.py thin_history`, daily from cron: docs/history.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from collab.models import Version

KEEP_ALL = timedelta(days=1)
HOURLY = timedelta(days=30)


def bucket(created: datetime, now: datetime) -> tuple | None:
    """The span a version falls in (one is kept per span); None: kept regardless."""
    age = now - created
    if age < KEEP_ALL:
        return None
    if age < HOURLY:
        return ("hour", created.replace(minute=0, second=0, microsecond=0))
    return ("day", created.date())


def doomed(versions: list[Version], now: datetime) -> list[int]:
    """Ids of the automatic versions to delete, of one document's versions (newest first)."""
    kept: set = set()
    gone = []
    for index, version in enumerate(versions):
        if index == 0 or version.kind == Version.Kind.NAMED:
            continue
        span = bucket(version.created, now)
        if span is None:
            continue
        if span in kept:
            gone.append(version.pk)
        else:
            kept.add(span)
    return gone


def versions_thin(*, now: datetime | None = None, document_id=None) -> int:
    """Delete the versions the rules above let go, of one document or all; how many."""
    now = now or timezone.now()
    documents = Version.objects.values_list("document_id", flat=True).distinct()
    if document_id is not None:
        documents = [document_id]
    deleted = 0
    for doc_id in list(documents):
        versions = list(
            Version.objects.filter(document_id=doc_id).only("pk", "kind", "created").order_by("-created", "-id")
        )
        ids = doomed(versions, now)
        if ids:
            deleted += Version.objects.filter(pk__in=ids).delete()[0]
    return deleted
