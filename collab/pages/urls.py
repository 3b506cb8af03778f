from django.contrib.auth import views as auth_views
from django.urls import path

from collab.pages import authors, history, tokens, views, webhooks

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", views.account, name="account"),
    path("accounts/tokens/", tokens.token_create, name="token_create"),
    path("accounts/tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    # Password reset by e-mail: Django's own views, our templates (templates/registration/).
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("docs/new/", views.document_new, name="document_new"),
    path("docs/<uuid:document_id>/", views.document_page, name="document"),
    path("docs/<uuid:document_id>/rename/", views.document_rename, name="document_rename"),
    path("docs/<uuid:document_id>/export.md", views.document_export, name="document_export"),
    path("docs/<uuid:document_id>/share/", views.document_share, name="document_share"),
    path("docs/<uuid:document_id>/report/", views.document_report, name="document_report"),
    path("docs/<uuid:document_id>/authors.json", authors.document_authors, name="document_authors"),
    path("docs/<uuid:document_id>/history/", history.document_history, name="document_history"),
    path("docs/<uuid:document_id>/history/<int:version_id>/", history.version_view, name="version"),
    path(
        "docs/<uuid:document_id>/history/<int:version_id>/changes.json",
        history.version_changes,
        name="version_changes",
    ),
    path("docs/<uuid:document_id>/history/<int:version_id>/export.md", history.version_export, name="version_export"),
    path("docs/<uuid:document_id>/history/<int:version_id>/restore/", history.version_restore, name="version_restore"),
    path("s/<str:token>/", views.share_link_open, name="share_link"),
    path("docs/<uuid:document_id>/delete/", views.document_delete, name="document_delete"),
    path("trash/", views.trash, name="trash"),
    path("trash/<uuid:document_id>/restore/", views.trash_restore, name="trash_restore"),
    path("trash/<uuid:document_id>/delete/", views.trash_delete, name="trash_delete"),
    path("webhooks/", webhooks.webhooks, name="webhooks"),
    path("webhooks/<int:endpoint_id>/", webhooks.webhook, name="webhook"),
    path("webhooks/<int:endpoint_id>/log/", webhooks.webhook_log, name="webhook_log"),
    path("webhooks/<int:endpoint_id>/switch/", webhooks.webhook_switch, name="webhook_switch"),
    path("webhooks/<int:endpoint_id>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:endpoint_id>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path("webhooks/deliveries/<int:delivery_id>/again/", webhooks.delivery_send_again, name="webhook_send_again"),
]
