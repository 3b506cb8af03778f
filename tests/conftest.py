from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.servers import Server

PASSWORD = "correct horse battery staple"


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


@pytest.fixture
def owner(db):
    return make_user("olivia")


@pytest.fixture
def outsider(db):
    return make_user("oscar")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def server(transactional_db):
    """One daphne process with the embedded defaults, sharing the test database."""
    with Server() as running:
        yield running
