"""A picture of deploy/grafana-dashboard.json, drawn without Grafana.

Two workers record their metrics into one COLLAB_METRICS_DIR, as deployed, while
clients join and leave documents, type, send the odd bad frame and are refused,
and HTTP requests come and go. Debian's Prometheus (`apt-get install prometheus`)
scrapes one worker's /metrics, which sums both, every 5 s. Then each panel's own
PromQL `expr` is asked of Prometheus over the whole run, and the answers are drawn
as SVG line charts laid out by the panels' `gridPos`, in one HTML page that
Chromium photographs.

  .venv/bin/python bench/dashboard_picture.py [--seconds 180] [--output docs/img/dashboard.png]
      [--database-url postgres://root@127.0.0.1:5432/collab_dashboard_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import html
import json
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load.compare import free_port, stop_process, wait_http  # noqa: E402
from bench.run import reset_database, setup_django  # noqa: E402
from bench.workers import start_workers, stop_workers  # noqa: E402

DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
DEFAULT_DATABASE_URL = f"sqlite:///{Path(tempfile.gettempdir()) / 'collab_dashboard_bench.sqlite3'}"
SCRAPE_S = 5
# How many clients are connected over the run (fraction of the run -> clients): up, down, up again.
CLIENTS = [(0.0, 0), (0.3, 30), (0.5, 30), (0.6, 12), (0.85, 22), (1.0, 22)]
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0"]
CELL_W, CELL_H = 50, 30  # px per gridPos column (24 to a row) and per gridPos row, as Grafana's 30 px


# -- running collab and Prometheus ---------------------------------------------------------


@contextlib.contextmanager
def deployment(metrics_dir: str):
    """Redis and two workers named as systemd names them (COLLAB_WORKER_NAME=%H:%i)."""
    from tests.servers import RedisServer

    redis = RedisServer().start()
    workers = []
    try:
        for i in (1, 2):
            env = {"LOG_LEVEL": "WARNING", "COLLAB_METRICS_DIR": metrics_dir, "COLLAB_WORKER_NAME": f"web1:{i}"}
            workers += start_workers(1, redis_url=redis.url, env=env, log_prefix=f"dashboard-{i}")[0]
        yield workers
    finally:
        stop_workers(workers)
        redis.stop()


@contextlib.contextmanager
def prometheus(worker, directory: Path):
    """Debian's prometheus scraping the worker's /metrics every SCRAPE_S seconds; yields its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed: apt-get install prometheus")
    config = directory / "prometheus.yml"
    config.write_text(
        json.dumps({  # JSON is YAML
            "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
            "scrape_configs": [{"job_name": "collab", "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}]}],
        })
    )  # fmt: skip
    port = free_port()
    log = directory / "prometheus.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_http(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def promql(base: str, path: str, **params) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30) as response:
        answer = json.load(response)
    if answer["status"] != "success":
        raise RuntimeError(f"Prometheus: {answer}")
    return answer["data"]["result"]


def panel_series(base: str, panel: dict, start: float, end: float) -> list[tuple[str, list[tuple[float, float]]]]:
    """Each of the panel's queries over the run, one point a scrape: (name, [(time, value)]) per series."""
    series = []
    for target in panel["targets"]:
        for one in promql(base, "query_range", query=target["expr"], start=start, end=end, step=SCRAPE_S):
            values = [(float(t), float(v)) for t, v in one["values"] if math.isfinite(float(v))]
            series.append((series_name(one["metric"], target.get("legendFormat", ""), target["expr"]), values))
    print(f"  {panel['title']}: {len(series)} series", flush=True)
    return series


def wait_for_scrape_after(base: str, moment: float, timeout: float = 30) -> None:
    """Until Prometheus holds a scrape taken after `moment` (epoch seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = promql(base, "query", query="timestamp(up)")
        if result and float(result[0]["value"][1]) > moment:
            return
        time.sleep(0.5)
    raise RuntimeError(f"no scrape after the traffic in {timeout} s")


# -- traffic ------------------------------------------------------------------------------------


def wanted_clients(fraction: float) -> int:
    for (f0, n0), (f1, n1) in zip(CLIENTS, CLIENTS[1:], strict=False):
        if fraction <= f1:
            return round(n0 + (n1 - n0) * (fraction - f0) / (f1 - f0))
    return CLIENTS[-1][1]


async def traffic(workers, documents, cookie: str, seconds: float, rng: random.Random) -> None:
    """Clients joining and leaving, typing about once a second each; every 15 s a bad frame
    (a text frame, then bytes that are no message: closes 4415 and 4400) and a handshake
    without a session (refused); a few page and health requests a second."""
    from tests.yclient import YClient, open_client, random_edit

    def pick_worker():
        return workers[0] if rng.random() < 0.6 else workers[1]

    async def get(path: str) -> None:
        url = pick_worker().url + path

        def fetch():
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5):
                pass

        await asyncio.to_thread(fetch)

    async def bad_frame(frame) -> None:
        client = await open_client(pick_worker(), rng.choice(documents), cookie, "bad")
        await client.send(frame)
        await client.wait_closed()
        await client.close()

    async def refused() -> None:
        server = pick_worker()
        client = YClient.websocket(f"{server.ws_url}/ws/docs/{rng.choice(documents).id}/", origin=server.url)
        with contextlib.suppress(Exception):
            await client.connect(timeout=5)
        await client.close()

    loop = asyncio.get_running_loop()
    start = loop.time()
    clients = []
    second = 0
    while (elapsed := loop.time() - start) < seconds:
        want = wanted_clients(elapsed / seconds)
        while len(clients) < want:
            clients.append(await open_client(pick_worker(), rng.choice(documents), cookie, f"c{second}"))
        while len(clients) > want:
            await clients.pop(rng.randrange(len(clients))).close()
        for client in clients:
            if rng.random() < 0.8:
                random_edit(client, rng)
        if second % 15 == 7:
            await bad_frame("a text frame" if second % 30 == 7 else b"\xff\x00")
            await refused()
        await asyncio.gather(*(get(rng.choice(["/healthz", "/", "/no-such-page"])) for _ in range(rng.randint(1, 4))))
        second += 1
        await asyncio.sleep(max(0.0, start + second - loop.time()))  # a pace of one round a second
    for client in clients:
        await client.close()


# -- drawing ------------------------------------------------------------------------------------


def series_name(metric: dict, legend: str, expr: str) -> str:
    """As Grafana names a series: the legend template filled in, else the labels, else the query."""
    if legend:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), legend)
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return f"{{{labels}}}" if labels else expr


def with_unit(value: float, unit: str) -> str:
    """An axis label in the panel's unit, as Grafana writes it (short, req/s, B/s, seconds)."""
    if unit == "s":
        for scale, name in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return "0 s"
    prefix = ""
    for scale, letter in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            value, prefix = value / scale, letter
            break
    number = f"{value:.3g}"
    return {"reqps": f"{number}{prefix} req/s", "Bps": f"{number} {prefix}B/s"}.get(unit, number + prefix)


def tick_step(largest: float) -> float:
    """A round step that divides 0..largest into at most four intervals."""
    if largest <= 0:
        return 1.0
    rough = largest / 4
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)


def panel_svg(panel: dict, series: list[tuple[str, list[tuple[float, float]]]], start: float, end: float) -> str:
    grid = panel["gridPos"]
    width, height = grid["w"] * CELL_W - 8, grid["h"] * CELL_H - 8
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    left, top, right, bottom = 72, 30, width - 12, height - 24 - 16 * math.ceil(len(series) / 2)
    parts = [f'<text x="10" y="19" class="title">{html.escape(panel["title"])}</text>']
    points = [v for _, values in series for _, v in values]
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" class="nodata">No data</text>')
        return svg(width, height, parts)
    step = tick_step(max(points))
    ticks = math.ceil(max(points) / step - 1e-9) or 1
    ceiling = step * ticks
    x = lambda t: left + (t - start) / (end - start) * (right - left)  # noqa: E731
    y = lambda v: bottom - v / ceiling * (bottom - top)  # noqa: E731
    for i in range(ticks + 1):
        value = step * i
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" class="axis" text-anchor="end">'
                     f"{html.escape(with_unit(value, unit))}</text>")  # fmt: skip
    every = 60 if end - start > 240 else 30
    for tick in range(every * math.ceil(start / every), int(end) + 1, every):
        label = datetime.datetime.fromtimestamp(tick, datetime.UTC).strftime("%H:%M:%S")
        parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 15}" class="axis" text-anchor="middle">{label}</text>')
    for i, (name, values) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in values)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        lx, ly = 12 + (i % 2) * (width / 2), bottom + 32 + 16 * (i // 2)
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="14" height="4" fill="{color}"/>')
        parts.append(f'<text x="{lx + 20}" y="{ly - 2}" class="legend">{html.escape(name)}</text>')
    return svg(width, height, parts)


def svg(width: float, height: float, parts: list[str]) -> str:
    return f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'


def page(dashboard: dict, charts: list[str], start: float, end: float) -> str:
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    placed = "".join(
        f'<div class="panel" style="left:{g["x"] * CELL_W}px;top:{g["y"] * CELL_H}px">{chart}</div>'
        for g, chart in zip((p["gridPos"] for p in dashboard["panels"]), charts, strict=True)
    )
    span = " to ".join(datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%H:%M:%S") for t in (start, end))
    return f"""<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; background: #111217; color: #ccccdc; font: 12px "DejaVu Sans", sans-serif; }}
header {{ padding: 10px 12px 6px; }} header b {{ font-size: 16px; color: #fff; }}
header span {{ margin-left: 12px; color: #8e8e9e; }}
main {{ position: relative; width: {24 * CELL_W}px; height: {rows * CELL_H}px; margin: 4px 4px 8px; }}
.panel {{ position: absolute; background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; }}
.title {{ fill: #ccccdc; font-size: 13px; font-weight: bold; }}
.axis {{ fill: #8e8e9e; font-size: 11px; }} .legend {{ fill: #ccccdc; font-size: 11px; }}
.grid {{ stroke: #2c3235; }} .nodata {{ fill: #8e8e9e; font-size: 14px; text-anchor: middle; }}
</style><header><b>{html.escape(dashboard["title"])}</b>
<span>{span} UTC · deploy/grafana-dashboard.json's queries, evaluated by Prometheus, drawn by
bench/dashboard_picture.py (not Grafana)</span></header><main>{placed}</main>"""


def screenshot(document: str, output: Path) -> None:
    from tests.browser import chromium

    output.parent.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 24 * CELL_W + 8, "height": 800})
        tab.set_content(document)
        tab.screenshot(path=str(output), full_page=True)


# -- the run ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180, help="of traffic (default 180)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "img" / "dashboard.png"))
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    setup_django(reset_database(args.database_url))

    from django.contrib.auth import get_user_model

    from collab.models import Document
    from tests.conftest import session_cookie

    user = get_user_model().objects.create_user(username="dashboard")
    documents = [Document.objects.create(owner=user, title=f"Dashboard {i}") for i in range(6)]
    cookie = session_cookie(user)
    dashboard = json.loads(DASHBOARD.read_text())
    with tempfile.TemporaryDirectory(prefix="collab-dashboard-") as scratch:
        with deployment(f"{scratch}/metrics") as workers, prometheus(workers[0], Path(scratch)) as base:
            start = time.time()
            print(f"traffic for {args.seconds:.0f} s; Prometheus at {base}", flush=True)
            asyncio.run(traffic(workers, documents, cookie, args.seconds, random.Random(args.seed)))
            end = time.time()
            wait_for_scrape_after(base, end)
            charts = [
                panel_svg(panel, panel_series(base, panel, start, end), start, end) for panel in dashboard["panels"]
            ]
    output = Path(args.output)
    screenshot(page(dashboard, charts, start, end), output)
    print(f"written to {output} ({output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
