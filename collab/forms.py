from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from . import sharing
from .models import SHARED_ROLES, Document

EXPIRY_CHOICES = [("", "Never"), ("1h", "In 1 hour"), ("1d", "In 1 day"), ("7d", "In 7 days"), ("30d", "In 30 days")]
EXPIRY_DELTAS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class RenameForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ("title",)

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError("A title cannot be empty.")
        return title


class UserField(forms.CharField):
    """A username that must belong to an active account."""

    def clean(self, value):
        value = super().clean(value)
        user = sharing.user_by_username(value)
        if user is None:
            raise forms.ValidationError(f"There is no user named “{value}”.")
        return user


class AddMemberForm(forms.Form):
    username = UserField(max_length=150, label="Username")
    role = forms.ChoiceField(choices=SHARED_ROLES, initial="editor")

    def __init__(self, *args, document: Document, **kwargs):
        self.document = document
        super().__init__(*args, **kwargs)

    def clean_username(self):
        user = self.cleaned_data["username"]
        if user.pk == self.document.owner_id:
            raise forms.ValidationError("That is the owner: they already have every right.")
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=SHARED_ROLES)


class CreateLinkForm(forms.Form):
    role = forms.ChoiceField(choices=SHARED_ROLES, initial="viewer")
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def expires_at(self):
        delta = EXPIRY_DELTAS.get(self.cleaned_data.get("expires") or "")
        return timezone.now() + delta if delta else None


class TransferForm(AddMemberForm):
    role = None
    confirm = forms.BooleanField(label="I understand that I will no longer own this document")


class ReportForm(forms.Form):
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 4}), label="What is wrong with this document?"
    )


class GuestForm(forms.Form):
    name = forms.CharField(max_length=40, label="Your name", help_text="Shown to the others in the document.")

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Please enter a name.")
        return name
