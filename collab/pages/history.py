"""The History pages: a document's versions, one version read-only or as a diff, its
export, naming the present and restoring the past.

Who sees them: `history_visible` (owners and editors; viewers and link guests when
the owner allows it). Naming and restoring are for those who may edit.
"""

from __future__ import annotations

from base64 import b64encode
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods
from pycrdt import Snapshot, merge_updates

from collab.discussion.service import threads_reattach
from collab.history import textdiff
from collab.history.authorship import author_for_visitor, authors_of
from collab.history.restore import version_restore as restore_version
from collab.history.versions import archive, history_visible, version_cut, versions_of
from collab.models import Version
from collab.pages.views import export_filename, with_document
from collab.storage import persistence

PER_PAGE = 20
COMPARES = ("previous", "current")


class NameVersionForm(forms.Form):
    name = forms.CharField(
        max_length=Version._meta.get_field("name").max_length,
        label="Name this version",
        error_messages={"required": "Give the version a name."},
    )


def with_history(*, write: bool = False):
    """The document (and the version named in the URL) for those who may see its history;
    403 for the others, and for those who may not edit when `write`."""

    def decorator(view):
        @with_document()
        @wraps(view)
        def wrapper(request, document, role, version_id=None):
            if not history_visible(document=document, role=role) or (write and not role.can_write):
                raise PermissionDenied
            if version_id is None:
                return view(request, document, role)
            version = get_object_or_404(Version, pk=version_id, document=document)
            return view(request, document, role, version)

        return wrapper

    return decorator


def local(moment) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


@require_http_methods(["GET", "POST"])
@with_history()
def document_history(request, document, role):
    form = NameVersionForm(request.POST or None)
    if request.method == "POST":
        if not role.can_write:
            raise PermissionDenied
        if form.is_valid():
            name = form.cleaned_data["name"]
            by = request.user if request.user.is_authenticated else None
            named = version_cut(document_id=document.id, kind=Version.Kind.NAMED, by=by, name=name)
            if named is None:
                latest = versions_of(document.id).first()
                messages.info(request, f"Nothing changed since “{latest.name}” of {local(latest.created)}.")
            else:
                messages.success(request, f"Named “{named.name}”, the version of {local(named.created)}.")
            return redirect("document_history", document.id)
    # Rows need neither the text nor the Yjs state: leave them in the database.
    versions = versions_of(document.id).defer("text", "snapshot", "state_vector").select_related("named_by")
    page = Paginator(versions, PER_PAGE).get_page(request.GET.get("page"))
    context = {"document": document, "page": page, "can_write": role.can_write, "form": form}
    return render(request, "collab/history.html", context)


def previous_of(version: Version) -> Version | None:
    """The version cut just before `version` (in the listing's order)."""
    earlier = Q(created__lt=version.created) | Q(created=version.created, id__lt=version.id)
    return versions_of(version.document_id).filter(earlier).first()


def later_authors(version: Version) -> list[dict]:
    """Everyone who changed the text in the versions cut after `version`."""
    later = Q(created__gt=version.created) | Q(created=version.created, id__gt=version.id)
    people = {}
    for authors in versions_of(version.document_id).filter(later).values_list("authors", flat=True):
        for author in authors:
            people.setdefault(author.get("user_id") or author["name"], author)
    return sorted(people.values(), key=lambda author: author["name"].lower())


@require_GET
@with_history()
def version_view(request, document, role, version):
    compare = request.GET.get("compare")
    context = {"document": document, "version": version, "can_write": role.can_write, "compare": compare}
    if compare == "previous":
        previous = previous_of(version)
        context |= {
            "previous": previous,
            "runs": textdiff.readable(textdiff.opcodes(previous.text if previous else "", version.text)),
            "authors": version.authors,
        }
    elif compare == "current":
        context |= {
            "runs": textdiff.readable(textdiff.opcodes(version.text, persistence.document_text(document.id))),
            "authors": later_authors(version),
        }
    else:
        context["compare"] = None
    return render(request, "collab/version.html", context)


def b64(data: bytes | None) -> str | None:
    return b64encode(bytes(data)).decode() if data is not None else None


@require_GET
@with_history()
def version_changes(request, document, role, version):
    """What a browser needs to attribute every character of a diff (static/src/history.js):
    the log's archive (deleted items included), this version's Yjs snapshot and the
    one it is compared with, and who owns each client id."""
    compare = request.GET.get("compare", "previous")
    if compare not in COMPARES:
        compare = "previous"
    # The archive is read after the current state is taken, so it holds every item the
    # snapshots name, whatever was appended between the two reads.
    if compare == "current":
        doc, _ = archive(document.id)
        other = Snapshot.from_doc(doc).encode()
    else:
        previous = previous_of(version)
        other = previous.snapshot if previous else None
    updates = persistence.read_since(document.id).all_updates()
    merged = merge_updates(*updates) if len(updates) > 1 else (updates[0] if updates else b"\x00\x00")
    return JsonResponse(
        {
            "compare": compare,
            "archive": b64(merged),
            "snapshot": b64(version.snapshot),
            "previous": b64(other),
            "authors": {
                str(client): {"name": author.name, "color": author.color}
                for client, author in authors_of(document.id).items()
            },
        }
    )


@require_GET
@with_history()
def version_export(request, document, role, version):
    response = HttpResponse(version.text, content_type="text/markdown; charset=utf-8")
    stamp = f"{timezone.localtime(version.created):%Y-%m-%d %H.%M}"
    name = f"{export_filename(document.title).removesuffix('.md')} ({stamp}).md"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@require_http_methods(["GET", "POST"])
@with_history(write=True)
def version_restore(request, document, role, version):
    if request.method == "GET":
        return render(request, "collab/version_restore.html", {"document": document, "version": version})
    restored = restore_version(
        version=version,
        by=request.user if request.user.is_authenticated else None,
        author=author_for_visitor(user=request.user, session=request.session, document_id=document.id),
    )
    if restored is None:
        messages.info(request, "That version is the current text already.")
    else:
        threads_reattach(document.id)  # comments on text the restore brought back
        messages.success(request, f"Restored the version of {local(version.created)}.")
    return redirect(document)
