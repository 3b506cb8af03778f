from django.contrib.auth import get_user_model

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
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_login_with_a_wrong_password_is_refused(client, owner):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_home_asks_anonymous_visitors_to_log_in(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
