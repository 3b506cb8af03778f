from __future__ import annotations

import secrets
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from collab.access import sharing
from collab.access.identity import GUEST_MARK
from collab.models import SHARED_ROLES, ApiToken, ChatMessage, Comment, Document, Profile

EXPIRY_CHOICES = [("", "Never"), ("1h", "In 1 hour"), ("1d", "In 1 day"), ("7d", "In 7 days"), ("30d", "In 30 days")]
EXPIRY_DELTAS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
EMAIL_LABEL = "E-mail (optional: for resetting your password)"


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
        labels = {"email": EMAIL_LABEL}


def single_spaced(value: str) -> str:
    return " ".join(value.split())


class AccountForm(forms.ModelForm):
    """The display name (kept in the profile) and the e-mail address of an account."""

    display_name = forms.CharField(max_length=Profile._meta.get_field("display_name").max_length, required=False)

    class Meta:
        model = get_user_model()
        fields = ("display_name", "email")
        labels = {"email": EMAIL_LABEL}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        profile = Profile.objects.filter(user=self.instance).first()
        self.initial.setdefault("display_name", profile.display_name if profile else "")

    def clean_display_name(self):
        name = single_spaced(self.cleaned_data["display_name"])
        if name.lower().endswith(GUEST_MARK):
            raise forms.ValidationError(f"“{GUEST_MARK}” marks guests, who have no account.")
        return name

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            Profile.objects.update_or_create(user=user, defaults={"display_name": self.cleaned_data["display_name"]})
        return user


TOKEN_EXPIRY_DAYS = [("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("", "Never")]


class ApiTokenForm(forms.Form):
    """A new personal API token: a name to know it by, its scopes, when it stops working."""

    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        label="Name",
        error_messages={"required": "Give the token a name: what will use it?"},
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiToken.Scope.DOCUMENTS_READ],
        error_messages={"required": "Choose at least one scope."},
    )
    expires = forms.ChoiceField(choices=TOKEN_EXPIRY_DAYS, required=False, initial="30", label="Expires")
    # A random mark of this form: sent twice (a reload, a double click), it makes one token.
    once = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "token_%s")  # beside the account's form on one page
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["once"] = secrets.token_urlsafe(16)

    def clean_name(self):
        name = single_spaced(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the token a name: what will use it?")
        return name

    def expires_at(self):
        days = self.cleaned_data.get("expires")
        return timezone.now() + timedelta(days=int(days)) if days else None


class RenameForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ("title",)
        # The field strips spaces, so a title of spaces only is an empty one.
        error_messages = {"title": {"required": "A title cannot be empty."}}


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


class HistoryVisibilityForm(forms.Form):
    history_for_viewers = forms.BooleanField(required=False, label="Let viewers see the history")


class DiscussionSettingsForm(forms.Form):
    comments_enabled = forms.BooleanField(required=False, label="Allow comments")
    chat_enabled = forms.BooleanField(required=False, label="Allow chat")


class ReportForm(forms.Form):
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 4}), label="What is wrong with this document?"
    )
    # The comment or chat message reported, if any: one of this document's.
    comment = forms.IntegerField(required=False, widget=forms.HiddenInput)
    chat_message = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, document: Document, **kwargs):
        self.document = document
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        comment, message = data.get("comment"), data.get("chat_message")
        data["comment"] = data["chat_message"] = None
        if comment is not None:
            data["comment"] = Comment.objects.filter(pk=comment, thread__document=self.document).first()
            if data["comment"] is None:
                raise forms.ValidationError("That comment is not in this document.")
        if message is not None:
            data["chat_message"] = ChatMessage.objects.filter(pk=message, document=self.document).first()
            if data["chat_message"] is None:
                raise forms.ValidationError("That chat message is not in this document.")
        return data

    def reported(self):
        """The comment or chat message the form points at (from its initial or posted ids), or None."""
        field = "comment" if self["comment"].value() not in (None, "") else "chat_message"
        model = Comment if field == "comment" else ChatMessage
        key = self[field].value()
        if key in (None, "") or not str(key).isdigit():
            return None
        found = model.objects.filter(pk=int(key))
        found = (
            found.filter(thread__document=self.document) if model is Comment else found.filter(document=self.document)
        )
        return found.first()


class GuestForm(forms.Form):
    name = forms.CharField(max_length=40, label="Your name", help_text="Shown to the others in the document.")

    def clean_name(self):
        name = single_spaced(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Please enter a name.")
        return name


class ImportForm(forms.Form):
    """A Markdown or text file to make a new document of (collab.pages.transfer)."""

    EXTENSIONS = (".md", ".markdown", ".txt")

    file = forms.FileField(
        label="Import a file",
        help_text="Markdown (.md) or text (.txt), in UTF-8.",
        error_messages={"required": "Choose a .md or .txt file to import.", "empty": "This file is empty."},
        widget=forms.ClearableFileInput(attrs={"accept": ".md,.markdown,.txt,text/markdown,text/plain"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "import")
        super().__init__(*args, **kwargs)
        # A document may not grow past COLLAB_MAX_DOCUMENT_BYTES either.
        self.max_bytes = min(settings.COLLAB_MAX_IMPORT_BYTES, settings.COLLAB_MAX_DOCUMENT_BYTES)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(self.EXTENSIONS):
            raise forms.ValidationError("Only Markdown (.md) and text (.txt) files can be imported.")
        if upload.size > self.max_bytes:
            raise forms.ValidationError(
                f"This file is {upload.size:,} bytes; files of up to {self.max_bytes:,} bytes can be imported."
            )
        data = upload.read(self.max_bytes + 1)
        try:
            text = data.decode("utf-8-sig")  # a byte order mark is not part of the text
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(
                f"This file is not UTF-8 text (byte {exc.start + 1:,} is not valid). "
                "Save it as UTF-8 and import it again."
            ) from None
        if "\x00" in text:
            raise forms.ValidationError("This file is not text: it contains NUL characters.")
        self.cleaned_data["text"] = text.replace("\r\n", "\n").replace("\r", "\n")
        return upload
