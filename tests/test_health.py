def test_healthz_checks_database_and_channel_layer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}


def test_healthz_names_a_broken_channel_layer(client, db, settings):
    # Nothing listens on port 1: the Redis layer cannot connect.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["channel_layer"].startswith("error")


def test_healthz_answers_a_check_straight_to_a_worker_when_https_redirects_everything_else(client, db, settings):
    # HTTPS=1 behind a proxy: a request without X-Forwarded-Proto is plain HTTP to Django.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["collab.example.org"]
    assert client.get("/accounts/login/", HTTP_HOST="collab.example.org").status_code == 301
    response = client.get("/healthz", HTTP_HOST="collab.example.org")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}
