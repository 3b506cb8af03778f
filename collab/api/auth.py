"""Who calls: a bearer token (401 without a usable one), and what it may do (403)."""

from __future__ import annotations

from ninja.errors import HttpError
from ninja.security import HttpBearer

from collab.access import documents
from collab.api.tokens import token_for
from collab.models import ApiToken, Document, Role


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        found = token_for(token)
        if found is None:
            return None  # 401
        request.user = found.user
        return found


def need(request, scope: str) -> ApiToken:
    """The request's token, if it carries `scope`; 403 otherwise."""
    token: ApiToken = request.auth
    if scope not in token.scopes:
        raise HttpError(403, f"this token lacks the {scope} scope")
    return token


def document_as(request, document_id, minimum: Role = Role.VIEWER) -> tuple[Document, Role]:
    """The document and the token owner's role, by the same rules as the pages:
    404 if they may not see it, 403 if their role is too low."""
    try:
        return documents.document_for(user=request.user, session=None, document_id=document_id, minimum=minimum)
    except documents.NoAccess:
        raise HttpError(404, "no such document") from None
    except documents.RoleTooLow:
        raise HttpError(403, f"this needs the {minimum.label.lower()} role or higher") from None
