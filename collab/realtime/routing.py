from django.urls import path, re_path

from collab.realtime.consumers import DocumentConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/docs/<uuid:document_id>/", DocumentConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
