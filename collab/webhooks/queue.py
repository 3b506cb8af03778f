"""Where deliveries wait: RQ on Redis when REDIS_URL is set (`manage.py rqworker
webhooks --with-scheduler` runs them, retries included), else a small pool of
threads in the web worker itself, so that `make run` needs nothing more."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import transaction

QUEUE = "webhooks"
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _local_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="collab-webhooks")
        return _pool


def enqueue(delivery_id: int, delay: float = 0) -> None:
    from collab.webhooks.delivery import deliver

    run(deliver, delivery_id, delay=delay)


def run(function, *args, delay: float = 0) -> None:
    """`function(*args)` by the queue's worker, `delay` seconds from now."""
    if settings.COLLAB_WEBHOOK_QUEUE == "rq":
        import django_rq

        queue = django_rq.get_queue(QUEUE)
        if delay:
            queue.enqueue_in(timedelta(seconds=delay), function, *args)
        else:
            queue.enqueue(function, *args)
        return
    if delay:
        timer = threading.Timer(delay, lambda: _local_pool().submit(function, *args))
        timer.daemon = True
        timer.start()
    else:
        _local_pool().submit(function, *args)


def enqueue_on_commit(delivery_ids: list[int]) -> None:
    """Queue them once the transaction that made them has committed."""
    if delivery_ids:
        transaction.on_commit(lambda: [enqueue(pk) for pk in delivery_ids])
