"""Health checks that really touch the database and the channel layer."""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer
from django.db import connection

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("unexpected answer to SELECT 1")


async def check_channel_layer(timeout: float = 2.0) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    await asyncio.wait_for(layer.send(channel, {"type": "healthz.ping"}), timeout)
    message = await asyncio.wait_for(layer.receive(channel), timeout)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned a different message")


def run_checks() -> dict[str, str]:
    """Each check's result: "ok" or the error it raised."""
    from asgiref.sync import async_to_sync

    results = {}
    for name, check in (("database", check_database), ("channel_layer", async_to_sync(check_channel_layer))):
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # a health check reports every failure, whatever it is
            logger.warning("health check %s failed: %r", name, exc)
            results[name] = f"error: {exc.__class__.__name__}: {exc}"
    return results
