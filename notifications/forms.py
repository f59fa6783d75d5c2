"""The notification settings form: for each kind, in the portal and by e-mail."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.selectors import Choice


def portal_field(kind: str) -> str:
    return f"portal_{kind}"


def email_field(kind: str) -> str:
    return f"email_{kind}"


class NotificationSettingsForm(forms.Form):
    """Two checkboxes per kind; e-mail is only sent for kinds shown in the portal."""

    def __init__(self, *args, table: list[tuple[str, str, Choice]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kinds = [kind for kind, _label, _choice in table]
        self.rows = []
        for kind, label, choice in table:
            self.fields[portal_field(kind)] = forms.BooleanField(
                required=False, initial=choice.in_portal, label=_("In the portal")
            )
            self.fields[email_field(kind)] = forms.BooleanField(
                required=False, initial=choice.by_email, label=_("By e-mail")
            )
            self.rows.append((kind, label, self[portal_field(kind)], self[email_field(kind)]))

    def choices(self) -> dict[str, tuple[bool, bool]]:
        data = self.cleaned_data
        return {kind: (data[portal_field(kind)], data[email_field(kind)]) for kind in self.kinds}
