"""Personal API tokens as people handle them: made, copied and revoked on the account
page, revoked by a moderator in the admin, each person's own."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from collab.api.tokens import token_create, token_for, token_revoke
from collab.models import ApiToken, AuditEntry
from collab.moderation import actions as moderation
from tests.browser import chromium, screenshot, signed_in_context
from tests.conftest import ensure_moderator_group, make_user, session_cookie

TOKEN_TEXT = re.compile(r"collab_pat_[A-Za-z0-9_-]{43}")
FORM = {"name": "Deploy script", "scopes": ["documents:read"], "expires": "30"}


def api_status(token: str, base: str = "") -> int:
    """The status of GET /api/v1/documents with this bearer token: through Django's client,
    or over HTTP when `base` is a server's address."""
    if not base:
        return Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/documents").status_code
    request = urllib.request.Request(f"{base}/api/v1/documents", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def created_text(response) -> str:
    """The token's text shown in the page the creation form answered with."""
    found = TOKEN_TEXT.findall(response.content.decode())
    assert len(set(found)) == 1, found
    return found[0]


# -- the account page, through Django's client ------------------------------------------


def test_a_token_made_on_the_account_page_is_shown_in_that_response_only(owner_client, owner):
    response = owner_client.post("/accounts/tokens/", FORM)
    assert response.status_code == 200
    text = created_text(response)
    assert "will not be shown again" in response.content.decode()
    assert "no-store" in response["Cache-Control"]  # the browser does not keep the page
    assert api_status(text) == 200
    token = ApiToken.objects.get(user=owner)
    assert (token.name, token.scopes, token.last4) == ("Deploy script", ["documents:read"], text[-4:])
    # Not kept anywhere: not in the session, not in a message, not on the next page.
    for session in Session.objects.all():
        assert text not in json.dumps(session.get_decoded())
    page = owner_client.get("/accounts/").content.decode()
    assert text not in page and TOKEN_TEXT.search(page) is None
    assert f"…{text[-4:]}" in page and "Deploy script" in page and "documents:read" in page


def test_the_account_form_still_saves_from_the_page_showing_a_new_token(owner_client, owner):
    page = owner_client.post("/accounts/tokens/", FORM).content.decode()
    assert 'action="/accounts/"' in page  # not back to the token form's address
    assert owner_client.post("/accounts/", {"display_name": "Olivia", "email": ""}).status_code == 302
    owner.profile.refresh_from_db()
    assert owner.profile.display_name == "Olivia"


def test_a_form_sent_twice_makes_one_token_and_shows_no_text_the_second_time(owner_client, owner):
    form = {**FORM, "once": "reload-me"}
    first = owner_client.post("/accounts/tokens/", form)
    created_text(first)
    again = owner_client.post("/accounts/tokens/", form, follow=True)
    assert again.redirect_chain == [("/accounts/#tokens", 302)]
    assert TOKEN_TEXT.search(again.content.decode()) is None and "sent already" in again.content.decode()
    assert ApiToken.objects.filter(user=owner).count() == 1
    created_text(owner_client.post("/accounts/tokens/", {**FORM, "once": "another form"}))
    assert ApiToken.objects.filter(user=owner).count() == 2


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({**FORM, "name": ""}, "Give the token a name"),
        ({**FORM, "name": "   "}, "Give the token a name"),
        ({**FORM, "name": "x" * 101}, "at most 100 characters"),
        ({"name": "CI", "expires": "30"}, "Choose at least one scope."),
        ({**FORM, "scopes": ["documents:delete"]}, "Select a valid choice"),
        ({**FORM, "expires": "5"}, "Select a valid choice"),
        ({**FORM, "expires": "forever"}, "Select a valid choice"),
    ],
)
def test_a_bad_token_form_gets_form_errors_and_makes_no_token(owner_client, owner, form, error):
    response = owner_client.post("/accounts/tokens/", form)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert TOKEN_TEXT.search(response.content.decode()) is None
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(("expires", "days"), [("7", 7), ("30", 30), ("90", 90), ("", None)])
def test_a_token_expires_after_the_days_chosen_or_never(owner_client, owner, expires, days):
    owner_client.post("/accounts/tokens/", {**FORM, "expires": expires, "scopes": ["documents:read", "members:write"]})
    token = ApiToken.objects.get(user=owner)
    assert token.scopes == ["documents:read", "members:write"]
    if days is None:
        assert token.expires_at is None
    else:
        assert abs(token.expires_at - (timezone.now() + timedelta(days=days))) < timedelta(minutes=1)


def test_the_list_shows_each_tokens_state_and_times(owner_client, owner):
    token_create(user=owner, name="Old", scopes=["documents:read"], expires_at=timezone.now() - timedelta(days=1))
    revoked, _ = token_create(user=owner, name="Gone", scopes=["documents:read"])
    owner_client.post(f"/accounts/tokens/{revoked.pk}/revoke/")
    _, text = token_create(user=owner, name="Used", scopes=["documents:write"])
    api_status(text)
    page = owner_client.get("/accounts/").content.decode()
    items = {name: item for name, item in re.findall(r'token-name">([^<]+)</span>(.*?)</li>', page, re.S)}
    assert "Expired" in items["Old"] and "Revoke" not in items["Old"]
    assert "Revoked" in items["Gone"] and "Revoke<" not in items["Gone"]
    assert "Active" in items["Used"] and "just now" in items["Used"] and "Revoke<" in items["Used"]
    assert "never" in items["Gone"]  # never used


def test_revoking_on_the_page_stops_the_token_and_needs_a_post_with_csrf(owner, editor):
    token, text = token_create(user=owner, name="CI", scopes=["documents:read"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 403  # no CSRF token
    assert api_status(text) == 200
    page = client.get("/accounts/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    done = client.post(f"/accounts/tokens/{token.pk}/revoke/", {"csrfmiddlewaretoken": csrf}, follow=True)
    assert "Revoked “CI”" in done.content.decode()
    assert api_status(text) == 401


def test_one_persons_tokens_are_not_anothers_to_see_or_revoke(client, owner, outsider):
    token, text = token_create(user=owner, name="Olivia's backup job", scopes=["documents:read"])
    client.force_login(outsider)
    page = client.get("/accounts/").content.decode()
    assert "backup job" not in page and f"…{token.last4}" not in page and "You have no tokens." in page
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert api_status(text) == 200


def test_tokens_are_for_signed_in_people(client, owner):
    response = client.post("/accounts/tokens/", FORM)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not ApiToken.objects.exists()


# -- the admin -----------------------------------------------------------------------


def test_the_admin_lists_tokens_without_their_digest_and_finds_a_leaked_one(admin_client, owner, editor):
    token, text = token_create(user=owner, name="CI", scopes=["documents:read", "documents:write"])
    other, _ = token_create(user=editor, name="Laptop", scopes=["documents:read"])
    listed = admin_client.get("/admin/collab/apitoken/").content.decode()
    changed = admin_client.get(f"/admin/collab/apitoken/{token.pk}/change/").content.decode()
    for page in (listed, changed):
        assert token.digest not in page and text not in page
        assert f"…{token.last4}" in page and "documents:read, documents:write" in page
    assert "Laptop" in listed
    by_user = admin_client.get("/admin/collab/apitoken/", {"q": "edith"}).content.decode()
    assert "Laptop" in by_user and ">CI<" not in by_user
    leaked = admin_client.get("/admin/collab/apitoken/", {"q": text}).content.decode()
    assert ">CI<" in leaked and "Laptop" not in leaked
    assert other.digest not in leaked
    assert admin_client.get("/admin/collab/apitoken/add/").status_code == 403
    token_create(user=owner, name="Stale", scopes=["documents:read"], expires_at=timezone.now() - timedelta(days=1))
    token_revoke(token=other)
    for state, names in (("active", {"CI"}), ("expired", {"Stale"}), ("revoked", {"Laptop"})):
        page = admin_client.get("/admin/collab/apitoken/", {"state": state}).content.decode()
        assert {n for n in ("CI", "Stale", "Laptop") if f">{n}<" in page} == names, state


def test_moderators_revoke_tokens_in_the_admin_on_record_and_other_staff_may_not(client, owner, moderator, plain_staff):
    token, text = token_create(user=owner, name="CI", scopes=["documents:read"])
    client.force_login(plain_staff)
    assert client.get("/admin/collab/apitoken/").status_code == 403
    assert client.post(f"/admin/collab/apitoken/{token.pk}/revoke/").status_code == 403
    assert api_status(text) == 200
    client.force_login(moderator)
    assert ">Revoke<" in client.get(f"/admin/collab/apitoken/{token.pk}/change/").content.decode()
    response = client.post(
        "/admin/collab/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk], "reason": "leaked in a CI log"},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    assert api_status(text) == 401
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.reason, entry.actor) == ("revoke API token", "leaked in a CI log", moderator)
    assert entry.target_repr == f"CI (…{token.last4}) of olivia"
    # Once revoked, it stays revoked and on record once.
    token.refresh_from_db()
    assert moderation.token_revoke(token=token, actor=moderator) is False
    assert AuditEntry.objects.count() == 1


def test_staff_with_the_change_api_token_permission_revoke_too(client, owner):
    from django.contrib.auth.models import Permission

    staff = make_user("sam", staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_apitoken"))
    token, text = token_create(user=owner, name="CI", scopes=["documents:read"])
    client.force_login(staff)
    client.post(f"/admin/collab/apitoken/{token.pk}/revoke/", {"reason": "asked by olivia"})
    assert token_for(text) is None and AuditEntry.objects.get().reason == "asked by olivia"


# -- in Chromium -------------------------------------------------------------------------


def create_in_page(page, name: str, scopes=(), expires: str = "In 7 days") -> None:
    """Fill in and send the account page's form for a new token."""
    form = page.locator("form.token-form")
    form.get_by_label("Name").fill(name)
    for scope in scopes:
        form.get_by_label(scope).check()
    form.get_by_label("Expires").select_option(label=expires)
    form.get_by_role("button", name="Create token").click()


@pytest.mark.browser
@pytest.mark.processes
def test_a_token_made_copied_and_revoked_in_chromium_works_until_revoked(server, owner):
    cookie = session_cookie(owner)
    with chromium() as browser:
        context = signed_in_context(browser, server.url, cookie)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        page.goto(f"{server.url}/accounts/")
        expect(page.locator("#tokens")).to_contain_text("You have no tokens.")
        create_in_page(page, "Nightly export", scopes=["Create, change and delete documents"])
        shown = page.locator(".token-new")
        expect(shown).to_contain_text("it will not be shown again")
        expect(page).to_have_url(f"{server.url}/accounts/#tokens")  # a reload asks for the account page
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        text = page.evaluate("() => navigator.clipboard.readText()")
        assert TOKEN_TEXT.fullmatch(text) and text == page.locator("#new-token").input_value()
        screenshot(page, "api-token-created")
        assert api_status(text, server.url) == 200

        page.reload()
        expect(page.locator(".token-new")).to_have_count(0)
        assert text not in page.content()
        item = page.locator(".token-item", has_text="Nightly export")
        expect(item.locator(".token-last4")).to_have_text(f"…{text[-4:]}")
        expect(item.locator(".token-scopes")).to_have_text("documents:read" + "documents:write")
        expect(item.locator(".token-state")).to_have_text("Active")

        page.once("dialog", lambda dialog: dialog.dismiss())  # thought better of it
        item.get_by_role("button", name="Revoke").click()
        expect(item.locator(".token-state")).to_have_text("Active")
        assert api_status(text, server.url) == 200

        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        item.get_by_role("button", name="Revoke").click()
        expect(page.locator(".messages")).to_contain_text("Revoked “Nightly export”")
        expect(page.locator(".token-item", has_text="Nightly export").locator(".token-state")).to_have_text("Revoked")
        assert asked and "Nightly export" in asked[0] and text[-4:] in asked[0]
        assert api_status(text, server.url) == 401
        assert text not in page.content()
        screenshot(page, "api-token-revoked")


@pytest.mark.browser
@pytest.mark.processes
def test_the_token_section_fits_a_phone_in_the_dark_and_shows_form_errors(server, owner):
    token_create(
        user=owner, name="A rather long name for the token of the quarterly report job", scopes=["documents:read"]
    )
    cookie = session_cookie(owner)
    with chromium() as browser:
        context = signed_in_context(
            browser, server.url, cookie, viewport={"width": 360, "height": 740}, color_scheme="dark"
        )
        page = context.new_page()
        page.goto(f"{server.url}/accounts/")
        page.locator("form.token-form").get_by_label("Read documents").uncheck()
        page.locator("form.token-form").get_by_role("button", name="Create token").click()
        expect(page.locator("form.token-form .field-errors")).to_have_text(
            ["Give the token a name: what will use it?", "Choose at least one scope."]
        )
        create_in_page(page, "Phone", scopes=["Read documents", "Share documents: members and links"])
        expect(page.locator(".token-new")).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"the account page is {width}px wide on a 360 px phone"
        background = page.evaluate("() => getComputedStyle(document.getElementById('new-token')).backgroundColor")
        channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
        assert max(channels) < 60, background  # a dark field, the token's text light on it
        screenshot(page, "api-tokens-phone-dark")


@pytest.mark.browser
@pytest.mark.processes
def test_a_moderator_revokes_someones_token_with_the_admins_action(server, owner, editor):
    _, text = token_create(user=owner, name="Leaky bot", scopes=["documents:read"])
    keep, kept = token_create(user=editor, name="Edith's laptop", scopes=["documents:read"])
    moderator = make_user("mona", staff=True)
    moderator.groups.add(ensure_moderator_group())
    cookie = session_cookie(moderator)
    with chromium() as browser:
        page = signed_in_context(browser, server.url, cookie).new_page()
        page.goto(f"{server.url}/admin/collab/apitoken/")
        page.get_by_role("row", name="Leaky bot").get_by_role("checkbox").check()
        page.locator("select[name=action]").select_option("revoke_selected")
        page.get_by_label("Reason (optional):").fill("posted in a public issue")
        page.get_by_role("button", name="Go").click()
        expect(page.locator(".messagelist")).to_contain_text("Revoked 1 token(s).")
        expect(page.get_by_role("row", name="Leaky bot")).to_contain_text("revoked")
        expect(page.get_by_role("row", name="Edith's laptop")).to_contain_text("active")
        assert keep.digest not in page.content()
        screenshot(page, "admin-api-tokens-revoked")
    assert api_status(text, server.url) == 401
    assert api_status(kept, server.url) == 200
    assert AuditEntry.objects.get().reason == "posted in a public issue"
