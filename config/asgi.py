"""ASGI entry point: HTTP to Django, WebSockets through origin and session checks."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from collab.realtime.middleware import OriginValidator, auth_middleware_stack  # noqa: E402
from collab.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginValidator(auth_middleware_stack(URLRouter(websocket_urlpatterns))),
    }
)
