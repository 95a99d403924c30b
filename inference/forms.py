"""The provider form of the admin, where the API key is write-only."""

from __future__ import annotations

from typing import Any

from django import forms

from inference.crypto import last_four
from inference.models import Provider


class ProviderAdminForm(forms.ModelForm):
    """Edits a provider without ever sending its stored key back to the browser.

    The key field always renders empty; a blank submit keeps the stored key, a new value
    replaces it, and the "clear" box removes it.
    """

    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_key = forms.BooleanField(label="Clear the stored key", required=False)

    class Meta:
        model = Provider
        fields = [
            "label",
            "slug",
            "kind",
            "enabled",
            "base_url",
            "default_base_url",
            "key_required",
            "api_key",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_key = (self.instance.api_key or "") if self.instance.pk else ""
        self.initial["api_key"] = ""
        if "api_key" in self.fields:
            self.fields["api_key"].help_text = self._key_help()

    def _key_help(self) -> str:
        if self._stored_key:
            return f"Stored: {last_four(self._stored_key)}. Leave blank to keep it."
        env_name = self.instance.env_key_names()[0] if self.instance.slug else "SLUG_API_KEY"
        return f"None stored. Leave blank to use the {env_name} environment variable."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new_key = cleaned.get("api_key") or ""
        if cleaned.get("clear_api_key"):
            if new_key:
                raise forms.ValidationError("Enter a new key or clear the stored one, not both.")
            cleaned["api_key"] = ""
        elif not new_key:
            cleaned["api_key"] = self._stored_key
        return cleaned
