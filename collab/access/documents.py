"""Reading and writing documents: the one place views, admin and consumers call."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.dispatch import Signal
from django.utils import timezone
from markdown_it import MarkdownIt

from collab.access import rights as access
from collab.access import sharing
from collab.models import Document, DocumentSnapshot, DocumentUpdate, Membership, Role, Version

DEFAULT_TITLE = "Untitled"

# Sent when a document goes into the trash (its webhooks tell of it: collab.webhooks).
document_trashed = Signal()  # sender=Document, document=, actor=


class NoAccess(Exception):
    """The visitor may not see the document (or it does not exist)."""


class RoleTooLow(Exception):
    """The visitor sees the document but may not do this."""


def documents_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user, trashed_at__isnull=True).select_related("owner").order_by("-updated")


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, document__trashed_at__isnull=True)
        .select_related("document", "document__owner__profile")
        .order_by("-document__updated")
    )


def document_for(*, user, session, document_id, minimum: Role = Role.VIEWER) -> tuple[Document, Role]:
    """The document and the visitor's role; NoAccess or RoleTooLow otherwise."""
    role = access.role_for(user=user, session=session, document_id=document_id)
    if role is None:
        raise NoAccess(document_id)
    if role.rank < minimum.rank:
        raise RoleTooLow(document_id)
    return Document.objects.select_related("owner").get(pk=document_id), role


def document_create(*, owner, title: str = "") -> Document:
    return Document.objects.create(owner=owner, title=title.strip()[:TITLE_LENGTH] or DEFAULT_TITLE)


TITLE_LENGTH = Document._meta.get_field("title").max_length


def document_rename(*, document: Document, title: str) -> Document:
    document.title = title.strip()
    document.save(update_fields=["title", "updated"])
    return document


def document_delete(*, document: Document) -> None:
    """For good: the document, its content and its history."""
    document.delete()


# -- the trash ------------------------------------------------------------------
# A trashed document is gone for everyone (load_rights and the ticker read None for it,
# so open connections close with 4404) until its owner restores it or it is purged.


def trash_days() -> int:
    return settings.COLLAB_TRASH_DAYS


def purge_date(trashed_at: datetime) -> datetime:
    return trashed_at + timedelta(days=trash_days())


def trash_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user, trashed_at__isnull=False).order_by("-trashed_at")


def trashed_document_for(*, user, document_id) -> Document:
    """The user's own trashed document; Document.DoesNotExist for anyone else's."""
    return trash_for_user(user=user).get(pk=document_id)


@transaction.atomic
def document_trash(*, document: Document, actor) -> None:
    Document.objects.filter(pk=document.pk).update(trashed_at=timezone.now(), trashed_by=actor)
    sharing.rights_changed(document_id=document.pk)
    document_trashed.send(sender=Document, document=document, actor=actor)


@transaction.atomic
def document_restore(*, document: Document) -> None:
    """Back where it was, with its content, history, members and links."""
    Document.objects.filter(pk=document.pk).update(trashed_at=None, trashed_by=None)
    sharing.rights_changed(document_id=document.pk)


def trash_purge(*, now: datetime | None = None) -> int:
    """Delete for good what has been in the trash longer than COLLAB_TRASH_DAYS; how many."""
    cutoff = (now or timezone.now()) - timedelta(days=trash_days())
    count = 0
    for document in Document.objects.filter(trashed_at__lt=cutoff).iterator():
        document_delete(document=document)
        count += 1
    return count


# -- the documents page -----------------------------------------------------------

SORTS = {"updated": ("-updated", "-pk"), "title": (Lower("title"), "-updated", "pk")}


def document_listing(*, user, search: str = "", sort: str = "updated", show: str = "all") -> QuerySet[Document]:
    """The documents `user` owns or was given (`show`: "all", "mine" or "shared"), not trashed, each annotated with
    `member_role` (None for their own), `last_author_id` and `has_updates` (the newest
    entry of its update log, if any is left unmerged): one query however many rows.

    `search` matches titles (case-insensitively) and the text of each document's
    newest version: on PostgreSQL with full-text search, elsewhere as a substring."""
    memberships = Membership.objects.filter(user=user).order_by()  # one row a document: no join to sort by
    newest_update = DocumentUpdate.objects.filter(document=OuterRef("pk")).order_by("-seq")
    mine, shared = Q(owner=user), Q(pk__in=memberships.values("document"))
    whose = {"mine": mine, "shared": shared}.get(show, mine | shared)
    found = (
        Document.objects.filter(whose, trashed_at__isnull=True)
        .select_related("owner__profile")
        .annotate(
            member_role=Subquery(memberships.filter(document=OuterRef("pk")).values("role")[:1]),
            last_author_id=Subquery(newest_update.values("author")[:1]),
            has_updates=Exists(newest_update),
        )
    )
    search = search.strip()
    if search:
        found = _matching(found, search)
    return found.order_by(*SORTS.get(sort, SORTS["updated"]))


def _matching(found: QuerySet[Document], search: str) -> QuerySet[Document]:
    """Title or content. The content is the newest version's text (versions are cut
    minutes after the last edit, collab.history), read by a subquery that is
    compared, not selected."""
    latest = Version.objects.filter(document=OuterRef("pk")).order_by("-created", "-id").values("text")[:1]
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        found = found.alias(content=SearchVector(Subquery(latest), config="simple"))
        query = SearchQuery(search, config="simple", search_type="websearch")
        return found.filter(Q(title__icontains=search) | Q(content=query))
    return found.alias(content=Subquery(latest)).filter(Q(title__icontains=search) | Q(content__icontains=search))


def last_editors(documents: list[Document]) -> dict:
    """{document id: the account that made its newest change, or None for a guest}, for
    documents of `document_listing`: two queries at most, whatever their number.

    The update log's newest entry says who; once merged into the snapshot, the
    snapshot's contributors (each account's last position in the log) do."""
    who = {d.pk: d.last_author_id for d in documents if d.has_updates}
    merged = [d.pk for d in documents if not d.has_updates and d.last_seq]
    for pk, contributors in DocumentSnapshot.objects.filter(pk__in=merged).values_list("pk", "contributors"):
        if contributors:
            who[pk] = int(max(contributors, key=lambda user_id: contributors[user_id]))
    users = get_user_model().objects.filter(pk__in={i for i in who.values() if i}).select_related("profile")
    by_id = {user.pk: user for user in users}
    return {pk: by_id.get(user_id) for pk, user_id in who.items()}


# -- titles from headings ----------------------------------------------------------
# A new document is titled "Untitled"; it takes its first heading as its title and
# follows that heading as it changes, until someone renames it to something else.
# The rooms' ticker calls HeadingTitles with the documents edited since its last
# look (collab.realtime.registry), so the title follows the text within a tick.

HEADING_SCAN_CHARS = 65536  # the first heading is looked for in the first 64 KiB
ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
NOT_PARAGRAPH = re.compile(r" {0,3}([-*+>|]|\d+[.)]|<|$)|    |\t")
FRONT_MATTER = re.compile(r"---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|$)", re.S)  # YAML, as static sites use
_inline = MarkdownIt("commonmark")


def title_from_text(text: str) -> str | None:
    """The plain text of the first heading (ATX `# Title` or setext `Title` / `===`),
    outside code blocks, cut to a title's length; None if there is none."""
    text = text[:HEADING_SCAN_CHARS]
    if front_matter := FRONT_MATTER.match(text):
        text = text[front_matter.end() :]
    fence = None
    previous = None  # the line before, if it may be a setext heading's text
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence, previous = opening.group(1), None
            continue
        if (atx := ATX.match(line)) and atx.group(2):
            return plain_title(atx.group(2))
        if previous is not None and SETEXT.match(line):
            return plain_title(previous)
        previous = None if NOT_PARAGRAPH.match(line) else line
    return None


def plain_title(markdown: str) -> str | None:
    """`**Plans** for [Q3](/q3)` -> `Plans for Q3`: the text of the inline Markdown."""
    words = []
    for token in _inline.parseInline(markdown)[0].children or []:
        if token.type in ("text", "code_inline", "image"):  # an image's content: its alternative text
            words.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            words.append(" ")
    title = " ".join("".join(words).split())[:TITLE_LENGTH].strip()
    return title or None


class HeadingTitles:
    """One process's look at the documents that follow their first heading.

    A document follows it while its title is "Untitled" or the heading this
    process saw last; a rename to anything else stops that. Titles are written
    only over the title read (a rename made meanwhile wins), without touching
    `updated`; the ticker then tells the open pages, as it does a rename.
    """

    def __init__(self):
        self.headings: dict[str, str | None] = {}  # document id -> its first heading when last looked at

    def looks_at(self, document_id: str, title: str, *, edited: bool) -> bool:
        """Whether the text is worth a look: never looked at (so a heading edited
        later is known to have been the title), or edited while the title follows."""
        if document_id not in self.headings:
            return True
        return edited and title in (DEFAULT_TITLE, self.headings[document_id])

    def retitle(self, texts: dict[str, tuple[str, str]]) -> dict[str, str]:
        """{document id: (title as read, text)} -> {document id: new title} of those retitled."""
        retitled = {}
        for document_id, (title, text) in texts.items():
            heading = title_from_text(text)
            before, self.headings[document_id] = self.headings.get(document_id), heading
            if not heading or heading == title or title not in (DEFAULT_TITLE, before):
                continue
            if Document.objects.filter(pk=document_id, title=title, trashed_at__isnull=True).update(title=heading):
                retitled[document_id] = heading
        return retitled

    def keep(self, document_ids) -> None:
        """Forget the documents no longer open here."""
        self.headings = {key: value for key, value in self.headings.items() if key in document_ids}
