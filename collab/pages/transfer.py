"""Import and export: a Markdown or text file made a new document; a document
downloaded as Markdown (collab.pages.views.document_export), a web page or text."""

from __future__ import annotations

from pathlib import PurePath

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from collab.access import documents
from collab.history import versions
from collab.history.authorship import author_for_user
from collab.history.restore import text_write
from collab.models import Document, Version
from collab.pages.forms import ImportForm
from collab.pages.views import documents_page, export_filename, with_document
from collab.storage import persistence
from collab.storage.render import markdown_html


def document_import(*, owner, filename: str, text: str) -> Document:
    """A new document of `owner`'s with `text`, titled after its first heading, else the
    file's name; its history starts with a version named after the file."""
    title = documents.title_from_text(text) or PurePath(filename).stem.strip() or documents.DEFAULT_TITLE
    document = documents.document_create(owner=owner, title=title, follows_heading=True)
    if text:
        text_write(document_id=document.pk, text=text, by=owner, author=author_for_user(owner))
        versions.version_cut(document_id=document.pk, kind=Version.Kind.NAMED, by=owner, name=f"Imported {filename}")
    return document


@login_required
@require_POST
def document_import_view(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return documents_page(request, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    document = document_import(owner=request.user, filename=PurePath(upload.name).name, text=form.cleaned_data["text"])
    return redirect(document)


# -- export -------------------------------------------------------------------------


def exported_page(*, title: str, text: str) -> str:
    """A standalone web page of the Markdown `text`, sanitised (collab.storage.render)."""
    body = mark_safe(markdown_html(text))  # noqa: S308 -- nh3 keeps only harmless tags and attributes
    return render_to_string("collab/export.html", {"title": title, "body": body, "exported": timezone.now()})


def download(content: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@with_document()
def document_export_html(request, document, role):
    page = exported_page(title=document.title, text=persistence.document_text(document.id))
    return download(page, "text/html; charset=utf-8", export_filename(document.title, "html"))


@require_GET
@with_document()
def document_export_txt(request, document, role):
    """The Markdown source as plain text: nothing lost, readable anywhere."""
    text = persistence.document_text(document.id)
    return download(text, "text/plain; charset=utf-8", export_filename(document.title, "txt"))
