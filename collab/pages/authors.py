"""Who owns each Yjs client id of a document: what the editor's "Authors" view
colours the text with (static/src/authors.js)."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from collab.access import documents
from collab.history.authorship import authors_of
from collab.history.versions import history_visible


@require_GET
def document_authors(request, document_id):
    """{client id: {"name", "color"}}, for those who may see the document's history."""
    try:
        document, role = documents.document_for(user=request.user, session=request.session, document_id=document_id)
    except documents.NoAccess:
        return JsonResponse({"error": "not found"}, status=404)
    if not history_visible(document=document, role=role):
        return JsonResponse({"error": "only those who may see the history see its authors"}, status=403)
    authors = {
        str(client_id): {"name": author.name, "color": author.color}
        for client_id, author in authors_of(document.id).items()
    }
    response = JsonResponse(authors)
    response["Cache-Control"] = "private, no-store"  # it grows as people write
    return response
