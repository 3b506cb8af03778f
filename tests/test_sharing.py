"""Sharing pages: members, links, ownership, guests."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from collab.access import sharing
from collab.models import Document, Membership, ShareLink


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Plans")


def share(client, document, **data):
    return client.post(f"/docs/{document.id}/share/", data)


def test_owner_adds_a_person_with_a_role(owner_client, document, editor):
    response = share(owner_client, document, action="add_member", **{"add-username": "EDITH", "add-role": "editor"})
    assert response.status_code == 302
    assert Membership.objects.get(document=document, user=editor).role == "editor"
    document.refresh_from_db()
    assert document.rights_version == 1


def test_adding_an_unknown_user_is_a_form_error(owner_client, document):
    response = share(owner_client, document, action="add_member", **{"add-username": "nobody", "add-role": "editor"})
    assert response.status_code == 400
    assert "There is no user named" in str(response.context["add_form"].errors)
    assert not Membership.objects.exists()


def test_owner_changes_a_role_and_removes_a_person(owner_client, document, editor):
    membership = sharing.membership_set(document=document, user=editor, role="editor")
    share(owner_client, document, action="set_role", membership=membership.pk, role="viewer")
    assert Membership.objects.get(pk=membership.pk).role == "viewer"
    share(owner_client, document, action="remove_member", membership=membership.pk)
    assert not Membership.objects.exists()


def test_an_unknown_action_is_refused_with_a_message(owner_client, document):
    response = share(owner_client, document, action="explode")
    assert response.status_code == 302
    assert not Membership.objects.exists() and not ShareLink.objects.exists()


def test_owner_creates_lists_and_revokes_links(owner_client, document):
    share(owner_client, document, action="create_link", **{"link-role": "viewer", "link-expires": "1d"})
    link = ShareLink.objects.get()
    assert link.role == "viewer" and link.expires_at > timezone.now() + timedelta(hours=23)
    page = owner_client.get(f"/docs/{document.id}/share/")
    assert link.token.encode() in page.content
    share(owner_client, document, action="revoke_link", link=link.pk)
    link.refresh_from_db()
    assert link.revoked_at is not None and not link.is_valid()


def test_ownership_transfer_keeps_the_old_owner_as_editor(owner_client, document, owner, editor):
    response = share(
        owner_client, document, action="transfer", **{"transfer-username": "edith", "transfer-confirm": "on"}
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.owner == editor
    assert Membership.objects.get(document=document, user=owner).role == "editor"
    assert owner_client.get(f"/docs/{document.id}/share/").status_code == 403


def test_the_transfer_checkbox_sits_inside_its_label(owner_client, document):
    page = owner_client.get(f"/docs/{document.id}/share/").content.decode()
    assert re.search(
        r'<label for="id_transfer-confirm"><input type="checkbox" name="transfer-confirm" [^>]*> I understand', page
    )


def test_transfer_needs_confirmation(owner_client, document, editor):
    response = share(owner_client, document, action="transfer", **{"transfer-username": "edith"})
    assert response.status_code == 400
    document.refresh_from_db()
    assert document.owner.username == "olivia"


def test_home_lists_documents_shared_with_me(client, shared_document, editor):
    client.force_login(editor)
    response = client.get("/")
    assert response.context["documents"] == [shared_document]
    assert 'data-role="editor">Editor</span>' in response.content.decode()
    assert client.get("/?show=shared").context["documents"] == [shared_document]
    assert client.get("/?show=mine").context["documents"] == []


def test_a_guest_opens_a_link_picks_a_name_and_sees_the_document(client, document):
    link = sharing.link_create(document=document, role="viewer", expires_at=None, created_by=document.owner)
    form = client.get(f"/s/{link.token}/")
    assert form.status_code == 200 and b"Your name" in form.content
    assert client.post(f"/s/{link.token}/", {"name": "  "}).status_code == 200  # a form error, not a 500
    response = client.post(f"/s/{link.token}/", {"name": "Gus"})
    assert response.status_code == 302 and response["Location"] == f"/docs/{document.id}/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and page.context["role"] == "viewer"
    assert page.context["identity"].name == "Gus (guest)"


def test_a_signed_in_user_opening_a_link_goes_straight_in(client, document, outsider):
    link = sharing.link_create(document=document, role="editor", expires_at=None, created_by=document.owner)
    client.force_login(outsider)
    response = client.get(f"/s/{link.token}/")
    assert response.status_code == 302
    assert client.get(f"/docs/{document.id}/").context["role"] == "editor"


@pytest.mark.parametrize("state", ["expired", "revoked", "unknown"])
def test_dead_links_open_nothing(client, document, state):
    link = sharing.link_create(
        document=document,
        role="editor",
        expires_at=timezone.now() - timedelta(minutes=1) if state == "expired" else None,
        created_by=document.owner,
    )
    if state == "revoked":
        sharing.link_revoke(link=link)
    token = "nope" if state == "unknown" else link.token
    assert client.get(f"/s/{token}/").status_code == 404
    assert client.post(f"/s/{token}/", {"name": "Gus"}).status_code == 404
