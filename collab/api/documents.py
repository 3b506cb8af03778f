"""Documents and their content. Every rule is the pages' (collab.access): a token may
do what its owner may in the browser, within its scopes, and nothing more."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from ninja import Router, Status
from ninja.errors import HttpError

from collab.access import documents
from collab.access.identity import display_name
from collab.api.auth import document_as, need
from collab.api.schemas import DocumentIn, DocumentOut, DocumentPage, DocumentPatch, Error, Written
from collab.history.authorship import author_for_user
from collab.history.restore import Changed, text_write
from collab.models import Document, Role
from collab.storage import persistence
from collab.storage.render import markdown_html

router = Router(tags=["documents"])
READ, WRITE = "documents:read", "documents:write"
PER_PAGE = 50


def document_out(request, document: Document, role: Role) -> dict:
    return {
        "id": document.id,
        "title": document.title,
        "role": role.value,
        "owner": display_name(document.owner),
        "created": document.created,
        "updated": document.updated,
        "locked": document.locked,
        "url": request.build_absolute_uri(document.get_absolute_url()),
    }


def checked_text(text: str) -> str:
    """413 for content larger than a document may grow (its encoding weighs at least its text)."""
    if len(text.encode()) > settings.COLLAB_MAX_DOCUMENT_BYTES:
        raise HttpError(413, f"the content is over COLLAB_MAX_DOCUMENT_BYTES ({settings.COLLAB_MAX_DOCUMENT_BYTES})")
    return text


def writable(request, document_id) -> Document:
    need(request, WRITE)
    document, _ = document_as(request, document_id, Role.EDITOR)
    if document.locked:
        raise HttpError(423, "a moderator locked this document")
    return document


@router.get("/documents", response=DocumentPage, summary="Documents you own or were given, newest first")
def document_list(request, q: str = "", page: int = 1, sort: str = "updated", show: str = "all"):
    """As the documents page lists them: `q` searches titles and text, `sort` is
    "updated" or "title", `show` is "all", "mine" or "shared"."""
    need(request, READ)
    found = documents.document_listing(user=request.user, search=q, sort=sort, show=show)
    paginator = Paginator(found, PER_PAGE)
    current = paginator.get_page(page)
    items = [document_out(request, d, Role(d.member_role) if d.member_role else Role.OWNER) for d in current]
    return {"items": items, "count": paginator.count, "page": current.number, "pages": paginator.num_pages}


@router.post("/documents", response={201: DocumentOut, 413: Error}, summary="Create a document, with Markdown if given")
def document_create(request, body: DocumentIn):
    need(request, WRITE)
    text = checked_text(body.content)
    # Without a title, the first heading, followed as it changes (collab.access.documents).
    given = body.title.strip()
    title = given or documents.title_from_text(text) or ""
    document = documents.document_create(owner=request.user, title=title, follows_heading=not given)
    if text:
        text_write(document_id=document.pk, text=text, by=request.user, author=author_for_user(request.user))
    return Status(201, document_out(request, Document.objects.select_related("owner").get(pk=document.pk), Role.OWNER))


@router.get("/documents/{document_id}", response={200: DocumentOut, 404: Error})
def document_read(request, document_id: UUID):
    need(request, READ)
    document, role = document_as(request, document_id)
    return document_out(request, document, role)


@router.patch("/documents/{document_id}", response={200: DocumentOut, 403: Error, 404: Error})
def document_rename(request, document_id: UUID, body: DocumentPatch):
    need(request, WRITE)
    document, role = document_as(request, document_id, Role.OWNER)
    title = body.title.strip()[:200]
    if not title:
        raise HttpError(422, "a title may not be empty")
    return document_out(request, documents.document_rename(document=document, title=title), role)


@router.delete("/documents/{document_id}", response={204: None, 403: Error, 404: Error})
def document_delete(request, document_id: UUID):
    """Into its owner's trash, as the pages do (open editors are closed with 4404)."""
    need(request, WRITE)
    document, _ = document_as(request, document_id, Role.OWNER)
    documents.document_trash(document=document, actor=request.user)
    return Status(204, None)


@router.get(
    "/documents/{document_id}/content",
    response={200: None, 404: Error},
    openapi_extra={"responses": {200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}}},
    summary="The text, as Markdown; its ETag is the log position it was read at",
)
def content_read(request, document_id: UUID):
    need(request, READ)
    document, _ = document_as(request, document_id)
    text, seq = persistence.text_and_seq(document.pk)
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["ETag"] = f'"{seq}"'  # sent back as If-Match, a write goes only over this text
    return response


EXPORTS = {"md": "text/markdown", "html": "text/html", "txt": "text/plain"}


@router.get(
    "/documents/{document_id}/export",
    response={200: None, 404: Error},
    openapi_extra={
        "responses": {200: {"content": {kind: {"schema": {"type": "string"}} for kind in EXPORTS.values()}}}
    },
    summary="The document as a file: Markdown (md), a standalone web page, sanitised (html), or text (txt)",
)
def document_export(request, document_id: UUID, format: Literal["md", "html", "txt"] = "md"):  # noqa: A002
    need(request, READ)
    document, _ = document_as(request, document_id)
    content = persistence.document_text(document.pk)
    if format == "html":  # the page the editor's Export menu downloads (collab.pages.transfer.exported_page)
        body = mark_safe(markdown_html(content))  # noqa: S308 -- sanitised by nh3
        context = {"title": document.title, "body": body, "exported": timezone.now()}
        content = render_to_string("collab/export.html", context)
    return HttpResponse(content, content_type=f"{EXPORTS[format]}; charset=utf-8")


MARKDOWN_BODY = {"requestBody": {"content": {"text/markdown": {"schema": {"type": "string"}}}, "required": True}}
WRITTEN = {200: Written, 400: Error, 403: Error, 404: Error, 412: Error, 413: Error, 423: Error}


def body_text(request) -> str:
    try:
        return checked_text(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HttpError(400, "the body must be UTF-8 text") from None


def expected_seq(request) -> int | None:
    """The log position in If-Match (the ETag of a read), if any; 400 if it is not one."""
    value = request.headers.get("If-Match")
    if value is None:
        return None
    try:
        return int(value.strip().strip('"'))
    except ValueError:
        raise HttpError(400, 'If-Match must be an ETag of this API, e.g. "42"') from None


def written(request, document: Document, text: str, *, append: bool = False) -> dict:
    try:
        seq = text_write(
            document_id=document.pk,
            text=text,
            by=request.user,
            author=author_for_user(request.user),
            append=append,
            expect_seq=expected_seq(request),
        )
    except Changed as exc:
        raise HttpError(412, f"the text changed since that ETag ({exc})") from None
    return {"changed": seq is not None, "seq": seq}


@router.put(
    "/documents/{document_id}/content",
    response=WRITTEN,
    openapi_extra=MARKDOWN_BODY,
    summary="Replace the text: one edit on top, live in open editors (with If-Match, only over that ETag)",
)
def content_replace(request, document_id: UUID):
    return written(request, writable(request, document_id), body_text(request))


@router.post(
    "/documents/{document_id}/content",
    response=WRITTEN,
    openapi_extra=MARKDOWN_BODY,
    summary="Append to the text, live in open editors",
)
def content_append(request, document_id: UUID):
    document = writable(request, document_id)
    addition = body_text(request)
    checked_text(persistence.document_text(document.pk) + addition)  # the whole stays within the limit
    return written(request, document, addition, append=True)
