from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import Document


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
