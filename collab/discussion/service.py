"""Comments and chat in the database: the one place that writes them.

Every change takes the next number of the document's `discussion_seq` in the
same transaction and stamps it on what changed (its thread, or its chat
message), so a room that missed a change reads everything stamped after the
number it holds (`changes_since`). Each function returns the message that tells
the pages about the change (docs/protocol.md, "Comments and chat"): a thread is
always sent whole, so pages replace what they have, in any order.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from collab.history.authorship import Author
from collab.models import ChatMessage, Comment, Document, Membership, Mention, Thread

CHAT_PAGE = 50
MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")


class NotAllowed(Exception):
    """The change is well formed but may not be made (not one's comment, too long, gone)."""


def check_body(body: str, limit: int) -> str:
    body = body.strip()
    if not body:
        raise NotAllowed("empty")
    if len(body) > limit:
        raise NotAllowed(f"longer than {limit} characters")
    return body


def _next_seq(document_id) -> int:
    """The document's next discussion number; takes its row lock until the transaction ends."""
    updated = Document.objects.filter(pk=document_id).update(discussion_seq=F("discussion_seq") + 1)
    if not updated:
        raise NotAllowed("the document is gone")
    return Document.objects.filter(pk=document_id).values_list("discussion_seq", flat=True).get()


# -- as the pages see them ------------------------------------------------------


def author_json(name: str, color: str, user) -> dict:
    return {
        "name": name,
        "color": color,
        "user_id": user.pk if user is not None else None,
        "banned": bool(user is not None and not user.is_active),
    }


def comment_json(comment: Comment) -> dict:
    deleted = comment.deleted_at is not None
    return {
        "id": comment.pk,
        "author": author_json(comment.author_name, comment.author_color, comment.author),
        "body": "" if deleted else comment.body,
        "created": comment.created.isoformat(),
        "edited": comment.edited_at.isoformat() if comment.edited_at else None,
        "deleted": deleted,
    }


def thread_json(thread: Thread) -> dict:
    return {
        "id": thread.pk,
        "seq": thread.seq,
        "anchor": {"start": thread.anchor_start, "end": thread.anchor_end},
        "quote": thread.quote,
        "prefix": thread.prefix,
        "suffix": thread.suffix,
        "created": thread.created.isoformat(),
        "resolved": thread.resolved_at is not None,
        "resolved_by": thread.resolved_by_name or None,
        "comments": [comment_json(c) for c in thread.comments.all()],
    }


def chat_json(message: ChatMessage) -> dict:
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "seq": message.seq,
        "author": author_json(message.author_name, message.author_color, message.author),
        "body": "" if deleted else message.body,
        "created": message.created.isoformat(),
        "deleted": deleted,
    }


def thread_message(thread: Thread, seq: int) -> dict:
    if thread.removed:
        return {"type": "thread.removed", "id": thread.pk, "seq": seq}
    thread = Thread.objects.prefetch_related("comments__author").get(pk=thread.pk)
    thread.seq = seq
    return {"type": "thread", "thread": thread_json(thread), "seq": seq}


def chat_message(message: ChatMessage, seq: int) -> dict:
    return {"type": "chat.message", "message": chat_json(message), "seq": seq}


# -- reading --------------------------------------------------------------------


def threads_of(document_id):
    return (
        Thread.objects.filter(document_id=document_id, removed=False)
        .select_related("document")
        .prefetch_related("comments__author")
    )


def chat_page(document_id, *, before: int | None = None, limit: int = CHAT_PAGE) -> tuple[list[dict], bool]:
    """Chat messages, oldest first: the last `limit` (before the message `before`), and whether there are more."""
    messages = ChatMessage.objects.filter(document_id=document_id).select_related("author").order_by("-id")
    if before is not None:
        messages = messages.filter(pk__lt=before)
    page = list(messages[: limit + 1])
    return [chat_json(m) for m in reversed(page[:limit])], len(page) > limit


def discussion_state(document_id) -> dict:
    """What a page is sent when it opens the discussion: every open thread and the last chat messages."""
    seq = Document.objects.filter(pk=document_id).values_list("discussion_seq", flat=True).first() or 0
    chat, more = chat_page(document_id)
    return {
        "type": "discussion",
        "seq": seq,
        "threads": [thread_json(t) for t in threads_of(document_id)],
        "chat": chat,
        "chat_more": more,
    }


def changes_since(document_id, seq: int) -> tuple[list[dict], int]:
    """The messages for everything changed after `seq`, and the number they bring the reader to."""
    upto = Document.objects.filter(pk=document_id).values_list("discussion_seq", flat=True).first() or seq
    messages = [
        thread_message(thread, thread.seq)
        for thread in Thread.objects.filter(document_id=document_id, seq__gt=seq, seq__lte=upto)
    ]
    messages += [
        chat_message(message, message.seq)
        for message in ChatMessage.objects.filter(document_id=document_id, seq__gt=seq, seq__lte=upto).select_related(
            "author"
        )
    ]
    return sorted(messages, key=lambda m: m["seq"]), upto


# -- writing ----------------------------------------------------------------------


def _touch(thread: Thread) -> int:
    thread.seq = _next_seq(thread.document_id)
    Thread.objects.filter(pk=thread.pk).update(seq=thread.seq)
    return thread.seq


@transaction.atomic
def thread_create(
    *, document_id, author: Author, anchor: dict, quote: str, prefix: str, suffix: str, body: str
) -> dict:
    body = check_body(body, settings.COLLAB_MAX_COMMENT_CHARS)
    seq = _next_seq(document_id)
    thread = Thread.objects.create(
        document_id=document_id,
        anchor_start=anchor["start"],
        anchor_end=anchor["end"],
        quote=quote,
        prefix=prefix,
        suffix=suffix,
        created_by_id=author.user_id,
        seq=seq,
    )
    _comment(thread, author, body)
    return thread_message(thread, seq)


def _comment(thread: Thread, author: Author, body: str) -> Comment:
    comment = Comment.objects.create(
        thread=thread,
        author_id=author.user_id,
        author_name=author.name,
        author_color=author.color,
        person=author.person,
        body=body,
    )
    mentions_record(comment)
    return comment


def _thread_of(document_id, thread_id) -> Thread:
    thread = Thread.objects.select_for_update().filter(pk=thread_id, document_id=document_id, removed=False).first()
    if thread is None:
        raise NotAllowed("no such thread")
    return thread


def _comment_of(document_id, comment_id) -> Comment:
    comment = (
        Comment.objects.select_for_update()
        .select_related("thread")
        .filter(pk=comment_id, thread__document_id=document_id, thread__removed=False, deleted_at__isnull=True)
        .first()
    )
    if comment is None:
        raise NotAllowed("no such comment")
    return comment


@transaction.atomic
def comment_create(*, document_id, author: Author, thread: int, body: str) -> dict:
    body = check_body(body, settings.COLLAB_MAX_COMMENT_CHARS)
    found = _thread_of(document_id, thread)
    _comment(found, author, body)
    return thread_message(found, _touch(found))


@transaction.atomic
def comment_edit(*, document_id, author: Author, comment: int, body: str) -> dict:
    body = check_body(body, settings.COLLAB_MAX_COMMENT_CHARS)
    found = _comment_of(document_id, comment)
    if found.person != author.person:
        raise NotAllowed("only its author may edit a comment")
    found.body, found.edited_at = body, timezone.now()
    found.save(update_fields=["body", "edited_at"])
    found.mentions.all().delete()
    mentions_record(found)
    return thread_message(found.thread, _touch(found.thread))


@transaction.atomic
def comment_delete(*, document_id, comment: int, author: Author | None = None, by_moderator: bool = False) -> dict:
    """Delete a comment (its author, or a moderator: `author` None); a thread left without
    comments is removed."""
    found = _comment_of(document_id, comment)
    if not by_moderator and (author is None or found.person != author.person):
        raise NotAllowed("only its author may delete a comment")
    found.deleted_at, found.deleted_by_moderator = timezone.now(), by_moderator
    found.save(update_fields=["deleted_at", "deleted_by_moderator"])
    thread = found.thread
    if not thread.comments.filter(deleted_at__isnull=True).exists():
        thread.removed = True
        thread.save(update_fields=["removed"])
    return thread_message(thread, _touch(thread))


@transaction.atomic
def thread_resolve(*, document_id, author: Author, thread: int, resolved: bool) -> dict:
    found = _thread_of(document_id, thread)
    found.resolved_at = timezone.now() if resolved else None
    found.resolved_by_name = author.name if resolved else ""
    found.save(update_fields=["resolved_at", "resolved_by_name"])
    return thread_message(found, _touch(found))


@transaction.atomic
def chat_send(*, document_id, author: Author, body: str) -> dict:
    body = check_body(body, settings.COLLAB_MAX_CHAT_CHARS)
    seq = _next_seq(document_id)
    message = ChatMessage.objects.create(
        document_id=document_id,
        author_id=author.user_id,
        author_name=author.name,
        author_color=author.color,
        body=body,
        seq=seq,
    )
    return chat_message(message, seq)


@transaction.atomic
def chat_delete(*, document_id, message: int) -> dict:
    """A moderator deletes a chat message (it stays as "deleted" in the conversation)."""
    found = ChatMessage.objects.select_for_update().filter(pk=message, document_id=document_id).first()
    if found is None:
        raise NotAllowed("no such message")
    found.deleted_at = timezone.now()
    found.seq = _next_seq(document_id)
    found.save(update_fields=["deleted_at", "seq"])
    return chat_message(found, found.seq)


# -- mentions ---------------------------------------------------------------------


def mentions_record(comment: Comment) -> list[Mention]:
    """Mention rows for each @username in the comment of someone with access to the document."""
    names = {name.rstrip(".").lower() for name in MENTION.findall(comment.body)}
    if not names:
        return []
    document = Document.objects.only("owner_id").get(pk=comment.thread.document_id)
    allowed = {document.owner_id} | set(
        Membership.objects.filter(document_id=document.pk).values_list("user_id", flat=True)
    )
    from django.contrib.auth import get_user_model

    query = Q()
    for name in names:
        query |= Q(username__iexact=name)
    users = get_user_model().objects.filter(query, pk__in=allowed).exclude(pk=comment.author_id)
    return Mention.objects.bulk_create([Mention(user=user, comment=comment) for user in users], ignore_conflicts=True)


def mentions_for(*, user, limit: int = 20):
    """The user's latest mentions in documents they may still open, newest first."""
    return (
        Mention.objects.filter(user=user, comment__deleted_at__isnull=True, comment__thread__removed=False)
        .filter(
            Q(comment__thread__document__owner=user) | Q(comment__thread__document__memberships__user=user),
            comment__thread__document__trashed_at__isnull=True,
        )
        .select_related("comment__thread__document")
        .distinct()[:limit]
    )


# -- re-attaching ---------------------------------------------------------------------


def best_match(text: str, quote: str, prefix: str, suffix: str) -> int | None:
    """Where `quote` is in `text`, the occurrence whose surroundings match `prefix` and
    `suffix` best; None if it is not there, or only in other words (less than half
    of the context matches: a short quote is found in many places)."""
    best, best_score = None, -1
    start = text.find(quote)
    while start != -1:
        before, after = (
            text[max(0, start - len(prefix)) : start],
            text[start + len(quote) : start + len(quote) + len(suffix)],
        )
        score = _common_suffix(before, prefix) + _common_prefix(after, suffix)
        if score > best_score:
            best, best_score = start, score
        start = text.find(quote, start + 1)
    if best is not None and 2 * best_score < len(prefix) + len(suffix):
        return None
    return best


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _common_suffix(a: str, b: str) -> int:
    return _common_prefix(a[::-1], b[::-1])


def threads_reattach(document_id) -> int:
    """Anchor detached threads again where their quoted text is back (after a restore,
    which writes the old text anew); returns how many. Pages get the new anchors
    through the rooms' discussion catch-up."""
    from pycrdt import Text

    from collab.history.versions import archive
    from collab.yjs.crdt import TEXT_NAME

    doc, _ = archive(document_id)
    return threads_anchor(document_id, anchors_found_again(doc.get(TEXT_NAME, type=Text), quoted_threads(document_id)))


def quoted_threads(document_id) -> list[Thread]:
    """The document's threads that quote some text: those that may come detached."""
    return list(
        Thread.objects.filter(document_id=document_id, removed=False)
        .exclude(quote="")
        .only("pk", "anchor_start", "anchor_end", "quote", "prefix", "suffix")
    )


def anchors_found_again(text, threads: list[Thread]) -> dict[int, tuple[dict, dict]]:
    """{thread id: (start, end)}: new anchors in `text` (a pycrdt Text, read on the thread
    that owns its Doc) for the detached threads of `threads` whose quote is back."""
    from pycrdt import Assoc, StickyIndex

    from collab.discussion.anchors import resolve

    content, found = None, {}
    for thread in threads:
        start, end = resolve(text, thread.anchor_start), resolve(text, thread.anchor_end)
        if start is not None and end is not None and start < end:
            continue  # attached
        content = str(text) if content is None else content
        where = best_match(content, thread.quote, thread.prefix, thread.suffix)
        if where is None:
            continue
        begin = len(content[:where].encode())  # pycrdt counts UTF-8 bytes
        finish = begin + len(thread.quote.encode())
        found[thread.pk] = (
            StickyIndex.new(text, begin, Assoc.AFTER).to_json(),
            StickyIndex.new(text, finish, Assoc.BEFORE).to_json(),
        )
    return found


def threads_anchor(document_id, found: dict[int, tuple[dict, dict]]) -> int:
    """Store anchors of `anchors_found_again`, each change numbered as any other; how many."""
    for thread_id, (start, end) in found.items():
        with transaction.atomic():
            seq = _next_seq(document_id)
            Thread.objects.filter(pk=thread_id, document_id=document_id).update(
                anchor_start=start, anchor_end=end, seq=seq
            )
    return len(found)
