"""The account page's personal API tokens (collab.api.tokens): listed, created, revoked.

A new token's text is in the response to the form that made it, and nowhere else:
not in the session, not in a message, not in a redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from collab.api import tokens
from collab.models import ApiToken
from collab.pages.forms import AccountForm, ApiTokenForm

FORMS_SENT = "api_token_forms_sent"  # session: the marks of the last creation forms that made a token
FORMS_KEPT = 10


def account_page(request, *, form=None, token_form=None, created=None, status: int = 200):
    """The account page: the account's form, then its tokens, with `created` = (token, text) shown once."""
    context = {
        "form": form or AccountForm(instance=request.user),
        "tokens": tokens.tokens_of(user=request.user),
        "token_form": token_form or ApiTokenForm(),
        "created": created,
    }
    return render(request, "registration/account.html", context, status=status)


def to_the_tokens():
    return redirect(reverse("account") + "#tokens")


@never_cache  # the page holding a new token's text is not kept by the browser
@login_required
@require_POST
def token_create(request):
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return account_page(request, token_form=form, status=400)
    mark, sent = form.cleaned_data["once"], request.session.get(FORMS_SENT, [])
    if mark and mark in sent:
        messages.info(request, "That form was sent already: its token is listed below, and its text is shown once.")
        return to_the_tokens()
    token, text = tokens.token_create(
        user=request.user,
        name=form.cleaned_data["name"],
        scopes=form.cleaned_data["scopes"],
        expires_at=form.expires_at(),
    )
    if mark:
        request.session[FORMS_SENT] = [*sent, mark][-FORMS_KEPT:]
    return account_page(request, created=(token, text))


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)  # 404 for someone else's
    tokens.token_revoke(token=token)
    messages.success(request, f"Revoked “{token.name}” (…{token.last4}): programs using it are refused from now on.")
    return to_the_tokens()
