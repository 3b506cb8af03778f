"""/api/v1/: the schema at openapi.json, interactive docs at docs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from ninja import NinjaAPI
from ninja.throttling import AuthRateThrottle

from collab.api import documents, sharing, versions
from collab.api.auth import TokenAuth

api = NinjaAPI(
    title="collab",
    version="1",
    description="Documents, their content, sharing and versions. Authenticate with a personal token "
    "(`Authorization: Bearer collab_pat_…`), made on your account page.",
    auth=TokenAuth(),
    throttle=[AuthRateThrottle(settings.COLLAB_API_RATE)],
    urls_namespace="api",
)


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return api.create_response(request, {"detail": f"the request body is over {limit} bytes"}, status=413)


for part in (documents, sharing, versions):
    api.add_router("", part.router)

urls = api.urls
