"""History with real workers and real WebSocket clients: authorship, restore while
people type, one version whichever workers cut it."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Assoc, StickyIndex

from collab.access import sharing
from collab.exceptions import CloseCode
from collab.history import restore, versions
from collab.history.authorship import author_for_user
from collab.models import ClientOwner, Document, Version
from collab.storage import persistence
from tests.conftest import make_user, session_cookie, until
from tests.yclient import YClient, open_client

pytestmark = pytest.mark.processes


async def converged(clients: list[YClient], document, timeout: float = 15) -> str:
    """The text every client and the database agree on."""

    async def agreed():
        stored = await database_sync_to_async(persistence.document_text)(document.id)
        return {client.value() for client in clients} == {stored}

    assert await until(agreed, timeout), [len(client.value()) for client in clients]
    return clients[0].value()


def owners_by_position(client: YClient, owners: dict[int, int]) -> list[int | None]:
    """The account that owns each visible character's client id, as the server recorded it."""
    found = []
    for index in range(len(client.text)):  # pycrdt positions: bytes, and the tests type ASCII
        item = StickyIndex.new(client.text, index, Assoc.AFTER).to_json()["item"]
        found.append(owners.get(item["client"]))
    return found


@pytest.fixture
def people(owner, editor):
    third = make_user("tess")
    document = Document.objects.create(owner=owner, title="Together")
    for person in (editor, third):
        sharing.membership_set(document=document, user=person, role="editor")
    return document, [owner, editor, third]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 10_000)), min_size=10, max_size=60))
async def test_every_visible_character_is_credited_to_whoever_typed_it(server, people, script):
    """Three people edit at random, interleaved, through real sockets; each types only
    their own letter, so the text says who typed each character: 100 % must match."""
    document, users = people
    document = await database_sync_to_async(Document.objects.create)(owner=users[0], title="Round")
    for person in users[1:]:
        await database_sync_to_async(sharing.membership_set)(document=document, user=person, role="editor")
    cookies = [await database_sync_to_async(session_cookie)(user) for user in users]
    clients = [await open_client(server, document, cookies[i], f"p{i}") for i in range(3)]
    letters = "abc"
    try:
        for who, delete, where in script:
            client = clients[who]
            length = len(client.text)
            if delete and length:
                start = where % length
                del client.text[start : min(length, start + 2)]
            else:
                client.insert(where % (length + 1), letters[who] * (1 + where % 3))
            await asyncio.sleep(0.002 if where % 4 else 0)
        text = await converged(clients, document)
        owners = await database_sync_to_async(
            lambda: dict(ClientOwner.objects.filter(document=document).values_list("client_id", "user_id"))
        )()
        credited = owners_by_position(clients[0], owners)
        assert credited == [users[letters.index(character)].pk for character in text]
    finally:
        for client in clients:
            await client.close()


async def test_a_client_writing_under_another_persons_client_id_is_closed_with_4422(server, people):
    document, (alice, bob, _) = people
    alice_client = await open_client(server, document, await database_sync_to_async(session_cookie)(alice), "alice")
    alice_client.insert(0, "Alice's words")
    await converged([alice_client], document)
    forger = await open_client(server, document, await database_sync_to_async(session_cookie)(bob), "bob")
    await forger.wait_for(lambda: forger.value() == "Alice's words")
    # Bob's client takes Alice's client id, as a hostile page could.
    from pycrdt import Doc, Text

    forged = Doc(client_id=alice_client.client_id)
    forged.apply_update(alice_client.doc.get_update())
    updates = []
    forged.observe(lambda event: updates.append(event.update))
    forged.get("content", type=Text).insert(0, "I resign. ")
    from collab.yjs import protocol

    await forger.send(protocol.sync_update(updates[0]))
    assert await forger.wait_closed(timeout=10) == CloseCode.FORGED_AUTHOR
    assert await database_sync_to_async(persistence.document_text)(document.id) == "Alice's words"
    alice_client.insert(len(alice_client.text), ", still hers")
    assert await converged([alice_client], document) == "Alice's words, still hers"
    await alice_client.close()


async def test_a_restore_while_five_people_type_loses_nothing_they_typed_and_moves_no_cursor(server, people):
    document, (alice, bob, tess) = people
    paragraphs = [f"Paragraph {i} says something sensible.\n" for i in range(10)]
    cookie = await database_sync_to_async(session_cookie)(alice)
    setup = await open_client(server, document, cookie, "setup")
    setup.insert(0, "".join(paragraphs))
    await converged([setup], document)
    good = await database_sync_to_async(versions.version_cut)(document_id=document.id)
    vandalised = "".join(paragraphs[:5])
    setup.insert(len(vandalised), "SPAM SPAM SPAM\n")
    await converged([setup], document)
    # A reader's cursor inside paragraph 8, which neither the vandal nor the restore touches.
    reader = await open_client(server, document, cookie, "reader")
    await reader.wait_for(lambda: "SPAM" in reader.value())
    at = reader.value().index("Paragraph 8") + 10
    cursor = StickyIndex.new(reader.text, at, Assoc.AFTER)
    under = reader.value()[at : at + 12]

    cookies = [await database_sync_to_async(session_cookie)(user) for user in (alice, bob, tess, bob, tess)]
    typists = [await open_client(server, document, cookies[i], f"t{i}") for i in range(5)]
    sent: list[list[tuple[str, float]]] = [[] for _ in typists]
    restoring_since = None
    stop_at = time.monotonic() + 3

    async def type_tokens(i: int) -> None:
        rng = random.Random(i)
        n = 0
        while time.monotonic() < stop_at:
            client = typists[i]
            token = f"<{i}.{n}>"
            text = client.value()
            # Somewhere at the end of a line of paragraphs 0-7, never inside a token.
            ends = [k for k, ch in enumerate(text) if ch == "\n"][:8]
            client.insert(rng.choice(ends) if ends else 0, token)
            sent[i].append((token, time.monotonic()))
            n += 1
            await asyncio.sleep(rng.uniform(0.01, 0.05))

    async def restore_midway() -> None:
        nonlocal restoring_since
        await asyncio.sleep(1.2)
        restoring_since = time.monotonic()
        made = await database_sync_to_async(restore.version_restore)(
            version=good, by=bob, author=await database_sync_to_async(author_for_user)(bob)
        )
        assert made is not None

    await asyncio.gather(*(type_tokens(i) for i in range(5)), restore_midway())
    everyone = [*typists, reader, setup]
    final = await converged(everyone, document)
    assert "SPAM" not in final
    before = await database_sync_to_async(
        lambda: Version.objects.get(document=document, kind=Version.Kind.BEFORE_RESTORE).text
    )()
    for i, tokens in enumerate(sent):
        for token, at_time in tokens:
            # Typed after the restore began: still there. Before: there, or (deleted by the
            # restore, as the version restored did not have it) kept in the version cut before it.
            if at_time > restoring_since + 0.5:
                assert token in final, f"typist {i} lost {token}"
            else:
                assert token in final or token in before, f"typist {i} lost {token}"
        assert any(at_time > restoring_since + 0.5 for _, at_time in tokens)
    moved_to = cursor.get_index()
    assert reader.value()[moved_to : moved_to + 12] == under
    for client in everyone:
        await client.close()


async def test_two_workers_cut_one_version_and_a_restore_reaches_and_is_announced_on_both(two_workers, people):
    document, (alice, bob, _) = people
    cookies = [await database_sync_to_async(session_cookie)(user) for user in (alice, bob)]
    clients = []
    for i, worker in enumerate(two_workers):
        url = f"{worker.ws_url}/ws/docs/{document.id}/?ext=1"
        clients.append(await YClient.websocket(url, cookie=cookies[i], origin=worker.url, name=f"w{i}").connect())
    clients[0].insert(0, "The first draft.\n")
    await converged(clients, document)
    # Both workers' rooms try to cut at once (as their tickers would): one version.
    cuts = await asyncio.gather(
        *(database_sync_to_async(versions.version_cut)(document_id=document.id) for _ in range(2))
    )
    assert sum(cut is not None for cut in cuts) == 1
    first = next(cut for cut in cuts if cut is not None)
    clients[1].insert(0, "Scribbles. ")
    await converged(clients, document)
    await database_sync_to_async(restore.version_restore)(
        version=first, by=alice, author=await database_sync_to_async(author_for_user)(alice)
    )
    assert await converged(clients, document, timeout=10) == "The first draft.\n"
    for client in clients:
        assert await until(lambda c=client: any(m.get("type") == "restored" for m in c.extensions))
        notice = next(m for m in client.extensions if m.get("type") == "restored")
        assert notice["by"] == "olivia"
    for client in clients:
        await client.close()
