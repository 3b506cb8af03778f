from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("docs/new/", views.document_new, name="document_new"),
    path("docs/<uuid:document_id>/", views.document_page, name="document"),
    path("docs/<uuid:document_id>/rename/", views.document_rename, name="document_rename"),
    path("docs/<uuid:document_id>/export.md", views.document_export, name="document_export"),
    path("docs/<uuid:document_id>/share/", views.document_share, name="document_share"),
    path("docs/<uuid:document_id>/report/", views.document_report, name="document_report"),
    path("s/<str:token>/", views.share_link_open, name="share_link"),
    path("docs/<uuid:document_id>/delete/", views.document_delete, name="document_delete"),
]
