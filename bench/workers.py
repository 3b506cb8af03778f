"""collab workers for the benchmarks: started as in production, stopped by PID."""

from __future__ import annotations

import sys


def start_workers(count: int, *, redis_url: str, env: dict, log_prefix: str):
    """Start `count` daphne workers; return them and where each log file starts for this run."""
    from tests.servers import Server

    servers, log_offsets = [], {}
    for i in range(count):
        server = Server(redis_url=redis_url, env=env, log_name=f"{log_prefix}-w{i + 1}")
        servers.append(server)
        # Log files are appended to and named by port: remember where this run starts.
        log_offsets[server.log_path] = server.log_path.stat().st_size if server.log_path.exists() else 0
        server.start()
    return servers, log_offsets


def stop_workers(servers) -> None:
    for server in servers:
        try:
            server.close()
        except Exception as exc:
            print(f"warning: could not stop the worker on port {server.port}: {exc!r}", file=sys.stderr)


def logged_lines(log_offsets: dict, words) -> list[tuple]:
    """(log path, line) of every line holding one of `words` that the workers wrote
    since the offsets taken at their start."""
    found = []
    for path, offset in log_offsets.items():
        if not path.exists():
            continue
        with open(path, "rb") as f:
            f.seek(offset)
            for raw in f:
                line = raw.decode(errors="replace").rstrip()
                if any(word in line for word in words):
                    found.append((path, line))
    return found
