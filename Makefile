# collab: `make run` sets everything up and serves the app; `make test` sets
# everything up and runs the whole suite. Both start from a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the SQLite file and the secret key live (the settings read the same variable).
DATA_DIR ?= data

.PHONY: setup run admin test lint chromium nginx clean

setup: $(VENV)/.installed node_modules/.installed static/dist/editor.js static/dist/history.js $(DATA_DIR)/secret_key staticfiles/staticfiles.json

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# One esbuild run makes both bundles.
static/dist/editor.js static/dist/history.js &: node_modules/.installed $(wildcard static/src/*.js)
	npm run build

# A secret key made once per checkout, so `make run` needs no configuration; the
# settings read it when SECRET_KEY is unset, so every manage.py command signs with it.
$(DATA_DIR)/secret_key:
	mkdir -p $(DATA_DIR)
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# Hashed, compressed copies that whitenoise serves with DEBUG off.
staticfiles/staticfiles.json: static/dist/editor.js static/dist/history.js $(wildcard static/css/*) $(wildcard static/js/*) $(DATA_DIR)/secret_key $(VENV)/.installed
	$(BIN)/python manage.py collectstatic --noinput --clear --verbosity 0

run: setup
	$(BIN)/python manage.py migrate --noinput
	exec $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# An administrator for /admin/: asks for a username, an e-mail and a password, or
# takes them from DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD when those are set.
admin: $(VENV)/.installed $(DATA_DIR)/secret_key
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createsuperuser $(if $(DJANGO_SUPERUSER_USERNAME),--noinput)

# Browser tests drive Debian's Chromium; install it where it is missing and we may.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "error: the browser tests need Debian's chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'" >&2; exit 1; \
	  fi; }

# On SQLite the tests marked `postgres` show as skipped; they then run on their own
# against PG_TEST_URL whenever a PostgreSQL server answers there.
PG_TEST_URL ?= postgres://$(shell id -un)@127.0.0.1:5432/test

# The deployment test puts Debian's nginx in front of the workers; install it likewise.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx; \
	  else \
	    echo "error: the deployment test needs Debian's nginx: run 'sudo apt-get install nginx'" >&2; exit 1; \
	  fi; }

test: setup chromium nginx
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@case "$${DATABASE_URL:-}" in postgres*) ;; *) \
	  if $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	    echo "Running the tests marked postgres against $(PG_TEST_URL)"; \
	    DATABASE_URL="$(PG_TEST_URL)" $(BIN)/python -m pytest -m postgres $(PYTEST_ARGS); \
	  else echo "PostgreSQL does not answer at $(PG_TEST_URL): the tests marked postgres were skipped (set PG_TEST_URL)"; fi;; esac

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules static/dist staticfiles
