"""Settings are read at import, so each case imports them in a fresh interpreter."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing

from tests.servers import ROOT


def load_settings(code: str = "", **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "REDIS_URL", "DATABASE_URL")}
    code = "import config.settings as s;" + (
        code or "print(s.CHANNEL_LAYERS['default']['BACKEND']); print(s.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_debug_off_without_secret_key_fails_with_a_clear_message(tmp_path):
    result = load_settings(DEBUG="0", DATA_DIR=str(tmp_path))  # no secret_key file there either
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_without_secret_key_the_data_directory_s_key_file_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("key-from-the-file\n")
    result = load_settings("print(s.SECRET_KEY)", DEBUG="0", DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["key-from-the-file"]
    chosen = load_settings("print(s.SECRET_KEY)", DEBUG="0", DATA_DIR=str(tmp_path), SECRET_KEY="from-the-env")
    assert chosen.stdout.split() == ["from-the-env"]  # the variable wins


def test_make_admin_creates_an_administrator_in_a_fresh_data_directory(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "REDIS_URL", "DATABASE_URL")}
    env = {
        **clean,
        "DATA_DIR": str(tmp_path),
        "DJANGO_SUPERUSER_USERNAME": "ada",
        "DJANGO_SUPERUSER_EMAIL": "ada@example.com",
        "DJANGO_SUPERUSER_PASSWORD": "a long enough password",
    }
    result = subprocess.run(["make", "admin"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Superuser created successfully." in result.stdout
    assert (tmp_path / "secret_key").is_file()  # made by make, read by the settings
    with closing(sqlite3.connect(tmp_path / "collab.sqlite3")) as database:
        users = database.execute("SELECT username, email, is_superuser, is_staff FROM auth_user").fetchall()
        groups = database.execute("SELECT name FROM auth_group").fetchall()
    assert users == [("ada", "ada@example.com", 1, 1)]
    assert groups == [("moderator",)]  # what README's Moderation section hands out


def test_e_mail_is_printed_unless_an_smtp_server_is_named():
    code = "print(s.EMAIL_BACKEND, s.EMAIL_HOST or '-', s.EMAIL_PORT, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL)"
    console = load_settings(code, SECRET_KEY="x")
    assert console.returncode == 0, console.stderr
    assert console.stdout.split()[:2] == ["django.core.mail.backends.console.EmailBackend", "-"]
    smtp = load_settings(
        code + "; print(s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD)",
        SECRET_KEY="x",
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="465",
        EMAIL_USE_TLS="0",
        EMAIL_HOST_USER="collab",
        EMAIL_HOST_PASSWORD="hunter2",
        DEFAULT_FROM_EMAIL="docs@example.com",
    )
    assert smtp.returncode == 0, smtp.stderr
    assert smtp.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "465",
        "False",
        "docs@example.com",
        "collab",
        "hunter2",
    ]


def test_defaults_are_sqlite_and_the_in_memory_layer():
    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["channels.layers.InMemoryChannelLayer", "django.db.backends.sqlite3"]


def test_redis_url_selects_channels_redis_and_database_url_postgres():
    result = load_settings(
        SECRET_KEY="x", REDIS_URL="redis://127.0.0.1:6379/0", DATABASE_URL="postgres://u@127.0.0.1:5432/db"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["channels_redis.pubsub.RedisPubSubChannelLayer", "django.db.backends.postgresql"]


def test_the_channel_layer_s_redis_connections_get_keepalive_and_a_connect_timeout():
    # tests/test_partitions.py shows that they notice a lost peer.
    host = "s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]"
    result = load_settings(
        f"print({host}['connection_class'].__module__, {host}['socket_keepalive'], {host}['socket_connect_timeout'])",
        SECRET_KEY="x",
        REDIS_URL="redis://127.0.0.1:6379/0",
        COLLAB_REDIS_TIMEOUT="3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["collab.infra.redis_host", "True", "3.0"]


def test_postgresql_connections_get_keepalives_and_a_user_timeout_unless_the_url_sets_them():
    # tests/test_partitions.py shows that they notice a lost server.
    result = load_settings(
        "o = s.DATABASES['default']['OPTIONS']; print(o['keepalives'], o['keepalives_idle'], o['tcp_user_timeout'])",
        SECRET_KEY="x",
        DATABASE_URL="postgres://u@127.0.0.1:5432/db",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "10", "30000"]
    chosen = load_settings(
        "print(s.DATABASES['default']['OPTIONS']['keepalives_idle'])",
        SECRET_KEY="x",
        DATABASE_URL="postgres://u@127.0.0.1:5432/db?keepalives_idle=60",
    )
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.split() == ["60"]  # the URL's own choice is kept


def test_metrics_are_written_to_files_only_in_the_directory_named(tmp_path):
    value_class = "from prometheus_client import values; print(values.ValueClass.__name__)"
    assert load_settings(value_class, PROMETHEUS_MULTIPROC_DIR="").stdout.split() == ["MutexValue"]  # memory
    named = load_settings(value_class, COLLAB_METRICS_DIR=str(tmp_path / "metrics"))
    assert named.stdout.split() == ["MmapedValue"] and (tmp_path / "metrics").is_dir()


def test_a_malformed_boolean_is_refused():
    result = load_settings(DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG must be a boolean" in result.stderr


def test_a_document_limit_daphne_could_not_send_is_refused_at_start_up():
    fits = load_settings(
        "print(s.COLLAB_MAX_DOCUMENT_BYTES, s.DAPHNE_MAX_MESSAGE_BYTES)",
        SECRET_KEY="x",
        COLLAB_MAX_MESSAGE_BYTES="1048576",
        COLLAB_MAX_DOCUMENT_BYTES="2097152",
    )
    assert fits.returncode == 0, fits.stderr
    assert fits.stdout.split() == ["2097152", "2097152"]
    too_large = load_settings(SECRET_KEY="x", COLLAB_MAX_MESSAGE_BYTES="1048576", COLLAB_MAX_DOCUMENT_BYTES="2097153")
    assert too_large.returncode != 0
    assert "COLLAB_MAX_DOCUMENT_BYTES (2097153) must be positive and at most" in too_large.stderr
    assert "the largest message daphne may send" in too_large.stderr
