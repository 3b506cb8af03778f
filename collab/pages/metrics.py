"""/metrics for Prometheus, and the HTTP series every request adds to."""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.http import HttpResponse

from collab.infra import metrics


def may_read(request) -> bool:
    """With COLLAB_METRICS_TOKEN set, its bearer may read; otherwise the client
    addresses in COLLAB_METRICS_ALLOW (the proxy passes the real one to daphne)."""
    token = settings.COLLAB_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    return request.META.get("REMOTE_ADDR", "") in settings.COLLAB_METRICS_ALLOW


def metrics_view(request):
    if not may_read(request):
        return HttpResponse("metrics need COLLAB_METRICS_TOKEN or an allowed address\n", status=403)
    return HttpResponse(metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")


class RequestMetrics:
    """Counts HTTP requests by status class and times them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        metrics.HTTP_SECONDS.observe(time.perf_counter() - started)
        metrics.HTTP_REQUESTS.labels(f"{response.status_code // 100}xx").inc()
        return response
