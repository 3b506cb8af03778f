"""Members and share links: the owner's, as on the share page."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth import get_user_model
from ninja import Router, Status
from ninja.errors import HttpError

from collab.access import sharing
from collab.access.identity import display_name
from collab.api.auth import document_as, need
from collab.api.schemas import Error, LinkIn, LinkOut, MemberIn, MemberOut
from collab.models import SHARED_ROLES, Membership, Role, ShareLink

router = Router(tags=["sharing"])
READ, WRITE = "documents:read", "members:write"
ROLES = [value for value, _ in SHARED_ROLES]


def member_out(membership: Membership) -> dict:
    return {"username": membership.user.get_username(), "name": display_name(membership.user), "role": membership.role}


def link_out(request, link: ShareLink) -> dict:
    return {
        "id": link.pk,
        "role": link.role,
        "url": request.build_absolute_uri(link.get_absolute_url()),
        "expires_at": link.expires_at,
        "revoked": link.revoked_at is not None,
    }


def owned(request, document_id, scope: str):
    need(request, scope)
    return document_as(request, document_id, Role.OWNER)[0]


def checked_role(role: str) -> str:
    if role not in ROLES:
        raise HttpError(422, f"role must be one of {', '.join(ROLES)}")
    return role


@router.get("/documents/{document_id}/members", response={200: list[MemberOut], 403: Error, 404: Error})
def member_list(request, document_id: UUID):
    document = owned(request, document_id, READ)
    return [member_out(m) for m in document.memberships.select_related("user__profile")]


@router.put(
    "/documents/{document_id}/members/{username}", response={200: MemberOut, 403: Error, 404: Error, 422: Error}
)
def member_set(request, document_id: UUID, username: str, body: MemberIn):
    document = owned(request, document_id, WRITE)
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise HttpError(404, "no such user")
    if user.pk == document.owner_id:
        raise HttpError(422, "the owner already has every right")
    membership = sharing.membership_set(document=document, user=user, role=checked_role(body.role))
    return member_out(membership)


@router.delete("/documents/{document_id}/members/{username}", response={204: None, 403: Error, 404: Error})
def member_remove(request, document_id: UUID, username: str):
    document = owned(request, document_id, WRITE)
    membership = document.memberships.filter(user__username=username).select_related("user").first()
    if membership is None:
        raise HttpError(404, "no such member")
    sharing.membership_remove(document=document, user=membership.user)
    return Status(204, None)


@router.get("/documents/{document_id}/links", response={200: list[LinkOut], 403: Error, 404: Error})
def link_list(request, document_id: UUID):
    document = owned(request, document_id, READ)
    return [link_out(request, link) for link in document.share_links.all()]


@router.post("/documents/{document_id}/links", response={201: LinkOut, 403: Error, 404: Error, 422: Error})
def link_create(request, document_id: UUID, body: LinkIn):
    document = owned(request, document_id, WRITE)
    link = sharing.link_create(
        document=document, role=checked_role(body.role), expires_at=body.expires_at, created_by=request.user
    )
    return Status(201, link_out(request, link))


@router.delete("/documents/{document_id}/links/{link_id}", response={204: None, 403: Error, 404: Error})
def link_revoke(request, document_id: UUID, link_id: int):
    document = owned(request, document_id, WRITE)
    link = document.share_links.filter(pk=link_id).first()
    if link is None:
        raise HttpError(404, "no such link")
    sharing.link_revoke(link=link)
    return Status(204, None)
