"""The Webhooks page (collab.webhooks.endpoints): a signed-in person's endpoints, each
with its signing secret, its switches and its delivery log."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from collab.access import documents
from collab.models import WebhookEndpoint
from collab.webhooks import endpoints
from collab.webhooks.delivery import send_again

ALL_MY_DOCUMENTS = ""
SECRET_SHOWN = "webhook_secret_shown"  # session: the endpoint whose page opens with its secret shown, once


class EndpointForm(forms.Form):
    """Where to send which events, for one of the person's documents or all of them."""

    url = forms.URLField(
        max_length=WebhookEndpoint._meta.get_field("url").max_length,
        assume_scheme="https",
        label="URL",
        help_text="Where collab sends a POST with each event, e.g. https://example.com/hooks/collab",
        error_messages={"required": "Give the URL that should receive the events."},
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[WebhookEndpoint.Event.DOCUMENT_CREATED, WebhookEndpoint.Event.DOCUMENT_CHANGED],
        error_messages={"required": "Choose at least one event."},
    )
    document = forms.ChoiceField(label="For", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.owned = {str(d.pk): d for d in documents.documents_for_user(user=user)}
        self.fields["document"].choices = [(ALL_MY_DOCUMENTS, "All my documents")] + [
            (key, document.title) for key, document in self.owned.items()
        ]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            endpoints.check_url(url)  # told with the other errors; the service checks again
        except endpoints.Invalid as invalid:
            raise forms.ValidationError(str(invalid)) from None
        return url

    def clean_document(self):
        return self.owned.get(self.cleaned_data["document"] or ALL_MY_DOCUMENTS)

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, **kwargs) -> EndpointForm:
        initial = {"url": endpoint.url, "events": endpoint.events, "document": str(endpoint.document_id or "")}
        return cls(user=endpoint.user, initial=initial, auto_id="edit_%s", **kwargs)


def save_form(form: EndpointForm, action) -> WebhookEndpoint | None:
    """`action(url=, events=, document=)` if the form is valid; its error on the form otherwise."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        return action(url=data["url"], events=data["events"], document=data["document"])
    except endpoints.Invalid as invalid:
        form.add_error(invalid.field if invalid.field in form.fields else None, str(invalid))
        return None


def own_endpoint(request, endpoint_id: int) -> WebhookEndpoint:
    endpoint = endpoints.endpoint_of(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404  # someone else's, or none
    return endpoint


def to_endpoint(endpoint: WebhookEndpoint, anchor: str = ""):
    return redirect(reverse("webhook", args=[endpoint.pk]) + anchor)


@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request):
    """The list of the person's endpoints and the form for another."""
    form = EndpointForm(request.POST or None, user=request.user)
    if request.method == "POST":
        endpoint = save_form(form, lambda **fields: endpoints.endpoint_create(user=request.user, **fields))
        if endpoint is not None:
            request.session[SECRET_SHOWN] = endpoint.pk
            messages.success(request, "Endpoint added. Copy its signing secret below to verify what it receives.")
            return to_endpoint(endpoint)
    context = {"endpoints": endpoints.endpoints_for(user=request.user), "form": form}
    return render(request, "collab/webhooks.html", context, status=400 if form.errors else 200)


@never_cache  # the page holds the signing secret
@login_required
@require_http_methods(["GET", "POST"])
def webhook(request, endpoint_id: int):
    """One endpoint: its secret, its switches, its settings (POST changes them), its log."""
    endpoint = own_endpoint(request, endpoint_id)
    form = EndpointForm.of(endpoint, data=request.POST or None)
    if request.method == "POST":
        fields = {"endpoint": endpoint}
        if save_form(form, lambda **changes: endpoints.endpoint_update(**fields, **changes)) is not None:
            messages.success(request, "Endpoint saved.")
            return to_endpoint(endpoint)
        endpoint = own_endpoint(request, endpoint_id)  # as it is stored, not as the refused form had it
    context = {
        "endpoint": endpoint,
        "form": form,
        "show_secret": request.session.pop(SECRET_SHOWN, None) == endpoint.pk,
        "previous_secret_valid": endpoints.previous_secret_valid(endpoint),
        "deliveries": endpoints.deliveries_of(endpoint=endpoint),
        "log_length": endpoints.LOG_LENGTH,
    }
    return render(request, "collab/webhook.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_GET
def webhook_log(request, endpoint_id: int):
    """The delivery log alone, which the endpoint's page fetches again while it is open."""
    endpoint = own_endpoint(request, endpoint_id)
    context = {"endpoint": endpoint, "deliveries": endpoints.deliveries_of(endpoint=endpoint)}
    return render(request, "collab/_webhook_log.html", context)


@login_required
@require_POST
def webhook_switch(request, endpoint_id: int):
    endpoint = own_endpoint(request, endpoint_id)
    turn_on = request.POST.get("active") == "1"
    endpoints.endpoint_update(endpoint=endpoint, active=turn_on)
    messages.success(request, "Endpoint turned on." if turn_on else "Endpoint turned off: it is sent nothing now.")
    return to_endpoint(endpoint)


@login_required
@require_POST
def webhook_rotate(request, endpoint_id: int):
    endpoint = endpoints.secret_rotate(endpoint=own_endpoint(request, endpoint_id))
    request.session[SECRET_SHOWN] = endpoint.pk
    messages.success(
        request, "New signing secret made. Deliveries are signed with the old one too for 24 hours: switch before then."
    )
    return to_endpoint(endpoint, "#secret")


@login_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request, endpoint_id: int):
    endpoint = own_endpoint(request, endpoint_id)
    if request.method == "POST":
        endpoints.endpoint_delete(endpoint=endpoint)
        messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log.")
        return redirect("webhooks")
    return render(request, "collab/webhook_delete.html", {"endpoint": endpoint})


@login_required
@require_POST
def delivery_send_again(request, delivery_id: int):
    delivery = endpoints.delivery_of(user=request.user, delivery_id=delivery_id)
    if delivery is None:
        raise Http404
    if not delivery.endpoint.active:
        messages.error(request, "This endpoint is off: turn it on before sending anything again.")
    else:
        send_again(delivery)
        messages.success(request, f"{delivery.event} sent again: see the newest line of the log.")
    return to_endpoint(delivery.endpoint, "#log")
