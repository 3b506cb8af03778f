"""Comments and chat over real sockets, on one worker and on two (collab.discussion)."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from pycrdt import Assoc, StickyIndex

from collab.access import sharing
from collab.discussion import anchors, service
from collab.exceptions import CloseCode
from collab.history.authorship import author_for_user
from collab.models import ChatMessage, Comment, Document, Mention, Role, Thread
from collab.yjs import protocol
from tests.conftest import make_user, session_cookie, until
from tests.helpers import stored
from tests.servers import Server
from tests.yclient import YClient, open_client

pytestmark = pytest.mark.processes


def say(message: dict) -> bytes:
    """A client's discussion message (collab's extension message, type 100)."""
    return protocol.extension_frame(message)


async def talker(server, document, user, name: str) -> YClient:
    """A client that asked for collab's extension messages (`?ext=1`), as the page does."""
    cookie = await database_sync_to_async(session_cookie)(user)
    url = f"{server.ws_url}/ws/docs/{document.id}/?ext=1"
    return await YClient.websocket(url, cookie=cookie, origin=server.url, name=name).connect()


def received(client: YClient, kind: str) -> list[dict]:
    return [m for m in client.extensions if m.get("type") == kind]


async def until_received(client: YClient, kind: str, count: int = 1, timeout: float = 10) -> dict:
    assert await until(lambda: len(received(client, kind)) >= count, timeout), (kind, client.extensions)
    return received(client, kind)[count - 1]


def anchor_on(client: YClient, start: int, end: int) -> dict:
    return {
        "start": StickyIndex.new(client.text, start, Assoc.AFTER).to_json(),
        "end": StickyIndex.new(client.text, end, Assoc.BEFORE).to_json(),
    }


def new_thread(client: YClient, start: int, end: int, body: str, ref: str = "t1") -> dict:
    text = client.value()
    return {
        "type": "thread.create",
        "ref": ref,
        "anchor": anchor_on(client, start, end),
        "quote": text[start:end],
        "prefix": text[max(0, start - 20) : start],
        "suffix": text[end : end + 20],
        "body": body,
    }


@pytest.fixture
def cast(owner, editor, viewer):
    commenter = make_user("carla")
    document = Document.objects.create(owner=owner, title="Plans")
    sharing.membership_set(document=document, user=editor, role="editor")
    sharing.membership_set(document=document, user=viewer, role="viewer")
    sharing.membership_set(document=document, user=commenter, role=Role.COMMENTER)
    return document, commenter


async def test_two_people_comment_and_reply_and_see_each_others_threads_live_on_two_workers(
    two_workers, cast, owner, editor
):
    document, _ = cast
    olivia = await talker(two_workers[0], document, owner, "olivia")
    edith = await talker(two_workers[1], document, editor, "edith")
    olivia.insert(0, "The budget is far too small for a project of this size.\n")
    await edith.wait_for(lambda: "budget" in edith.value())
    await olivia.send(say(new_thread(olivia, 4, 10, "Which budget, @edith?")))
    mine = await until_received(olivia, "thread")
    assert mine["ref"] == "t1" and mine["thread"]["quote"] == "budget"
    theirs = await until_received(edith, "thread")
    assert theirs["thread"]["comments"][0]["author"]["name"] == "olivia" and "ref" not in theirs
    thread_id = theirs["thread"]["id"]
    await edith.send(say({"type": "comment.create", "thread": thread_id, "body": "The 2027 one."}))
    reply = await until_received(olivia, "thread", 2)
    assert [c["body"] for c in reply["thread"]["comments"]] == ["Which budget, @edith?", "The 2027 one."]
    await olivia.send(say({"type": "thread.resolve", "thread": thread_id, "resolved": True}))
    resolved = await until_received(edith, "thread", 3)
    assert resolved["thread"]["resolved"] and resolved["thread"]["resolved_by"] == "olivia"
    # Each edits only their own comment.
    first = reply["thread"]["comments"][0]["id"]
    await edith.send(say({"type": "comment.edit", "comment": first, "body": "Mine now", "ref": "e"}))
    refused = await until_received(edith, "discussion.refused")
    assert refused["ref"] == "e" and "author" in refused["reason"]
    await olivia.send(say({"type": "comment.edit", "comment": first, "body": "Which budget exactly, @edith?"}))
    edited = await until_received(edith, "thread", 4)
    first_comment = edited["thread"]["comments"][0]
    assert first_comment["body"] == "Which budget exactly, @edith?" and first_comment["edited"]
    # The mention is listed for Edith.
    mentioned = await database_sync_to_async(lambda: list(service.mentions_for(user=editor)))()
    assert [m.comment.thread_id for m in mentioned] == [thread_id]
    # A page that opens later gets the whole discussion.
    late = await talker(two_workers[0], document, editor, "late")
    await late.send(say({"type": "discussion.load"}))
    state = await until_received(late, "discussion")
    assert [t["id"] for t in state["threads"]] == [thread_id] and state["can_comment"]
    for client in (olivia, edith, late):
        await client.close()


async def test_chat_is_live_for_everyone_and_older_messages_load_in_pages(two_workers, cast, owner, viewer):
    document, commenter = cast
    carla = await talker(two_workers[0], document, commenter, "carla")
    victor = await talker(two_workers[1], document, viewer, "victor")
    for i in range(55):
        await database_sync_to_async(service.chat_send)(
            document_id=document.id, author=await database_sync_to_async(author_for_user)(owner), body=f"old {i}"
        )
    await carla.send(say({"type": "chat.send", "body": "Hello from Carla", "ref": "c1"}))
    # Carla's through the relay; the 55 stored directly (no room relayed them) through the ticker's catch-up.
    ok = await until(lambda: len(received(victor, "chat.message")) == 56)
    assert ok, len(received(victor, "chat.message"))
    hello = next(m for m in received(victor, "chat.message") if m["message"]["body"] == "Hello from Carla")
    assert hello["message"]["author"]["name"] == "carla"
    await victor.send(say({"type": "discussion.load"}))
    state = await until_received(victor, "discussion")
    assert len(state["chat"]) == 50 and state["chat_more"] and state["chat"][-1]["body"] == "Hello from Carla"
    assert not state["can_chat"]  # a viewer reads the chat and cannot write in it
    await victor.send(say({"type": "chat.older", "before": state["chat"][0]["id"]}))
    page = await until_received(victor, "chat.page")
    assert [m["body"] for m in page["messages"]] == [f"old {i}" for i in range(6)] and not page["more"]
    await victor.send(say({"type": "chat.send", "body": "sneaky", "ref": "v"}))
    assert (await until_received(victor, "discussion.refused"))["ref"] == "v"
    assert not await database_sync_to_async(ChatMessage.objects.filter(body="sneaky").exists)()
    for client in (carla, victor):
        await client.close()


async def test_a_change_the_relay_missed_reaches_every_worker_from_the_database(two_workers, cast, owner):
    document, _ = cast
    clients = [await talker(worker, document, owner, f"w{i}") for i, worker in enumerate(two_workers)]
    await database_sync_to_async(service.chat_send)(
        document_id=document.id, author=await database_sync_to_async(author_for_user)(owner), body="written elsewhere"
    )
    for client in clients:
        message = await until_received(client, "chat.message")
        assert message["message"]["body"] == "written elsewhere"
    for client in clients:
        await client.close()


async def test_a_commenter_comments_but_cannot_change_the_text(server, cast, owner):
    document, commenter = cast
    olivia = await talker(server, document, owner, "olivia")
    olivia.insert(0, "Carla may not touch this.")
    carla = await talker(server, document, commenter, "carla")
    await carla.wait_for(lambda: carla.value() == "Carla may not touch this.")
    assert carla.rights["role"] == "commenter" and not carla.rights["canWrite"]
    carla.insert(0, "HACKED ")
    await carla.send(say(new_thread(carla, 7, 12, "Why not?")))  # on "Carla", past her refused "HACKED "
    thread = await until_received(olivia, "thread")
    assert thread["thread"]["quote"] == "Carla"
    assert await stored(document) == "Carla may not touch this."
    assert olivia.value() == "Carla may not touch this."
    for client in (olivia, carla):
        await client.close()


async def test_a_viewers_forged_comment_is_refused_and_nothing_is_stored(server, cast, owner, viewer):
    document, _ = cast
    olivia = await talker(server, document, owner, "olivia")
    olivia.insert(0, "Some text")
    victor = await talker(server, document, viewer, "victor")
    await victor.wait_for(lambda: victor.value() == "Some text")
    await victor.send(say(new_thread(victor, 0, 4, "I am not allowed", ref="v1")))
    refused = await until_received(victor, "discussion.refused")
    assert refused["ref"] == "v1" and "viewer" in refused["reason"]
    assert not await database_sync_to_async(Thread.objects.exists)()
    assert not received(olivia, "thread")
    assert not victor.closed.is_set()
    for client in (olivia, victor):
        await client.close()


@pytest.mark.parametrize(
    "message",
    [
        b"not json",
        json.dumps({"type": "comment.create", "thread": "1", "body": "x"}).encode(),
        json.dumps(
            {
                "type": "thread.create",
                "anchor": {"start": {"item": "x"}, "end": {}},
                "quote": "",
                "prefix": "",
                "suffix": "",
                "body": "x",
            }
        ).encode(),
        json.dumps({"type": "no.such.thing"}).encode(),
        json.dumps(["thread.create"]).encode(),
    ],
)
async def test_a_malformed_discussion_message_closes_only_its_connection_with_4400(server, cast, owner, message):
    document, _ = cast
    bystander = await talker(server, document, owner, "bystander")
    sender = await talker(server, document, owner, "sender")
    frame = bytes([protocol.MessageType.EXTENSION]) + protocol.write_var_string(message.decode("utf-8", "replace"))
    await sender.send(frame)
    assert await sender.wait_closed() == CloseCode.MALFORMED
    bystander.insert(0, "still fine")

    async def saved():
        return await stored(document) == "still fine"

    assert await until(saved)
    assert not bystander.closed.is_set()
    await bystander.close()


async def test_a_stock_client_keeps_syncing_text_and_never_gets_a_discussion_message(server, cast, owner, editor):
    document, _ = cast
    olivia = await talker(server, document, owner, "olivia")
    stock = await open_client(server, document, await database_sync_to_async(session_cookie)(editor), "stock")
    olivia.insert(0, "Text to comment on.")
    await stock.wait_for(lambda: stock.value() == "Text to comment on.")
    await olivia.send(say(new_thread(olivia, 0, 4, "A thread")))
    await until_received(olivia, "thread")
    await olivia.send(say({"type": "chat.send", "body": "and a chat message"}))
    await until_received(olivia, "chat.message")
    olivia.insert(len(olivia.text), " More.")
    await stock.wait_for(lambda: stock.value() == "Text to comment on. More.")
    assert protocol.MessageType.EXTENSION not in stock.message_types
    # And a client that did not ask may not send them either: a stock server would not know them.
    await stock.send(say({"type": "discussion.load"}))
    assert await stock.wait_closed() == CloseCode.MALFORMED
    await olivia.close()


async def test_limits_on_comments_anchors_and_rate(server, cast, owner):
    document, _ = cast
    olivia = await talker(server, document, owner, "olivia")
    olivia.insert(0, "Short text.")

    async def saved():
        return await stored(document) == "Short text."

    assert await until(saved)  # the page sends its edit before its comment; this client sends it from a task
    too_long = new_thread(olivia, 0, 5, "x" * 5001, ref="long")
    await olivia.send(say(too_long))
    assert "5000" in (await until_received(olivia, "discussion.refused"))["reason"]
    unknown = new_thread(olivia, 0, 5, "on text the server never saw", ref="ghost")
    unknown["anchor"]["start"] = {"item": {"client": 123456, "clock": 99}, "assoc": 0}
    await olivia.send(say(unknown))
    refusal = await until_received(olivia, "discussion.refused", 2)
    assert refusal["ref"] == "ghost" and "not in the document" in refusal["reason"]
    for i in range(12):  # the bucket holds 9 (COLLAB_RATE_DISCUSSION 3/s, burst 3x)
        await olivia.send(say({"type": "chat.send", "body": f"spam {i}", "ref": f"s{i}"}))
    assert await until(lambda: any("too many" in m["reason"] for m in received(olivia, "discussion.refused")))
    assert not olivia.closed.is_set()
    await olivia.close()


def test_an_anchor_follows_the_text_and_resolves_to_one_place_once_its_text_is_gone():
    from pycrdt import Doc, Text

    doc = Doc()
    text = doc.get("content", type=Text)
    text += "alpha beta gamma"
    start = anchors.check_position(StickyIndex.new(text, 6, Assoc.AFTER).to_json())
    end = anchors.check_position(StickyIndex.new(text, 10, Assoc.BEFORE).to_json())
    text.insert(0, "zero ")
    text.insert(13, "!")  # inside "beta"
    assert str(text)[anchors.resolve(text, start) : anchors.resolve(text, end)] == "be!ta"
    del text[11:16]
    assert anchors.resolve(text, start) == anchors.resolve(text, end)  # detached: shown with its quote
    assert anchors.resolve(text, {"item": {"client": 1, "clock": 5}, "assoc": 0}) is None
    assert anchors.resolve(text, {"tname": "content", "assoc": 0}) == len(text)


def test_deleting_every_comment_removes_the_thread_and_a_banned_authors_comments_stay_marked(cast, owner, editor):
    document, _ = cast
    author = author_for_user(editor)
    anchor = {"start": {"tname": "content", "assoc": 0}, "end": {"tname": "content", "assoc": 0}}
    created = service.thread_create(
        document_id=document.id, author=author, anchor=anchor, quote="q", prefix="", suffix="", body="first"
    )
    thread_id = created["thread"]["id"]
    service.comment_create(document_id=document.id, author=author_for_user(owner), thread=thread_id, body="second")
    type(editor).objects.filter(pk=editor.pk).update(is_active=False)
    state = service.discussion_state(document.id)
    assert state["threads"][0]["comments"][0]["author"]["banned"]
    for comment in Comment.objects.filter(thread_id=thread_id):
        out = service.comment_delete(document_id=document.id, comment=comment.pk, by_moderator=True)
    assert out == {"type": "thread.removed", "id": thread_id, "seq": out["seq"]}
    assert service.discussion_state(document.id)["threads"] == []
    assert not Mention.objects.exists()


def test_restoring_the_text_a_detached_thread_quoted_attaches_it_again(cast, owner):
    from pycrdt import Doc, Text

    from collab.history import restore, versions
    from collab.storage import persistence

    document, _ = cast
    doc = Doc()
    text = doc.get("content", type=Text)
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    text += "The quick brown fox. The quick grey fox."
    persistence.append(document.id, list(updates))
    good = versions.version_cut(document_id=document.id)
    anchor = {
        "start": StickyIndex.new(text, 25, Assoc.AFTER).to_json(),  # the second "quick"
        "end": StickyIndex.new(text, 30, Assoc.BEFORE).to_json(),
    }
    service.thread_create(
        document_id=document.id,
        author=author_for_user(owner),
        anchor=anchor,
        quote="quick",
        prefix="fox. The ",
        suffix=" grey fox.",
        body="Too slow?",
    )
    updates.clear()
    del text[21:40]  # the second sentence is gone: the thread is detached
    persistence.append(document.id, list(updates))
    assert service.threads_reattach(document.id) == 0  # its text is not back
    restore.version_restore(version=good, by=owner, author=author_for_user(owner))
    assert service.threads_reattach(document.id) == 1
    thread = Thread.objects.get()
    now, _ = versions.archive(document.id)
    content = now.get("content", type=Text)
    start, end = anchors.resolve(content, thread.anchor_start), anchors.resolve(content, thread.anchor_end)
    assert str(content).encode()[start:end] == b"quick" and start == 25  # the second one, by its context
    assert service.threads_reattach(document.id) == 0  # attached now


async def _holds(document, text: str) -> bool:
    return await stored(document) == text


async def test_a_thread_whose_words_an_undo_writes_back_is_anchored_again_live(transactional_db, cast, owner):
    """An undo in the browser writes deleted words back as new Yjs items: the thread's
    anchors, on the deleted ones, stay collapsed until the room anchors it again."""
    document, _ = cast
    with Server(env={"COLLAB_SEARCH_INDEX_SECONDS": "0.2"}, log_name="reattach") as server:
        olivia = await talker(server, document, owner, "olivia")
        olivia.insert(0, "The budget is far too small for a project of this size.\n")
        assert await until(lambda: _holds(document, olivia.value()))
        await olivia.send(say(new_thread(olivia, 4, 10, "Which budget?")))
        thread = (await until_received(olivia, "thread"))["thread"]
        del olivia.text[4:11]  # "budget " gone: the thread is detached
        assert anchors.resolve(olivia.text, thread["anchor"]["start"]) == anchors.resolve(
            olivia.text, thread["anchor"]["end"]
        )
        olivia.insert(4, "budget ")  # and back, as an undo writes it
        again = (await until_received(olivia, "thread", 2))["thread"]
        start, end = (anchors.resolve(olivia.text, again["anchor"][side]) for side in ("start", "end"))
        assert olivia.value()[start:end] == "budget" and again["id"] == thread["id"]
        await olivia.close()


async def test_a_discussion_too_large_for_one_message_comes_thread_by_thread(transactional_db, cast, owner):
    document, _ = cast
    author = await database_sync_to_async(author_for_user)(owner)
    anchor = {"start": {"tname": "content", "assoc": 0}, "end": {"tname": "content", "assoc": 0}}
    for i in range(120):  # some 600 KB of comments, over half of COLLAB_MAX_MESSAGE_BYTES below
        await database_sync_to_async(service.thread_create)(
            document_id=document.id, author=author, anchor=anchor, quote=f"q{i}", prefix="", suffix="", body="x" * 4990
        )
    limits = {"COLLAB_MAX_MESSAGE_BYTES": str(1024 * 1024), "COLLAB_MAX_DOCUMENT_BYTES": str(1024 * 1024)}
    with Server(env=limits, log_name="small-messages") as server:
        olivia = await talker(server, document, owner, "olivia")
        await olivia.send(say({"type": "discussion.load"}))
        state = await until_received(olivia, "discussion")
        assert state["threads"] == []
        assert await until(lambda: len(received(olivia, "thread")) == 120)
        assert not olivia.closed.is_set()
        await olivia.close()
