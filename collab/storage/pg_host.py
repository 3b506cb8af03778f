"""PostgreSQL connections that notice a server gone without a word.

A connection whose server's host vanished (lost, or a failover that left the
old address answering nothing) is not closed by anyone: an idle one looks
usable until a statement is sent on it, and a statement sent waits until the
kernel gives up retransmitting it, about a quarter of an hour with Linux's
defaults, holding the handshake thread or the room that sent it. libpq's
keepalive probes end an idle one within `KEEPALIVE` seconds, and
`tcp_user_timeout` ends one whose data the server has not acknowledged.
"""

from __future__ import annotations

from collab.infra.watchdog import KEEPALIVE

USER_TIMEOUT = 30.0  # seconds sent data may stay unacknowledged


def liveness_options(keepalive: tuple[int, int, int] = KEEPALIVE, user_timeout: float = USER_TIMEOUT) -> dict:
    """libpq connection parameters (Django's OPTIONS, psycopg's keywords)."""
    idle, interval, count = keepalive
    return {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": count,
        "tcp_user_timeout": round(user_timeout * 1000),
    }
