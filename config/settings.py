"""Settings for collab, read from the environment with embedded defaults.

Unset, everything runs in one process: a SQLite file under ``data/`` and the
in-memory channel layer. ``DATABASE_URL`` and ``REDIS_URL`` switch to
PostgreSQL and channels-redis. With ``DEBUG`` off a ``SECRET_KEY`` is required.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))


def envbool(name: str, default: str = "False") -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def secret_key() -> str:
    """SECRET_KEY, else the key `make` wrote to DATA_DIR/secret_key (so that every
    manage.py command of a checkout signs with the key its server uses)."""
    key = os.environ.get("SECRET_KEY", "")
    path = DATA_DIR / "secret_key"
    if not key and path.is_file():
        key = path.read_text().strip()
    return key


DEBUG = envbool("DEBUG")
SECRET_KEY = secret_key()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY must be set when DEBUG is off and {DATA_DIR / 'secret_key'} does not exist "
            "(for development set DEBUG=1, or use `make run`, which creates that file)."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "ninja",  # the API's interactive docs (/api/v1/docs), served from its own static files
    "django_rq",  # `manage.py rqworker webhooks --with-scheduler` delivers webhooks
    "collab",
]

MIDDLEWARE = [
    "collab.pages.metrics.RequestMetrics",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: a SQLite file by default; DATABASE_URL (postgres://...) for production.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'collab.sqlite3'}",
        conn_max_age=0,  # under ASGI every request runs in a fresh thread: never reuse
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    from collab.storage.pg_host import liveness_options

    # Keepalive and a bound on unacknowledged data, so that no connection waits
    # for a server that is gone (collab.storage.pg_host); the event loop's own
    # connections take them from here too. DATABASE_URL's own parameters win.
    for option, value in liveness_options().items():
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(option, value)
    # A pool: every WebSocket handshake looks up a session and rights from a fresh
    # thread, and opening a PostgreSQL connection each time costs milliseconds.
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 2,
        "max_size": envint("DATABASE_POOL_SIZE", 20),
        "timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several daphne processes may share the file: wait for locks instead of failing,
    # and take the write lock at BEGIN so that transactions do not deadlock on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not memory) so that daphne processes started by tests share it; one per
    # test run, so that runs side by side do not clash.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: in-memory for one process; channels-redis when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "")
# The in-memory layer drops messages to a channel already holding `capacity`.
CHANNEL_CAPACITY = envint("CHANNEL_CAPACITY", 1000)
# Seconds a worker waits for Redis to connect, or to answer what it published,
# before it tries a new connection (collab.realtime.publisher, collab.infra.redis_host).
COLLAB_REDIS_TIMEOUT = float(os.environ.get("COLLAB_REDIS_TIMEOUT", "5"))
if REDIS_URL:
    from collab.infra.redis_host import layer_host

    # channels-redis's Pub/Sub layer: a group message is one PUBLISH, where the
    # core layer takes four round trips and a script per send and a blocking pop
    # per receive. Rooms are the only users of the layer, and what Pub/Sub may lose
    # (a worker disconnected from Redis meanwhile) the rooms' anti-entropy repairs.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [layer_host(REDIS_URL, timeout=COLLAB_REDIS_TIMEOUT)]},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 60},
        }
    }

# Sessions are read from this cache before the database (collab.access.sessions): a
# WebSocket handshake then queries the database for the user only. With several
# workers (REDIS_URL) the cache is Redis, shared, so that a logout on one worker
# ends the session on all of them; in one process, its memory.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "collab",
            # An unreachable Redis costs a request at most this long, then the database answers.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }
SESSION_ENGINE = "collab.access.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# A failed CSRF check shows the site's own page, not Django's bare one.
CSRF_FAILURE_VIEW = "collab.pages.views.csrf_failure"

# E-mail (password reset): printed to standard output unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "collab <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "config.storage.StaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# A file missing from the manifest (collectstatic not run yet) is served unhashed, not a 500.
WHITENOISE_MANIFEST_STRICT = False
WHITENOISE_USE_FINDERS = True

# Cookies and transport. HTTPS=1 in production behind a TLS proxy.
HTTPS = envbool("HTTPS")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# A health check straight to a worker (no proxy, so no X-Forwarded-Proto) gets its answer,
# not a redirect to an https:// the worker does not speak.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if envbool("TRUST_PROXY_HEADERS"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Only our own scripts and styles; nothing inline but style attributes (CodeMirror and
# the remote-cursor labels set colours through them; they cannot run script).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Documents and the WebSocket.
# Largest WebSocket message accepted (bytes); daphne must be started with the same cap.
COLLAB_MAX_MESSAGE_BYTES = envint("COLLAB_MAX_MESSAGE_BYTES", 5 * 1024 * 1024)
# daphne's cap on a WebSocket message, received or sent (derived, not read from the
# environment): `manage.py serve` sets it 1 MiB above COLLAB_MAX_MESSAGE_BYTES, so
# that an oversize message reaches the application and is refused with 4413
# instead of a bare TCP drop. A message sent above it drops its connection.
DAPHNE_MAX_MESSAGE_BYTES = COLLAB_MAX_MESSAGE_BYTES + 1024 * 1024
# Largest a document may become, measured as what a new client is sent: the sync
# step 2 of the whole document. An update that would pass it is refused with 4507.
COLLAB_MAX_DOCUMENT_BYTES = envint("COLLAB_MAX_DOCUMENT_BYTES", 4 * 1024 * 1024)
# A request body may carry a whole document (the API's PUT), so Django reads up to a
# little more than one, and the API answers a larger one with its JSON 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = COLLAB_MAX_DOCUMENT_BYTES + 1024 * 1024
if not 0 < COLLAB_MAX_DOCUMENT_BYTES <= DAPHNE_MAX_MESSAGE_BYTES:
    raise ImproperlyConfigured(
        f"COLLAB_MAX_DOCUMENT_BYTES ({COLLAB_MAX_DOCUMENT_BYTES}) must be positive and at most "
        f"COLLAB_MAX_MESSAGE_BYTES + 1 MiB ({DAPHNE_MAX_MESSAGE_BYTES}), the largest message daphne may send: "
        "a larger document could not be sent to anyone who opens it."
    )

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
# "plain" lines for people, or "json": one object per line for a log collector
# (time, level, logger, message, worker, and the document, user and connection where known).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "collab.infra.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    # While Redis is unreachable channels-redis logs a traceback a second, and
    # Django's session store one per session saved: those go to collab.infra.outage,
    # which tells an outage's start and end.
    "filters": {
        "redis_receive": {"()": "collab.infra.outage.RedisFailures", "what": "receiving from Redis"},
        "session_cache": {"()": "collab.infra.outage.RedisFailures", "what": "saving a session to the cache"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "channels_redis.pubsub": {"filters": ["redis_receive"]},
        "django.contrib.sessions": {"filters": ["session_cache"]},
    },
}
# daphne's access log, a line per request and per WebSocket connect and disconnect:
# "-" (standard output), a file path, or "off". By default it follows LOG_LEVEL:
# written where INFO lines are, not above.
ACCESS_LOG = os.environ.get("ACCESS_LOG") or ("-" if LOG_LEVEL in ("DEBUG", "INFO") else "off")

# Rooms. See collab/room.py for what each bounds.
COLLAB_DB_THREADS = envint("COLLAB_DB_THREADS", 4)  # database threads; on PostgreSQL also loop connections
# Seconds a worker's own PostgreSQL connection may wait for an answer before it is
# given up: the room's commit fails and its clients reconnect and send again.
COLLAB_DB_TIMEOUT = float(os.environ.get("COLLAB_DB_TIMEOUT", "30"))
COLLAB_COMPACT_EVERY = envint("COLLAB_COMPACT_EVERY", 500)  # log entries between snapshots
COLLAB_TRASH_DAYS = envint("COLLAB_TRASH_DAYS", 30)  # days in the trash before `manage.py purge_trash` deletes
# Largest file the documents page imports as a new document (collab.pages.transfer).
COLLAB_MAX_IMPORT_BYTES = envint("COLLAB_MAX_IMPORT_BYTES", 1024 * 1024)
# The HTTP API (docs/api.md): requests per token, as django-ninja reads a rate ("600/m").
COLLAB_API_RATE = os.environ.get("COLLAB_API_RATE", "600/m")
# Webhooks (docs/webhooks.md). Deliveries wait in RQ on REDIS_URL's Redis, run by
# `manage.py rqworker webhooks --with-scheduler`; without Redis, in threads of the web
# worker itself. Each attempt has COLLAB_WEBHOOK_TIMEOUT seconds; a failed one is tried
# again after each delay of COLLAB_WEBHOOK_RETRIES (seconds) in turn; an endpoint whose
# deliveries fail for good COLLAB_WEBHOOK_DISABLE_AFTER times in a row is turned off.
# URLs on loopback or private networks are refused unless COLLAB_WEBHOOKS_ALLOW_PRIVATE.
COLLAB_WEBHOOK_QUEUE = os.environ.get("COLLAB_WEBHOOK_QUEUE", "rq" if REDIS_URL else "thread")
COLLAB_WEBHOOK_TIMEOUT = float(os.environ.get("COLLAB_WEBHOOK_TIMEOUT", "10"))
COLLAB_WEBHOOK_RETRIES = [int(s) for s in envlist("COLLAB_WEBHOOK_RETRIES", "10,60,300,1800,7200,21600")]
COLLAB_WEBHOOK_DISABLE_AFTER = envint("COLLAB_WEBHOOK_DISABLE_AFTER", 5)
COLLAB_WEBHOOKS_ALLOW_PRIVATE = envbool("COLLAB_WEBHOOKS_ALLOW_PRIVATE")
# The address people reach collab at, for the links in webhook payloads.
COLLAB_SITE_URL = os.environ.get("COLLAB_SITE_URL", "http://127.0.0.1:8000")
RQ_QUEUES = {"webhooks": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 120}}
# Metrics (docs/operations.md): where the worker processes write their series, so that
# /metrics sums them (prometheus_client's multiprocess mode; empty: each process its own),
# and who may read /metrics: a bearer token, or the listed client addresses.
COLLAB_METRICS_DIR = os.environ.get("COLLAB_METRICS_DIR", "")
if COLLAB_METRICS_DIR:
    os.makedirs(COLLAB_METRICS_DIR, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = COLLAB_METRICS_DIR
elif not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus_client takes the variable's presence, even empty, for multiprocess
    # mode, and would write its files into the working directory.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
COLLAB_METRICS_TOKEN = os.environ.get("COLLAB_METRICS_TOKEN", "")
COLLAB_METRICS_ALLOW = envlist("COLLAB_METRICS_ALLOW", "127.0.0.1,::1")
# Comments and chat (docs/comments.md): the longest comment and chat message, in
# characters, and how many discussion messages a connection may send a second (burst 3x).
COLLAB_MAX_COMMENT_CHARS = envint("COLLAB_MAX_COMMENT_CHARS", 5000)
COLLAB_MAX_CHAT_CHARS = envint("COLLAB_MAX_CHAT_CHARS", 2000)
COLLAB_RATE_DISCUSSION = envint("COLLAB_RATE_DISCUSSION", 3)
# Versions (docs/history.md): one is cut after this many seconds without an edit, and
# at least this often while editing goes on.
COLLAB_VERSION_IDLE_SECONDS = envint("COLLAB_VERSION_IDLE_SECONDS", 300)
COLLAB_VERSION_EVERY_SECONDS = envint("COLLAB_VERSION_EVERY_SECONDS", 600)
# Search (collab.access.search): a document's text is stored for searching at most this
# many seconds after an edit (and when its room closes), up to this many characters.
COLLAB_SEARCH_INDEX_SECONDS = float(os.environ.get("COLLAB_SEARCH_INDEX_SECONDS", "10"))
COLLAB_SEARCH_CHARS = envint("COLLAB_SEARCH_CHARS", 100_000)
COLLAB_RESYNC_INTERVAL = float(os.environ.get("COLLAB_RESYNC_INTERVAL", "0.5"))  # seconds between log checks
# Seconds after which a room forgets another worker's room it has not heard from (a
# crashed worker sends no goodbye) and stops publishing to it.
COLLAB_PEER_TIMEOUT = float(os.environ.get("COLLAB_PEER_TIMEOUT", "10"))
COLLAB_PROBE_BYTES = envint("COLLAB_PROBE_BYTES", 256 * 1024)  # bytes sent between read receipts
COLLAB_MAX_BACKLOG_BYTES = envint("COLLAB_MAX_BACKLOG_BYTES", 16 * 1024 * 1024)  # unread bytes before 4408
COLLAB_RATE_MESSAGES = envint("COLLAB_RATE_MESSAGES", 100)  # messages a second per connection (burst 3x)
COLLAB_RATE_BYTES = envint("COLLAB_RATE_BYTES", 1024 * 1024)  # bytes a second per connection (+ one max message)
# Connections per person and per document: on all the workers together with Redis
# (collab.realtime.connection_limits), whose count of a worker killed without a word
# lapses after COLLAB_CONNECTION_LEASE seconds; per worker without Redis, or while it is unreachable.
COLLAB_MAX_CONNECTIONS_PER_USER = envint("COLLAB_MAX_CONNECTIONS_PER_USER", 100)
COLLAB_MAX_CONNECTIONS_PER_DOCUMENT = envint("COLLAB_MAX_CONNECTIONS_PER_DOCUMENT", 1000)
COLLAB_CONNECTION_LEASE = float(os.environ.get("COLLAB_CONNECTION_LEASE", "10"))
# Dead connections (a browser whose network went away says no goodbye): daphne pings
# a connection silent for over COLLAB_PING_INTERVAL s (it looks every 2 s) and drops
# it when the answer takes over COLLAB_PING_TIMEOUT s, unless it is still reading what
# was sent before the ping. A vanished person leaves the presence bar within 3 + 2 + 5 s.
COLLAB_PING_INTERVAL = envint("COLLAB_PING_INTERVAL", 3)
COLLAB_PING_TIMEOUT = envint("COLLAB_PING_TIMEOUT", 5)
# The name moderators see for this worker in "who is connected now"; empty: the
# host name and the port `manage.py serve` listens on (collab.realtime.presence).
COLLAB_WORKER_NAME = os.environ.get("COLLAB_WORKER_NAME", "").strip()
