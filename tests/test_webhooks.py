"""Webhooks to a real receiver on loopback: signed, retried, logged, debounced, guarded."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from collab.access import documents, sharing
from collab.models import Document, WebhookDelivery, WebhookEndpoint
from collab.webhooks import changes, events, guard
from collab.webhooks.delivery import deliver, send_again
from collab.webhooks.signing import new_secret


class Receiver:
    """An HTTP server on loopback that answers each POST with the next status of `answers`."""

    def __init__(self, answers=(200,)):
        self.answers = list(answers)
        self.received: list[tuple[dict, bytes]] = []
        received, answers_ = self.received, self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = answers_.pop(0) if len(answers_) > 1 else answers_[0]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/collab"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def allow_loopback(settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = True
    settings.COLLAB_WEBHOOK_QUEUE = "thread"
    events.forget_wanted()
    yield
    events.forget_wanted()


def endpoint_for(user, url, event_names, document=None) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.create(
        user=user, document=document, url=url, events=list(event_names), secret=new_secret()
    )
    events.forget_wanted()
    return endpoint


def until(condition, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.django_db(transaction=True)
def test_events_are_signed_so_that_a_stock_verifier_accepts_them(owner, editor, receiver, allow_loopback):
    endpoint = endpoint_for(owner, receiver.url, ["document.created", "member.added", "document.deleted"])
    document = documents.document_create(owner=owner, title="Plans")
    sharing.membership_set(document=document, user=editor, role="editor")
    documents.document_trash(document=document, actor=owner)
    assert until(lambda: len(receiver.received) == 3)
    assert sorted(receiver.events()) == ["document.created", "document.deleted", "member.added"]
    for headers, body in receiver.received:
        payload = Webhook(endpoint.secret).verify(body, headers)  # raises if the signature is wrong
        assert payload["data"]["document"]["id"] == str(document.pk)
        assert payload["data"]["document"]["content_url"].endswith(f"/api/v1/documents/{document.pk}/content")
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(receiver.received[0][1], receiver.received[0][0])
    added = next(json.loads(b) for _, b in receiver.received if json.loads(b)["type"] == "member.added")
    assert added["data"]["member"]["name"] == "edith" and added["data"]["role"] == "editor"


@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_is_retried_and_every_attempt_is_logged(owner, allow_loopback, settings):
    settings.COLLAB_WEBHOOK_RETRIES = [1, 1]
    flaky = Receiver([500, 200])
    try:
        endpoint_for(owner, flaky.url, ["document.created"])
        document = Document.objects.create(owner=owner, title="Retry me")
        delivery = WebhookDelivery.objects.get(endpoint__user=owner)
        assert until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded", 15)
        attempts = list(WebhookDelivery.objects.get(pk=delivery.pk).attempt_log.values_list("status_code", flat=True))
        assert attempts == [500, 200]
        headers = [h["webhook-id"] for h, _ in flaky.received]
        assert headers[0] == headers[1]  # the same message, so a receiver can tell a retry
        assert document.pk
    finally:
        flaky.close()


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_that_keeps_failing_is_turned_off_and_410_turns_it_off_at_once(owner, allow_loopback, settings):
    settings.COLLAB_WEBHOOK_RETRIES = []
    settings.COLLAB_WEBHOOK_DISABLE_AFTER = 2
    failing, gone = Receiver([503]), Receiver([410])
    try:
        broken = endpoint_for(owner, failing.url, ["document.created"])
        for title in ("one", "two"):
            Document.objects.create(owner=owner, title=title)
        assert until(lambda: not WebhookEndpoint.objects.get(pk=broken.pk).active)
        assert "2 deliveries in a row failed" in WebhookEndpoint.objects.get(pk=broken.pk).disabled_reason
        leaving = endpoint_for(owner, gone.url, ["document.created"])
        Document.objects.create(owner=owner, title="three")
        assert until(lambda: not WebhookEndpoint.objects.get(pk=leaving.pk).active)
        assert "410" in WebhookEndpoint.objects.get(pk=leaving.pk).disabled_reason
        # "Send again" after the receiver is fixed.
        fixed = Receiver([200])
        try:
            WebhookEndpoint.objects.filter(pk=broken.pk).update(url=fixed.url, active=True, failures=0)
            again = send_again(WebhookDelivery.objects.filter(endpoint=broken).first())
            assert until(lambda: WebhookDelivery.objects.get(pk=again.pk).status == "succeeded")
        finally:
            fixed.close()
    finally:
        failing.close()
        gone.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "http://user:pass@93.184.216.34/",
    ],
)
def test_targets_on_this_machine_or_private_networks_are_refused(url, settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(guard.Refused):
        guard.checked_address(url)


def test_a_public_address_is_allowed(settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = False
    assert guard.checked_address("https://93.184.216.34/hooks")[3] == "93.184.216.34"


@pytest.mark.django_db(transaction=True)
def test_a_refused_target_is_logged_and_turns_the_endpoint_off(owner, settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = False
    endpoint = endpoint_for(owner, "http://127.0.0.1:9/", ["document.created"])
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, message_id="msg_x", event="document.created", payload={}
    )
    assert deliver(delivery.pk) == "failed"
    attempt = delivery.attempt_log.get()
    assert attempt.error.startswith("refused") and attempt.status_code is None
    assert not WebhookEndpoint.objects.get(pk=endpoint.pk).active


@pytest.mark.django_db(transaction=True)
def test_document_changed_is_debounced(owner, receiver, allow_loopback):
    from datetime import timedelta

    from django.utils import timezone

    endpoint_for(owner, receiver.url, ["document.changed"])
    document = Document.objects.create(owner=owner, title="Busy")
    start = timezone.now()
    sent = 0
    for second in range(12):  # a change every second for 12 s, then quiet
        sent += changes.tick([document.pk], now=start + timedelta(seconds=second))
    assert sent == 1  # the 10 s mark
    assert changes.tick([], now=start + timedelta(seconds=12.5)) == 0  # not yet 2 s quiet
    assert changes.tick([], now=start + timedelta(seconds=13.5)) == 1
    assert until(lambda: receiver.events() == ["document.changed", "document.changed"])


@pytest.mark.django_db(transaction=True)
def test_an_api_write_to_a_document_nobody_has_open_sends_one_document_changed(owner, receiver, allow_loopback):
    from tests.test_api import api, bearer

    endpoint_for(owner, receiver.url, ["document.changed"])
    document = documents.document_create(owner=owner, title="Scripted")
    client = api(bearer(owner))
    url = f"/api/v1/documents/{document.pk}/content"
    assert client.put(url, "First\n", content_type="text/markdown").status_code == 200
    assert client.post(url, "Second\n", content_type="text/markdown").status_code == 200
    # No room, so no ticker: the queue looks again once the change has been quiet for 2 s.
    assert until(lambda: receiver.events() == ["document.changed"])
    payload = json.loads(receiver.received[0][1])
    assert payload["data"]["document"]["id"] == str(document.pk)
    assert not until(lambda: len(receiver.received) > 1, timeout=3)  # the two writes made one event


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_rq_delivers_and_retries_with_its_worker(owner, redis_server, settings):
    import django_rq
    from rq import SimpleWorker

    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = True
    settings.COLLAB_WEBHOOK_QUEUE = "rq"
    settings.COLLAB_WEBHOOK_RETRIES = [1]
    settings.RQ_QUEUES = {"webhooks": {"URL": redis_server.url, "DEFAULT_TIMEOUT": 60}}
    flaky = Receiver([500, 200])
    try:
        endpoint_for(owner, flaky.url, ["document.created"])
        Document.objects.create(owner=owner, title="Queued")
        queue = django_rq.get_queue("webhooks")
        assert queue.connection.connection_pool.connection_kwargs["port"] == int(
            redis_server.url.rsplit(":", 1)[1].split("/")[0]
        )
        delivery = WebhookDelivery.objects.get()

        def work():
            SimpleWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=True)
            return WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded"

        assert until(work, 20)
        assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [500, 200]
    finally:
        flaky.close()
        events.forget_wanted()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
async def test_document_changed_comes_once_from_two_workers_typing_into_one_document(owner, redis_server, receiver):
    from channels.db import database_sync_to_async

    from tests.conftest import running_workers, session_cookie
    from tests.yclient import open_client

    await database_sync_to_async(endpoint_for)(owner, receiver.url, ["document.changed"])
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Typed on two workers")
    env = {"COLLAB_WEBHOOKS_ALLOW_PRIVATE": "1", "COLLAB_WEBHOOK_QUEUE": "thread"}
    cookie = await database_sync_to_async(session_cookie)(owner)
    import asyncio

    with running_workers(redis_server.url, env=env, name="hooks") as workers:
        clients = [await open_client(worker, document, cookie, f"c{i}") for i, worker in enumerate(workers)]
        for i in range(30):  # 3 s of typing on both workers
            client = clients[i % 2]
            client.insert(len(client.text), "x")
            await asyncio.sleep(0.1)
        from tests.conftest import until as until_async

        assert await until_async(lambda: receiver.events() != [])  # once quiet for 2 s
        await asyncio.sleep(3)  # long enough for a second worker's copy, if one were sent
        assert receiver.events() == ["document.changed"]
        for client in clients:
            await client.close()
