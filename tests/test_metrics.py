"""/metrics: who may read it, and what it counts, summed over real worker processes."""

from __future__ import annotations

import contextlib
import re
import urllib.error
import urllib.request

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from collab.models import Document
from tests.conftest import running_workers, session_cookie, until
from tests.yclient import open_client


def value(text: str, name: str, labels: str = "") -> float:
    """The sum of a series' samples in the exposition (every worker label, or those matching `labels`)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if match and labels in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def test_metrics_are_for_allowed_addresses_or_the_token(db, settings):
    settings.COLLAB_METRICS_TOKEN = ""
    settings.COLLAB_METRICS_ALLOW = ["127.0.0.1"]
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    settings.COLLAB_METRICS_TOKEN = "s3cret"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403  # the token, once set, is required
    response = Client(HTTP_AUTHORIZATION="Bearer s3cret").get("/metrics")
    assert response.status_code == 200 and b"collab_http_requests" in response.content
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 403


def scrape(worker, token: str) -> str:
    request = urllib.request.Request(f"{worker.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


@contextlib.asynccontextmanager
async def three_clients_on_two_workers(owner, redis_server, tmp_path):
    """Two workers recording into one metrics directory (token "t0ken"), and three
    clients of one document: c0 and c2 on the first worker, c1 on the second."""
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Counted")
    cookie = await database_sync_to_async(session_cookie)(owner)
    env = {"COLLAB_METRICS_DIR": str(tmp_path / "metrics"), "COLLAB_METRICS_TOKEN": "t0ken"}
    with running_workers(redis_server.url, env=env, name="metrics") as workers:
        clients = [await open_client(workers[i % 2], document, cookie, f"c{i}") for i in range(3)]
        try:
            yield workers, clients
        finally:
            for client in clients:
                await client.close()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
async def test_metrics_sum_the_connections_of_every_worker(owner, redis_server, tmp_path):
    async with three_clients_on_two_workers(owner, redis_server, tmp_path) as (workers, clients):
        clients[0].insert(0, "counted keystrokes")
        await clients[1].wait_for(lambda: clients[1].value() == "counted keystrokes")
        # Frames are handed to the metrics at each tick (COLLAB_RESYNC_INTERVAL), not one by one.
        assert await until(lambda: value(scrape(workers[0], "t0ken"), "collab_ws_messages_total", "in") > 0)
        text = scrape(workers[0], "t0ken")
        assert value(text, "collab_ws_connections") == 3  # two on one worker, one on the other
        assert value(text, "collab_rooms_open") == 2
        assert value(text, "collab_ws_connects_total", 'result="accepted"') == 3
        assert value(text, "collab_commit_seconds_count") >= 1
        assert value(text, "collab_ws_bytes_total", 'direction="out"') > value(text, "collab_ws_bytes_total", "in")
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(workers[1], "wrong")
        assert refused.value.code == 403
        await clients[2].close()

        async def two_left():
            return value(scrape(workers[1], "t0ken"), "collab_ws_connections") == 2

        assert await until(two_left)


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
async def test_a_killed_workers_connections_leave_the_total_at_the_next_scrape(owner, redis_server, tmp_path):
    async with three_clients_on_two_workers(owner, redis_server, tmp_path) as (workers, _clients):
        before = scrape(workers[1], "t0ken")
        assert value(before, "collab_ws_connections") == 3 and value(before, "collab_rooms_open") == 2
        workers[0].kill()  # SIGKILL, reaped: its two connections are never counted down
        after = scrape(workers[1], "t0ken")
        assert value(after, "collab_ws_connections") == 1
        assert value(after, "collab_rooms_open") == 1
        assert value(after, "collab_ws_connects_total", 'result="accepted"') == 3  # counters keep counting
        assert not list((tmp_path / "metrics").glob(f"gauge_live*_{workers[0].proc.pid}.db"))


def test_the_grafana_dashboard_charts_only_series_that_exist():
    """Every series the shipped dashboard queries is one collab.infra.metrics defines."""
    import json
    from pathlib import Path

    from collab.infra import metrics

    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy/grafana-dashboard.json").read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"\b(collab_[a-z_]+)", target["expr"]))
    defined = set()
    for series in vars(metrics).values():
        if hasattr(series, "_name") and hasattr(series, "_type"):
            base = series._name
            defined |= {base, f"{base}_total", f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    assert queried and queried <= defined, queried - defined
