"""Who wrote what: every Yjs client id of a document belongs to one person.

A Yjs item's id is (client id, clock), so owning client ids is owning text: the
text someone typed, pasted or restored carries their client id. The server
claims an id for the connection that first writes under it, from its account or
guest name (never from what the client says), and refuses a write that adds
content under an id someone else owns (collab.realtime.room). Cost on the commit
path: a dictionary lookup per update; a query only for an id not seen before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from collab.access.identity import color_for, display_name, identity_for
from collab.access.rights import SESSION_GUEST_NAME, principal_for
from collab.models import ClientOwner


@dataclass(frozen=True)
class Author:
    person: str  # a hash of the principal's key: the same for every connection of one person
    name: str
    color: str
    user_id: int | None = None

    def as_json(self) -> dict:
        return {"name": self.name, "color": self.color, "user_id": self.user_id}


def person_of(key: str) -> str:
    """What stands for a principal key ("user:7", "session:…") in the database: guests'
    session keys are secrets, so only a hash of each is kept."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def author_for_user(user) -> Author:
    key = f"user:{user.pk}"
    return Author(person_of(key), display_name(user), color_for(key)[0], user.pk)


def author_for_visitor(*, user, session, document_id) -> Author:
    """The author a page's visitor (an account, or a guest by their session) writes as,
    the same as their connections do (collab.realtime.members)."""
    principal = principal_for(user=user, session=session, document_id=document_id)
    guest_name = session.get(SESSION_GUEST_NAME, "") if session is not None else ""
    identity = identity_for(user=user, guest_name=guest_name, key=principal.key)
    return Author(person_of(principal.key), identity.name, identity.color, principal.user_id)


def claim(document_id, client_ids, author: Author) -> dict[int, str]:
    """Claim the unowned ids among `client_ids` for `author`; return the owner (person) of each.

    The unique constraint decides between two workers claiming one id at once.
    """
    ClientOwner.objects.bulk_create(
        [
            ClientOwner(
                document_id=document_id,
                client_id=client_id,
                user_id=author.user_id,
                person=author.person,
                name=author.name,
                color=author.color,
            )
            for client_id in client_ids
        ],
        ignore_conflicts=True,
    )
    return dict(
        ClientOwner.objects.filter(document_id=document_id, client_id__in=list(client_ids)).values_list(
            "client_id", "person"
        )
    )


def authors_of(document_id, client_ids=None) -> dict[int, Author]:
    """The owner of each client id of the document (or of those given)."""
    owners = ClientOwner.objects.filter(document_id=document_id)
    if client_ids is not None:
        owners = owners.filter(client_id__in=list(client_ids))
    return {
        client_id: Author(person, name, color, user_id)
        for client_id, person, name, color, user_id in owners.values_list(
            "client_id", "person", "name", "color", "user_id"
        )
    }
