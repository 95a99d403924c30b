"""The provider form of the admin, where the API key is write-only."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from django import forms

from inference.crypto import UNREADABLE_KEY_REASON, is_unreadable, last_four
from inference.models import Provider


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a base URL, the port made explicit; empty parts when unset."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ("", url.strip().lower(), None)
    scheme = parts.scheme.lower()
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port)


def base_url_in_use(base_url: str, default_base_url: str, provider: Provider) -> str:
    """The base URL a provider would use with these settings (as effective_base_url)."""
    if base_url:
        return base_url
    for name in provider.env_base_url_names():
        if os.environ.get(name):
            return os.environ[name]
    return default_base_url


class ProviderAdminForm(forms.ModelForm[Provider]):
    """Edits a provider without ever sending its stored key back to the browser.

    The key field always renders empty; a blank submit keeps the stored key, a new value
    replaces it, and the "clear" box removes it. Pointing the provider at another host
    (scheme, host or port) clears the stored key unless a key is entered in the same save,
    so a key is never sent to a host it was not entered for; `key_cleared_for` then names
    the new host, for the admin's message.
    """

    key_cleared_for: str = ""

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
        self._old_url = self.instance.effective_base_url() if self.instance.pk else ""
        self.initial["api_key"] = ""
        if "api_key" in self.fields:
            self.fields["api_key"].help_text = self._key_help()

    def _key_help(self) -> str:
        if is_unreadable(self._stored_key):
            return f"The {UNREADABLE_KEY_REASON}."
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
            if self._stored_key and self._moved_host(cleaned):
                cleaned["api_key"] = ""
        return cleaned

    def _moved_host(self, cleaned: dict[str, Any]) -> bool:
        """True (and key_cleared_for set) when the save points the provider elsewhere."""
        if not self.instance.pk:
            return False
        new_url = base_url_in_use(
            cleaned.get("base_url") or "",
            cleaned.get("default_base_url", self.instance.default_base_url) or "",
            self.instance,
        )
        if url_origin(new_url) == url_origin(self._old_url):
            return False
        scheme, host, port = url_origin(new_url)
        self.key_cleared_for = f"{scheme}://{host}:{port}" if port else (host or "no host")
        return True
