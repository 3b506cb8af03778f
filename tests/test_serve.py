"""The app served as `make run` serves it: daphne, DEBUG off, the embedded defaults."""

import json
import urllib.request

import pytest

pytestmark = pytest.mark.processes


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_daphne_serves_pages_static_files_and_health(server):
    status, _, body = fetch(server.url + "/accounts/login/")
    assert status == 200 and b"Log in" in body
    status, _, _ = fetch(server.url + "/")  # redirected to the login page
    assert status == 200
    status, headers, body = fetch(server.url + "/static/css/app.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and b"collab" in body
    status, headers, body = fetch(server.url + "/static/dist/editor.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    status, _, body = fetch(server.url + "/healthz")
    assert status == 200 and json.loads(body) == {"database": "ok", "channel_layer": "ok"}
