from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import PasswordChangeForm, UserCreationForm
from django.http import HttpRequest

from .models import User

PASSWORD_FIELDS = ("password1", "password2")


class SignUpForm(UserCreationForm[User]):
    # Optional: the site needs no e-mail to work, and it is used for one thing only. An
    # address another account uses is accepted as any other (its owner is told by mail):
    # refusing it would tell anyone whose address has an account here.
    email = forms.EmailField(
        label="E-mail",
        required=False,
        help_text="Optional. Used only to send you a link if you forget your password; "
        "without it, a forgotten password cannot be reset.",
    )

    class Meta:
        model = User
        fields = ("username", "email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].help_text = "What you log in with: letters, digits and @ . + - _ (no spaces)."
        self.fields["password1"].help_text = (
            "At least 8 characters; a few words are easier to remember than a jumble. "
            "Not a common password, not only digits, and not like your username or e-mail."
        )
        self.fields["password2"].label = "Password again"
        self.fields["password2"].help_text = "The same password, to be sure it was typed as meant."
        self._show_passwords(show=True)

    def full_clean(self) -> None:
        super().full_clean()
        # A mistake elsewhere (a taken username) keeps the passwords typed; when they were
        # the problem (too short, not the same twice), both start afresh.
        self._show_passwords(not any(name in self.errors for name in PASSWORD_FIELDS))
        self._focus_first_error()

    def validate_password_for_user(self, user: User, password_field_name: str = "password1") -> None:
        """As Django's (SetPasswordMixin), but a weak password is said under the password
        itself, where it was typed, not under its confirmation."""
        password = self.cleaned_data.get("password1")
        if password:
            try:
                password_validation.validate_password(password, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)

    def _focus_first_error(self) -> None:
        """The page opens where the first mistake is, not at the username every time."""
        wrong = [name for name in self.fields if name in self.errors]
        if not wrong:
            return
        for name, field in self.fields.items():
            field.widget.attrs.pop("autofocus", None)
            if name == wrong[0]:
                field.widget.attrs["autofocus"] = True

    def _show_passwords(self, show: bool) -> None:
        for name in PASSWORD_FIELDS:
            widget = self.fields[name].widget
            assert isinstance(widget, forms.PasswordInput)
            widget.render_value = show


def password_confirmed(*, request: HttpRequest, user: User, password: str) -> bool:
    """The user's own password, checked as a log in is: django-axes counts a wrong one
    towards the lock-out and refuses every check while it lasts (its page, 429)."""
    return authenticate(request, username=user.get_username(), password=password) == user


class OldPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password counted as a log in."""

    def __init__(self, user: User, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        if not password_confirmed(request=self.request, user=self.user, password=old_password):
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class AccountDeleteForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, help_text="Your password, to confirm.")

    def __init__(self, *args: Any, user: User, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.request = request

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not password_confirmed(request=self.request, user=self.user, password=password):
            raise forms.ValidationError("That is not your password.")
        return password
