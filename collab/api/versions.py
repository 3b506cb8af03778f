"""Versions (collab.history), for those who may see a document's history."""

from __future__ import annotations

from uuid import UUID

from django.core.paginator import Paginator
from ninja import Router
from ninja.errors import HttpError

from collab.api.auth import document_as, need
from collab.api.schemas import Error, VersionPage, VersionText
from collab.history.versions import history_visible, versions_of
from collab.models import Version

router = Router(tags=["versions"])
PER_PAGE = 50


def version_out(version: Version, *, text: bool = False) -> dict:
    out = {
        "id": version.pk,
        "created": version.created,
        "kind": version.kind,
        "name": version.name,
        "authors": [author["name"] for author in version.authors],
        "chars_added": version.chars_added,
        "chars_removed": version.chars_removed,
    }
    if text:
        out["text"] = version.text
    return out


def visible(request, document_id):
    need(request, "documents:read")
    document, role = document_as(request, document_id)
    if not history_visible(document=document, role=role):
        raise HttpError(403, "the owner keeps this document's history to its editors")
    return document


@router.get("/documents/{document_id}/versions", response={200: VersionPage, 403: Error, 404: Error})
def version_list(request, document_id: UUID, page: int = 1):
    document = visible(request, document_id)
    paginator = Paginator(versions_of(document.pk).defer("text", "snapshot", "state_vector"), PER_PAGE)
    current = paginator.get_page(page)
    return {
        "items": [version_out(v) for v in current],
        "count": paginator.count,
        "page": current.number,
        "pages": paginator.num_pages,
    }


@router.get("/documents/{document_id}/versions/{version_id}", response={200: VersionText, 403: Error, 404: Error})
def version_read(request, document_id: UUID, version_id: int):
    document = visible(request, document_id)
    version = Version.objects.filter(document=document, pk=version_id).first()
    if version is None:
        raise HttpError(404, "no such version")
    return version_out(version, text=True)
