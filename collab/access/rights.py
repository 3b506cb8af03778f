"""Who may open a document, and with which role.

A principal is whoever is asking: a signed-in user, and the share-link tokens
they present (kept in their session after opening `/s/<token>/`, or given as
`?share=` by a non-browser client). `DocumentRights` holds everything that
decides roles on one document, so a room can re-check all its connections with
three queries when the rights change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from collab.models import Document, Membership, Role, ShareLink
from collab.storage.pgconn import as_bool, as_datetime, as_int, as_str

DOCUMENTS = Document._meta.db_table
MEMBERSHIPS = Membership._meta.db_table
LINKS = ShareLink._meta.db_table

SESSION_LINKS = "collab_share_links"  # {document id: token} in the session
SESSION_GUEST_NAME = "collab_guest_name"


@dataclass(frozen=True)
class Principal:
    user_id: int | None = None
    link_tokens: tuple[str, ...] = ()
    session_key: str | None = None

    @property
    def key(self) -> str:
        """Identifies the person for per-user limits: the account, else the session,
        else (a client with no cookie, on `?share=`) the share link."""
        if self.user_id:
            return f"user:{self.user_id}"
        if self.session_key:
            return f"session:{self.session_key}"
        return f"link:{min(self.link_tokens)}" if self.link_tokens else "anonymous"


@dataclass
class DocumentRights:
    document_id: str
    owner_id: int
    version: int
    locked: bool = False
    epoch: int = 0  # connections opened in an earlier epoch are closed
    members: dict[int, Role] = field(default_factory=dict)
    links: dict[str, tuple[Role, datetime | None]] = field(default_factory=dict)  # valid, unrevoked links
    comments: bool = True  # the owner allows comments (collab.discussion)
    chat: bool = True  # ... and the chat
    discussion_seq: int = 0  # the document's comment and chat changes so far, when read

    def role_of(self, principal: Principal, now: datetime | None = None) -> Role | None:
        now = now or timezone.now()
        roles = []
        if principal.user_id is not None:
            if principal.user_id == self.owner_id:
                return Role.OWNER
            if principal.user_id in self.members:
                roles.append(self.members[principal.user_id])
        for token in principal.link_tokens:
            link = self.links.get(token)
            if link and (link[1] is None or link[1] > now):
                roles.append(link[0])
        return max(roles, key=lambda role: role.rank) if roles else None

    def next_expiry(self, now: datetime | None = None) -> datetime | None:
        now = now or timezone.now()
        upcoming = [expires for _, expires in self.links.values() if expires and expires > now]
        return min(upcoming) if upcoming else None


_RIGHTS = (
    f"SELECT owner_id, rights_version, locked, connection_epoch, comments_enabled, chat_enabled, discussion_seq "
    f"FROM {DOCUMENTS} "
    "WHERE id = %s AND trashed_at IS NULL"
)
_MEMBERS = f"SELECT user_id, role FROM {MEMBERSHIPS} WHERE document_id = %s"
_LINKS = f"SELECT token, role, expires_at FROM {LINKS} WHERE document_id = %s AND revoked_at IS NULL"


def load_rights(document_id) -> DocumentRights | None:
    """The rights on a document, or None if it does not exist or is in the trash."""
    # In SQL: every handshake to a document not open here reads this, and under a
    # reconnect many arrive at once; building the ORM's queries took twice as long
    # as running them.
    key = Document._meta.pk.get_db_prep_value(document_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_RIGHTS, [key])
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(_MEMBERS, [key])
        members = cursor.fetchall()
        cursor.execute(_LINKS, [key])
        links = cursor.fetchall()
    if links:
        expires_at = as_orm_value(ShareLink, "expires_at")
        links = [(token, role, expires_at(expires)) for token, role, expires in links]
    return _rights(document_id, row, members, links)


async def load_rights_async(conn, document_id) -> DocumentRights | None:
    """`load_rights` over a `collab.storage.pgconn.PgConnection` (PostgreSQL), from the event
    loop: its three queries in one round trip."""
    key = [str(document_id)]
    rows, members, links = await conn.fetch_each([(_RIGHTS, key), (_MEMBERS, key), (_LINKS, key)], binary=True)
    if not rows:
        return None
    owner_id, version, locked, epoch, comments, chat, discussion = rows[0]
    row = (
        as_int(owner_id),
        as_int(version),
        as_bool(locked),
        as_int(epoch),
        as_bool(comments),
        as_bool(chat),
        as_int(discussion),
    )
    members = [(as_int(user_id), as_str(role)) for user_id, role in members]
    links = [(as_str(token), as_str(role), as_datetime(expires)) for token, role, expires in links]
    return _rights(document_id, row, members, links)


def _rights(document_id, row, members, links) -> DocumentRights:
    owner_id, version, locked, epoch, comments, chat, discussion = row
    rights = DocumentRights(
        str(document_id),
        owner_id=owner_id,
        version=version,
        locked=bool(locked),
        epoch=epoch,
        comments=bool(comments),
        chat=bool(chat),
        discussion_seq=discussion,
    )
    rights.members = {user_id: Role(role) for user_id, role in members}
    rights.links = {token: (Role(role), expires) for token, role, expires in links}
    return rights


def as_orm_value(model, field_name):
    """A function turning what the database returns for the field into what the ORM
    would give: the backend's converters (SQLite returns datetimes as text) and the field's."""
    col = model._meta.get_field(field_name).get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)

    def convert(value):
        for converter in converters:
            value = converter(value, col, connection)
        return value

    return convert


def principal_for(*, user, session, document_id, extra_tokens=()) -> Principal:
    tokens = [t for t in (session.get(SESSION_LINKS, {}).get(str(document_id)) if session is not None else None,) if t]
    tokens += [t for t in extra_tokens if t]
    return Principal(
        user_id=user.pk if user is not None and user.is_authenticated else None,
        link_tokens=tuple(tokens),
        session_key=getattr(session, "session_key", None),
    )


def role_for(*, user, session, document_id, extra_tokens=()) -> Role | None:
    rights = load_rights(document_id)
    if rights is None:
        return None
    return rights.role_of(principal_for(user=user, session=session, document_id=document_id, extra_tokens=extra_tokens))


# -- what the registry watches ------------------------------------------------


@dataclass
class WatchState:
    documents: dict[str, tuple[int, int]]  # id -> (last_seq, rights_version); deleted and trashed ones absent
    live_sessions: set[str]
    user_hashes: dict[int, tuple[str, bool]]  # id -> (session auth hash, is_active)
    accounts: dict = field(default_factory=dict)  # id -> the user, the whole row as read
    titles: dict[str, str] = field(default_factory=dict)  # id -> title
    discussions: dict[str, int] = field(default_factory=dict)  # id -> discussion_seq (collab.discussion)
    following: set[str] = field(default_factory=set)  # ids of those whose title follows their first heading


def watch_state(document_ids, session_keys, user_ids) -> WatchState:
    """One look at what open connections depend on: log positions, rights, titles, sessions, accounts."""
    documents, titles, discussions, following = {}, {}, {}, set()
    rows = Document.objects.filter(pk__in=list(document_ids), trashed_at__isnull=True).values_list(
        "pk", "last_seq", "rights_version", "title", "discussion_seq", "title_follows_heading"
    )
    for pk, seq, version, title, discussion, follows in rows:  # one query, however many documents
        documents[str(pk)] = (seq, version)
        titles[str(pk)] = title
        discussions[str(pk)] = discussion
        if follows:
            following.add(str(pk))
    live = set()
    if session_keys:
        live = set(
            Session.objects.filter(session_key__in=list(session_keys), expire_date__gt=timezone.now()).values_list(
                "session_key", flat=True
            )
        )
    hashes, accounts = {}, {}
    if user_ids:
        # Whole rows, through the manager Django's auth backend reads them with: the
        # handshakes of people already connected here take them (and their display
        # names) from this read.
        for user in get_user_model()._default_manager.filter(pk__in=list(user_ids)).select_related("profile"):
            hashes[user.pk] = (user.get_session_auth_hash(), user.is_active)
            accounts[user.pk] = user
    return WatchState(documents, live, hashes, accounts, titles, discussions, following)
