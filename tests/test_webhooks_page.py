"""The Webhooks page as people use it: endpoints added, switched, rotated and deleted,
their delivery log and "Send again", each person's own; the admin's view of deliveries;
and in Chromium, an endpoint added on the page to a real receiver."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from collab.access import documents
from collab.models import Document, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from collab.webhooks import endpoints, events
from collab.webhooks.delivery import deliver
from collab.webhooks.signing import new_secret
from tests.browser import chromium, screenshot, signed_in_context
from tests.conftest import make_user, session_cookie
from tests.servers import Server
from tests.test_webhooks import Receiver, until

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{44}")
PUBLIC_URL = "https://93.184.216.34/hooks/collab"  # a public address: allowed without resolving a name


def form(**changes) -> dict:
    return {"url": PUBLIC_URL, "events": ["document.created", "document.changed"], "document": "", **changes}


@pytest.fixture
def no_private(settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = False
    yield
    events.forget_wanted()


@pytest.fixture
def allow_loopback(settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = True
    settings.COLLAB_WEBHOOK_QUEUE = "thread"
    events.forget_wanted()
    yield
    events.forget_wanted()


def a_delivery(endpoint, status="failed", codes=(500,), event="document.created") -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id=f"msg_{WebhookDelivery.objects.count()}_{endpoint.pk}",
        event=event,
        payload={"type": event, "data": {}},
        status=status,
        attempts=len(codes),
    )
    for code in codes:
        WebhookAttempt.objects.create(delivery=delivery, status_code=code, duration_ms=42, response="nope")
    return delivery


# -- adding one ------------------------------------------------------------------------


def test_an_endpoint_added_on_the_page_shows_its_secret_once_it_is_made(owner_client, owner, no_private):
    response = owner_client.post("/webhooks/", form(), follow=True)
    endpoint = WebhookEndpoint.objects.get(user=owner)
    assert response.redirect_chain == [(f"/webhooks/{endpoint.pk}/", 302)]
    page = response.content.decode()
    assert SECRET.fullmatch(endpoint.secret)
    assert re.search(r'<details class="webhook-secret" open>', page) and endpoint.secret in page
    assert "Endpoint added" in page and "no-store" in response["Cache-Control"]
    assert (endpoint.url, endpoint.events, endpoint.document, endpoint.active) == (
        PUBLIC_URL,
        ["document.created", "document.changed"],
        None,
        True,
    )
    # Shown again on the endpoint's page, behind "Reveal", as it is needed to verify.
    again = owner_client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert '<details class="webhook-secret">' in again and endpoint.secret in again
    listed = owner_client.get("/webhooks/").content.decode()
    assert PUBLIC_URL in listed and "for all my documents" in listed and endpoint.secret not in listed


def test_an_endpoint_can_be_for_one_document_its_owner_chooses(owner_client, owner, editor, no_private):
    mine = documents.document_create(owner=owner, title="Quarterly plan")
    theirs = documents.document_create(owner=editor, title="Edith's diary")
    page = owner_client.get("/webhooks/").content.decode()
    assert "Quarterly plan" in page and "Edith's diary" not in page and "All my documents" in page
    owner_client.post("/webhooks/", form(document=str(mine.pk), events=["member.added"]))
    assert WebhookEndpoint.objects.get(user=owner).document == mine
    assert "for “Quarterly plan”" in owner_client.get("/webhooks/").content.decode()
    refused = owner_client.post("/webhooks/", form(document=str(theirs.pk)))
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 1


def test_a_loopback_or_private_url_is_refused_with_a_form_error(owner_client, no_private):
    for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.0.0.5/", "http://[::1]/"):
        response = owner_client.post("/webhooks/", form(url=url))
        assert response.status_code == 400, url
        page = response.content.decode()
        assert "This address may not be called" in page and "private, loopback or reserved" in page, url
    assert not WebhookEndpoint.objects.exists()


def test_a_loopback_url_is_allowed_when_the_setting_allows_private_targets(owner_client, owner, settings):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = True
    response = owner_client.post("/webhooks/", form(url="http://127.0.0.1:8000/hook"))
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get(user=owner).url == "http://127.0.0.1:8000/hook"
    events.forget_wanted()


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        (form(url=""), "Give the URL that should receive the events."),
        (form(url="not a url"), "Enter a valid URL."),
        (form(url="ftp://93.184.216.34/"), "only http and https URLs"),
        (form(url="https://" + "a" * 500 + ".example/"), "at most 500 characters"),
        (form(events=[]), "Choose at least one event."),
        (form(events=["document.exploded"]), "Select a valid choice"),
        (form(document="00000000-0000-0000-0000-000000000000"), "Select a valid choice"),
        (form(url="https://user:pw@93.184.216.34/"), "no credentials in the URL"),
    ],
)
def test_a_bad_form_gets_form_errors_and_makes_nothing(owner_client, no_private, sent, error):
    response = owner_client.post("/webhooks/", sent)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_service_refuses_what_the_form_would_so_code_cannot_slip_past(owner, editor, no_private):
    theirs = documents.document_create(owner=editor, title="Edith's")
    with pytest.raises(endpoints.Invalid) as refused:
        endpoints.endpoint_create(user=owner, url="http://127.0.0.1/", events=["document.created"])
    assert refused.value.field == "url"
    with pytest.raises(endpoints.Invalid) as refused:
        endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"], document=theirs)
    assert refused.value.field == "document"
    with pytest.raises(endpoints.Invalid):
        endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=[])
    assert not WebhookEndpoint.objects.exists()


def test_webhooks_are_for_signed_in_people(client, db):
    for url in ("/webhooks/", "/webhooks/1/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post("/webhooks/", form()).status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_the_documents_page_links_to_the_webhooks(owner_client):
    assert 'href="/webhooks/"' in owner_client.get("/").content.decode()


# -- each person's own ----------------------------------------------------------------


def test_someone_elses_endpoint_is_not_found_whatever_is_tried(client, owner, outsider, no_private):
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    delivery = a_delivery(endpoint)
    client.force_login(outsider)
    assert PUBLIC_URL not in client.get("/webhooks/").content.decode()
    assert client.get(f"/webhooks/{endpoint.pk}/").status_code == 404
    assert client.get(f"/webhooks/{endpoint.pk}/log/").status_code == 404
    assert client.post(f"/webhooks/{endpoint.pk}/", form(url="https://93.184.216.35/")).status_code == 404
    assert client.post(f"/webhooks/{endpoint.pk}/switch/", {"active": "0"}).status_code == 404
    assert client.post(f"/webhooks/{endpoint.pk}/rotate/").status_code == 404
    assert client.get(f"/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert client.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert client.post(f"/webhooks/deliveries/{delivery.pk}/again/").status_code == 404
    stored = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (stored.url, stored.active, stored.secret) == (PUBLIC_URL, True, endpoint.secret)
    assert WebhookDelivery.objects.count() == 1


# -- switches, rotation, deletion ------------------------------------------------------


def test_an_endpoint_is_turned_off_and_on_and_turning_on_forgets_why_it_was_off(owner_client, owner, no_private):
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    assert owner_client.get(f"/webhooks/{endpoint.pk}/switch/").status_code == 405
    page = owner_client.post(f"/webhooks/{endpoint.pk}/switch/", {"active": "0"}, follow=True).content.decode()
    endpoint.refresh_from_db()
    assert not endpoint.active and "Turn on" in page and "turned off automatically" not in page.lower()
    # collab turns it off after failures: the owner is told why, on the list and on its page.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=False, disabled_reason="5 deliveries in a row failed", failures=5
    )
    listed = owner_client.get("/webhooks/").content.decode()
    assert "collab turned it off: 5 deliveries in a row failed." in listed
    shown = owner_client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "collab turned this endpoint off automatically:</strong> 5 deliveries in a row failed" in shown
    owner_client.post(f"/webhooks/{endpoint.pk}/switch/", {"active": "1"})
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason, endpoint.failures) == (True, "", 0)
    assert "turned this endpoint off" not in owner_client.get(f"/webhooks/{endpoint.pk}/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_switch_changes_which_events_are_sent(owner, allow_loopback):
    receiver = Receiver()
    try:
        endpoint = endpoints.endpoint_create(user=owner, url=receiver.url, events=["document.created"])
        client = Client()
        client.force_login(owner)
        client.post(f"/webhooks/{endpoint.pk}/switch/", {"active": "0"})
        Document.objects.create(owner=owner, title="Quiet")
        assert not WebhookDelivery.objects.exists()
        client.post(f"/webhooks/{endpoint.pk}/switch/", {"active": "1"})
        Document.objects.create(owner=owner, title="Heard")
        assert [d.payload["data"]["document"]["title"] for d in WebhookDelivery.objects.all()] == ["Heard"]
    finally:
        receiver.close()


def test_settings_are_changed_on_the_endpoints_page_with_the_same_checks(owner_client, owner, no_private):
    document = documents.document_create(owner=owner, title="Handbook")
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    refused = owner_client.post(f"/webhooks/{endpoint.pk}/", form(url="http://192.168.1.1/"))
    assert refused.status_code == 400 and "This address may not be called" in refused.content.decode()
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).url == PUBLIC_URL
    changed = {"url": "https://93.184.216.35/new", "events": ["comment.created"], "document": str(document.pk)}
    assert owner_client.post(f"/webhooks/{endpoint.pk}/", changed).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.document) == (changed["url"], ["comment.created"], document)


@pytest.mark.django_db(transaction=True)
def test_rotating_keeps_the_old_secret_valid_for_a_day(owner_client, owner, allow_loopback):
    receiver = Receiver()
    try:
        endpoint = endpoints.endpoint_create(user=owner, url=receiver.url, events=["document.created"])
        old = endpoint.secret
        page = owner_client.post(f"/webhooks/{endpoint.pk}/rotate/", follow=True).content.decode()
        endpoint.refresh_from_db()
        new = endpoint.secret
        assert new != old and endpoint.previous_secret == old
        assert abs(endpoint.previous_until - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
        assert new in page and old not in page and "The previous secret signs deliveries too until" in page
        delivery = a_delivery(endpoint, status="pending", codes=())
        assert deliver(delivery.pk) == "succeeded"
        headers, body = receiver.received[-1]
        assert len(headers["webhook-signature"].split()) == 2
        for secret in (old, new):
            Webhook(secret).verify(body, headers)  # a receiver with either secret accepts it
        # A day later the old secret signs no more.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_until=timezone.now() - timedelta(seconds=1))
        later = a_delivery(endpoint, status="pending", codes=())
        assert deliver(later.pk) == "succeeded"
        headers, body = receiver.received[-1]
        Webhook(new).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(body, headers)
        assert "previous secret" not in owner_client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    finally:
        receiver.close()


def test_deleting_asks_first_then_removes_the_endpoint_and_its_log(owner_client, owner, no_private):
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    a_delivery(endpoint)
    confirm = owner_client.get(f"/webhooks/{endpoint.pk}/delete/")
    assert confirm.status_code == 200 and "Delete this endpoint?" in confirm.content.decode()
    assert WebhookEndpoint.objects.exists()
    done = owner_client.post(f"/webhooks/{endpoint.pk}/delete/", follow=True)
    assert done.redirect_chain == [("/webhooks/", 302)]
    assert "deleted, with its delivery log" in done.content.decode()
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


# -- the delivery log -----------------------------------------------------------------


def test_the_log_shows_the_latest_fifty_deliveries_with_their_last_attempt(owner_client, owner, no_private):
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    for _ in range(52):
        a_delivery(endpoint, status="succeeded", codes=(200,))
    failed = a_delivery(endpoint, status="failed", codes=(500, 503))
    WebhookAttempt.objects.create(delivery=failed, error="TimeoutError('timed out')", duration_ms=10000)
    page = owner_client.get(f"/webhooks/{endpoint.pk}/log/").content.decode()
    rows = re.findall(r'<tr class="delivery (\w+)" data-delivery-id="(\d+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 50
    status, pk, newest = rows[0]
    assert (status, int(pk)) == ("failed", failed.pk)
    assert "TimeoutError" in newest and "10000 ms" in newest and "Send again" in newest
    assert re.search(r'delivery-attempts">2<', newest)
    assert "<code>200</code>" in rows[1][2] and "42 ms" in rows[1][2]


@pytest.mark.django_db(transaction=True)
def test_send_again_makes_a_new_delivery_of_the_same_event_through_a_post(owner, allow_loopback):
    receiver = Receiver()
    try:
        endpoint = endpoints.endpoint_create(user=owner, url=receiver.url, events=["document.created"])
        delivery = a_delivery(endpoint, status="failed", codes=(500,))
        client = Client(enforce_csrf_checks=True)
        client.force_login(owner)
        assert client.post(f"/webhooks/deliveries/{delivery.pk}/again/").status_code == 403  # no CSRF token
        assert client.get(f"/webhooks/deliveries/{delivery.pk}/again/").status_code == 405
        page = client.get(f"/webhooks/{endpoint.pk}/").content.decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        done = client.post(f"/webhooks/deliveries/{delivery.pk}/again/", {"csrfmiddlewaretoken": csrf}, follow=True)
        assert done.redirect_chain == [(f"/webhooks/{endpoint.pk}/#log", 302)]
        assert "document.created sent again" in done.content.decode()
        again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
        assert (again.event, again.payload) == (delivery.event, delivery.payload)
        assert until(lambda: WebhookDelivery.objects.get(pk=again.pk).status == "succeeded")
        assert json.loads(receiver.received[0][1]) == delivery.payload
    finally:
        receiver.close()


def test_send_again_to_an_endpoint_that_is_off_says_to_turn_it_on(owner_client, owner, no_private):
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    delivery = a_delivery(endpoint)
    endpoints.endpoint_update(endpoint=endpoint, active=False)
    page = owner_client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert ">Send again<" not in page and "turn the endpoint on to send events again" in page
    done = owner_client.post(f"/webhooks/deliveries/{delivery.pk}/again/", follow=True).content.decode()
    assert "turn it on before sending anything again" in done
    assert WebhookDelivery.objects.count() == 1


# -- the admin ------------------------------------------------------------------------


def test_the_admin_lists_deliveries_with_their_attempts_and_sends_one_again(admin_client, owner, no_private):
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    delivery = a_delivery(endpoint, status="failed", codes=(500, 502, 503))
    listed = admin_client.get("/admin/collab/webhookdelivery/").content.decode()
    assert "document.created" in listed and PUBLIC_URL in listed and "olivia" in listed
    assert re.search(r"field-attempts[^>]*>3<", listed) and "503 in 42 ms" in listed
    shown = admin_client.get(f"/admin/collab/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert shown.count("nope") >= 3  # each attempt's answer, inline
    assert endpoint.secret not in shown
    endpoints_page = admin_client.get("/admin/collab/webhookendpoint/").content.decode()
    assert PUBLIC_URL in endpoints_page and endpoint.secret not in endpoints_page
    assert (
        endpoint.secret not in admin_client.get(f"/admin/collab/webhookendpoint/{endpoint.pk}/change/").content.decode()
    )
    done = admin_client.post(
        "/admin/collab/webhookdelivery/",
        {"action": "send_again_selected", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert "Sent 1 delivery again." in done.content.decode()
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_staff_without_the_permission_may_not_send_again_in_the_admin(client, owner, no_private):
    from django.contrib.auth.models import Permission

    staff = make_user("sam", staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    endpoint = endpoints.endpoint_create(user=owner, url=PUBLIC_URL, events=["document.created"])
    delivery = a_delivery(endpoint)
    client.force_login(staff)
    listed = client.get("/admin/collab/webhookdelivery/")
    assert listed.status_code == 200 and "send_again_selected" not in listed.content.decode()
    client.post("/admin/collab/webhookdelivery/", {"action": "send_again_selected", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.count() == 1


# -- in Chromium -----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.processes
def test_an_endpoint_added_in_chromium_receives_a_new_document_and_a_failed_one_is_sent_again(transactional_db, owner):
    receiver = Receiver([200])
    env = {
        "COLLAB_WEBHOOKS_ALLOW_PRIVATE": "1",
        "COLLAB_WEBHOOK_QUEUE": "thread",
        "COLLAB_WEBHOOK_RETRIES": "1",
        "COLLAB_WEBHOOK_DISABLE_AFTER": "1",
    }
    cookie = session_cookie(owner)
    try:
        with Server(env=env, log_name="webhooks-page") as server, chromium() as browser:
            context = signed_in_context(browser, server.url, cookie)
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
            page = context.new_page()
            page.goto(f"{server.url}/")
            page.get_by_role("link", name="Webhooks").click()
            expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
            new = page.locator("form.webhook-form")
            new.get_by_label("URL").fill(receiver.url)
            new.get_by_label("A document's text changed").uncheck()
            new.get_by_label("A document was created").check()
            expect(new.get_by_label("For", exact=True)).to_have_value("")  # all my documents
            new.get_by_role("button", name="Add endpoint").click()

            expect(page.locator(".messages")).to_contain_text("Endpoint added")
            secret = page.locator("#signing-secret")
            expect(secret).to_be_visible()
            page.get_by_role("button", name="Copy").click()
            copied = page.evaluate("() => navigator.clipboard.readText()")
            assert SECRET.fullmatch(copied) and copied == WebhookEndpoint.objects.get().secret
            endpoint_url = page.url

            # A new document, made on the documents page, is delivered and logged.
            other = context.new_page()
            other.goto(f"{server.url}/")
            other.get_by_role("button", name="New document").click()
            other.wait_for_url(re.compile(r".*/docs/[0-9a-f-]+/$"))
            row = page.locator("#delivery-log tr.delivery").first
            expect(row.locator(".delivery-status")).to_have_text("Succeeded", timeout=15_000)  # no reload
            expect(row).to_contain_text("document.created")
            expect(row.locator(".delivery-answer")).to_contain_text("200")
            headers, body = receiver.received[-1]
            assert Webhook(copied).verify(body, headers)["type"] == "document.created"
            screenshot(page, "webhook-delivered")

            # The receiver breaks: the delivery fails, is retried, and the endpoint is turned off.
            receiver.answers[:] = [500]
            other.goto(f"{server.url}/")
            other.get_by_role("button", name="New document").click()
            row = page.locator("#delivery-log tr.delivery").first
            expect(row.locator(".delivery-status")).to_have_text("Failed", timeout=15_000)
            expect(row.locator(".delivery-attempts")).to_have_text("2")
            expect(row.locator(".delivery-answer")).to_contain_text("500")
            page.reload()
            expect(page.get_by_role("alert")).to_contain_text("turned this endpoint off automatically")
            expect(page.get_by_role("alert")).to_contain_text("a delivery failed for good")

            # Fixed: turned on again, the failed delivery is sent again and succeeds.
            receiver.answers[:] = [200]
            page.get_by_role("button", name="Turn on").click()
            expect(page.locator(".messages")).to_contain_text("Endpoint turned on.")
            failed = page.locator("#delivery-log tr.delivery.failed").first
            failed.get_by_role("button", name=re.compile("^Send again")).click()
            expect(page.locator(".messages")).to_contain_text("document.created sent again")
            row = page.locator("#delivery-log tr.delivery").first
            expect(row.locator(".delivery-status")).to_have_text("Succeeded", timeout=15_000)
            assert page.url.startswith(endpoint_url)
            sent = [json.loads(b)["data"]["document"]["id"] for _, b in receiver.received]
            assert len(sent) == 4 and sent[-1] == sent[-2] == sent[-3]  # the failed one, twice, then again
            screenshot(page, "webhook-sent-again")
    finally:
        receiver.close()


@pytest.mark.browser
@pytest.mark.processes
def test_the_webhooks_pages_fit_a_phone_in_the_dark_and_show_form_errors(server, owner, no_private):
    documents.document_create(owner=owner, title="A rather long title for the quarterly planning document of the team")
    endpoint = endpoints.endpoint_create(
        user=owner, url=PUBLIC_URL + "/of/a/rather/long/path/for/the/receiver/of/the/team", events=["document.created"]
    )
    a_delivery(endpoint, status="failed", codes=(500,))
    WebhookAttempt.objects.create(
        delivery=a_delivery(endpoint, status="failed", codes=()),
        error="ConnectionRefusedError(111, 'Connection refused')",
    )
    cookie = session_cookie(owner)
    with chromium() as browser:
        context = signed_in_context(
            browser, server.url, cookie, viewport={"width": 360, "height": 740}, color_scheme="dark"
        )
        page = context.new_page()
        page.goto(f"{server.url}/webhooks/")
        new = page.locator("form.webhook-form")
        new.get_by_label("URL").fill("http://127.0.0.1:9/")
        new.get_by_label("A document was created").uncheck()
        new.get_by_label("A document's text changed").uncheck()
        new.get_by_role("button", name="Add endpoint").click()
        expect(page.locator("form.webhook-form .field-errors")).to_have_text(
            [re.compile("This address may not be called"), "Choose at least one event."]
        )
        assert WebhookEndpoint.objects.count() == 1
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
        screenshot(page, "webhooks-phone-dark")
        page.get_by_role("link", name=endpoint.url).click()
        page.get_by_text("Reveal the secret").click()
        expect(page.locator("#signing-secret")).to_be_visible()
        expect(page.locator("#delivery-log")).to_contain_text("Connection refused")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"the endpoint's page is {width}px wide on a 360 px phone"
        background = page.evaluate("() => getComputedStyle(document.querySelector('.card')).backgroundColor")
        assert max(int(c) for c in re.findall(r"\d+", background)[:3]) < 60, background
        screenshot(page, "webhook-phone-dark")


# -- the documentation's receiver ----------------------------------------------------


def documented_receiver() -> str:
    """The Python receiver of docs/webhooks.md, as printed there."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    return next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "receiver.py" in block)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_the_receiver_in_the_docs_verifies_a_real_delivery_and_refuses_a_forged_one(owner, allow_loopback, tmp_path):
    script = tmp_path / "receiver.py"
    script.write_text(documented_receiver())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = endpoints.endpoint_create(
        user=owner, url=f"http://127.0.0.1:{port}/", events=["document.created", "member.added"]
    )
    env = {**os.environ, "COLLAB_WEBHOOK_SECRET": endpoint.secret, "PORT": str(port)}
    receiver = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert until(lambda: listening(port))
        Document.objects.create(owner=owner, title="Read by the receiver")
        delivery = WebhookDelivery.objects.get()
        assert until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded")
        assert delivery.attempt_log.get().status_code == 204
        # Signed with another secret: refused, so it fails.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=new_secret())
        forged = a_delivery(endpoint, status="pending", codes=())
        with override_settings(COLLAB_WEBHOOK_RETRIES=[]):  # one attempt, no retry
            assert deliver(forged.pk) == "failed"
        assert forged.attempt_log.get().status_code == 400
    finally:
        receiver.terminate()
        output = receiver.communicate(timeout=10)[0]
    assert output.splitlines() == ["document.created Read by the receiver"]
