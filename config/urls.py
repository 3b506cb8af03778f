from django.contrib import admin
from django.urls import include, path

from collab.api.urls import api
from collab.pages.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("collab.pages.urls")),
    path("api/v1/", api.urls),
    path("metrics", metrics_view, name="metrics"),
]
