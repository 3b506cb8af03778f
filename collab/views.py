from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import documents, health, persistence
from .forms import RenameForm, SignUpForm


@login_required
def home(request):
    return render(request, "collab/home.html", {"documents": documents.documents_for_user(user=request.user)})


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_POST
def document_new(request):
    document = documents.document_create(owner=request.user)
    return redirect(document)


@login_required
def document_page(request, document_id):
    document = documents.document_for_user(user=request.user, document_id=document_id)
    return render(request, "collab/document.html", {"document": document, "rename_form": RenameForm(instance=document)})


@login_required
@require_http_methods(["GET", "POST"])
def document_rename(request, document_id):
    document = documents.document_for_user(user=request.user, document_id=document_id)
    form = RenameForm(request.POST or None, instance=document)
    if request.method == "POST" and form.is_valid():
        documents.document_rename(document=document, title=form.cleaned_data["title"])
        return redirect(document)
    return render(request, "collab/rename.html", {"document": document, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def document_delete(request, document_id):
    document = documents.document_for_user(user=request.user, document_id=document_id)
    if request.method == "POST":
        documents.document_delete(document=document)
        return redirect("home")
    return render(request, "collab/delete.html", {"document": document})


@login_required
@require_GET
def document_export(request, document_id):
    document = documents.document_for_user(user=request.user, document_id=document_id)
    response = HttpResponse(persistence.document_text(document.id), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{document.id}.md"'
    return response


@require_GET
def healthz(request):
    results = health.run_checks()
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse(results, status=200 if healthy else 503)
