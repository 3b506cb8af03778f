import re

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from collab.access.identity import identity_for
from collab.models import Profile
from tests.conftest import PASSWORD


def test_signup_creates_an_account_and_signs_in(client, db):
    response = client.post("/accounts/signup/", {"username": "sam", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert get_user_model().objects.filter(username="sam").exists()
    assert client.get("/").status_code == 200


def test_signup_with_mismatched_passwords_shows_a_form_error(client, db):
    response = client.post("/accounts/signup/", {"username": "sam", "password1": PASSWORD, "password2": "other"})
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert not get_user_model().objects.filter(username="sam").exists()


def test_login_and_logout(client, owner):
    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # logging out takes a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert "collab/landing.html" in [t.name for t in client.get("/").templates]


def test_login_with_a_wrong_password_is_refused(client, owner):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_anonymous_visitors_get_a_landing_page_with_log_in_and_sign_up(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert "collab/landing.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "shared Markdown editor" in page
    assert 'class="button primary" href="/accounts/signup/">Sign up</a>' in page
    assert 'class="button" href="/accounts/login/">Log in</a>' in page


def test_signed_in_visitors_still_get_their_documents(owner_client):
    response = owner_client.get("/")
    assert "collab/home.html" in [t.name for t in response.templates]


def test_signup_takes_an_optional_email_address(client, db):
    client.post(
        "/accounts/signup/",
        {"username": "sam", "email": "sam@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert get_user_model().objects.get(username="sam").email == "sam@example.com"


# -- the account page -----------------------------------------------------------


def test_the_account_page_sets_the_display_name_shown_everywhere(owner_client, owner, shared_document, editor):
    response = owner_client.post("/accounts/", {"display_name": "  Olivia   Hart ", "email": "olivia@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    owner.refresh_from_db()
    assert Profile.objects.get(user=owner).display_name == "Olivia Hart"
    assert owner.email == "olivia@example.com"
    assert identity_for(user=get_user_model().objects.get(pk=owner.pk)).name == "Olivia Hart"
    page = owner_client.get("/accounts/").content.decode()
    assert 'value="Olivia Hart"' in page and ">Olivia Hart</a>" in page  # the form and the top bar
    share = owner_client.get(f"/docs/{shared_document.id}/share/").content.decode()
    assert 'Olivia Hart <span class="username">@olivia</span>' in share
    owner_client.force_login(editor)
    assert "owned by Olivia Hart" in owner_client.get("/").content.decode()


def test_without_a_display_name_the_username_is_shown(owner_client, owner):
    Profile.objects.create(user=owner, display_name="Olivia")
    owner_client.post("/accounts/", {"display_name": "   ", "email": ""})
    assert Profile.objects.get(user=owner).display_name == ""
    assert identity_for(user=get_user_model().objects.get(pk=owner.pk)).name == "olivia"


def test_a_display_name_cannot_pose_as_a_guest(owner_client, owner):
    response = owner_client.post("/accounts/", {"display_name": "Edith (Guest)", "email": ""})
    assert response.status_code == 400
    assert "marks guests" in response.context["form"].errors["display_name"][0]
    assert not Profile.objects.filter(user=owner).exists()


def test_the_account_page_is_for_signed_in_people(client, db):
    assert client.get("/accounts/")["Location"].startswith("/accounts/login/")


def test_the_password_is_changed_with_django_s_view(owner_client, owner):
    new = "another horse battery staple"
    response = owner_client.post(
        "/accounts/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}, follow=True
    )
    assert response.redirect_chain == [("/accounts/", 302)]
    assert "Your password was changed" in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(new)
    assert owner_client.get("/accounts/").status_code == 200  # this session stays signed in


def test_a_wrong_old_password_changes_nothing(owner_client, owner):
    response = owner_client.post(
        "/accounts/password/", {"old_password": "nope", "new_password1": "x" * 12, "new_password2": "x" * 12}
    )
    assert response.status_code == 200 and response.context["form"].errors["old_password"]
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# -- password reset by e-mail -----------------------------------------------------


def test_a_password_reset_mails_a_link_that_sets_a_new_password(client, owner, settings):
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"  # pytest-django's outbox
    owner.email = "olivia@example.com"
    owner.save()
    assert client.get("/accounts/login/").content.decode().count('href="/accounts/password/reset/"') == 1

    response = client.post("/accounts/password/reset/", {"email": "olivia@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["olivia@example.com"] and message.subject == "Choose a new password for collab"
    link = re.search(r"http://testserver(/accounts/password/reset/\S+)", message.body).group(1)

    form = client.get(link, follow=True)  # Django swaps the token for a session key, then shows the form
    assert form.context["validlink"]
    new = "another horse battery staple"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True)
    assert done.redirect_chain[-1][0] == "/accounts/password/reset/done/"
    assert "Your password is set" in done.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(new)
    assert not client.get(link, follow=True).context["validlink"]  # a link works once


def test_a_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, owner):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


# -- a failed CSRF check ------------------------------------------------------------


def test_a_failed_csrf_check_shows_the_site_s_own_page(owner, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/docs/new/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page and 'href="/accounts/"' in page  # the site's page, signed in
    assert "CSRF verification failed" not in page


# -- the admin ----------------------------------------------------------------------


def test_the_admin_lists_accounts_by_display_name_and_administrators_can_change_it(admin_client, owner):
    Profile.objects.create(user=owner, display_name="Olivia Hart")
    accounts = admin_client.get("/admin/collab/account/", {"q": "Hart"}).content.decode()
    assert "Olivia Hart" in accounts and "olivia" in accounts
    change = admin_client.get(f"/admin/auth/user/{owner.pk}/change/").content.decode()
    assert 'name="profile-0-display_name"' in change and 'value="Olivia Hart"' in change
