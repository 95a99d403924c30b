"""The catalogue: who serves models (Provider) and what they cost (Model)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from django.core.validators import RegexValidator
from django.db import models

from inference.crypto import UNREADABLE_KEY_REASON, EncryptedTextField, is_unreadable
from inference.pricing import PriceSnapshot


def is_local_address(url: str) -> bool:
    """The URL's host is this machine or its private network (localhost, 127.x, 10.x, ...)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (
        address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified
    )


def is_local_server(*, kind: str, key_required: bool, base_url: str) -> bool:
    """A keyless OpenAI-compatible server on this machine or network (vLLM, Ollama, ...).

    Any user could make the playground send requests there, so such providers are seeded
    disabled until an admin enables them.
    """
    return kind != Provider.Kind.LOCAL and not key_required and is_local_address(base_url)


class Provider(models.Model):
    """One host of models: its wire format, where it lives and its key."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible (Chat Completions)"
        ANTHROPIC = "anthropic", "Anthropic Messages"
        GEMINI = "gemini", "Google Gemini"
        LOCAL = "local", "Local GPU (transformers, in process)"

    slug = models.SlugField(
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lowercase letters, digits, '-'.")],
        help_text="The part before the colon in model names, e.g. 'openai' in openai:gpt-4o-mini.",
    )
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.CharField(
        max_length=300,
        blank=True,
        help_text="Blank: the SLUG_BASE_URL variable (e.g. OPENAI_BASE_URL), else the default.",
    )
    default_base_url = models.CharField(max_length=300, blank=True)
    api_key = EncryptedTextField(blank=True, default="")
    key_required = models.BooleanField(
        default=True, help_text="Local servers (Ollama, vLLM, llama.cpp) usually need no key."
    )
    enabled = models.BooleanField(default=True)
    read_timeout = models.FloatField(
        default=300.0,
        help_text="Seconds of silence allowed between two chunks before the panel times out. "
        "Reasoning models can think quietly for minutes.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label

    @property
    def env_prefix(self) -> str:
        return self.slug.upper().replace("-", "_")

    def env_key_names(self) -> list[str]:
        names = [f"{self.env_prefix}_API_KEY"]
        if self.kind == self.Kind.GEMINI:
            names += ["GEMINI_API_KEY", "GOOGLE_API_KEY"]
        return names

    def env_base_url_names(self) -> list[str]:
        names = [f"{self.env_prefix}_BASE_URL"]
        if self.kind == self.Kind.GEMINI:
            names.append("GOOGLE_GEMINI_BASE_URL")
        return names

    @property
    def is_local_server(self) -> bool:
        return is_local_server(
            kind=self.kind, key_required=self.key_required, base_url=self.effective_base_url()
        )

    @property
    def key_unreadable(self) -> bool:
        """A key is stored but no configured encryption key can decrypt it."""
        return is_unreadable(self.api_key)

    def effective_api_key(self) -> str:
        """The admin's key, else the first environment variable that is set."""
        if self.key_unreadable:
            return ""
        if self.api_key:
            return self.api_key
        for name in self.env_key_names():
            if os.environ.get(name):
                return os.environ[name]
        return ""

    def effective_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        for name in self.env_base_url_names():
            if os.environ.get(name):
                return os.environ[name]
        return self.default_base_url

    def unavailable_reason(self) -> str:
        """Why this provider's models cannot run now ('' when they can)."""
        if not self.enabled:
            return "provider disabled"
        if self.key_unreadable:
            return UNREADABLE_KEY_REASON
        if self.kind == self.Kind.LOCAL:
            from inference.backends.local import missing_extra_reason

            return missing_extra_reason()
        if self.key_required and not self.effective_api_key():
            return f"no API key (add one in the admin or set {self.env_key_names()[0]})"
        if not self.effective_base_url():
            return f"no base URL (set one in the admin or {self.env_base_url_names()[0]})"
        return ""


class Model(models.Model):
    """One model of one provider, with its list prices (USD per million tokens)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    api_name = models.CharField(max_length=200, help_text="The provider's own model name.")
    label = models.CharField(max_length=200)
    # Prices: USD, up to 14 digits with 6 after the point; blank means unknown, never free.
    input_price = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="USD per 1M input tokens."
    )
    output_price = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M output tokens.",
    )
    cached_input_price = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M cached input tokens (blank: the input price).",
    )
    # The provider's batch API (asynchronous, usually half price): only for cost at volume.
    batch_input_price = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M input tokens through the batch API (blank: no batch price).",
    )
    batch_output_price = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per 1M output tokens through the batch API (blank: no batch price).",
    )
    gpu_hour_price = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Local models: USD per GPU-hour of generation.",
    )
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    supports_reasoning = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    options = models.JSONField(
        default=dict, blank=True, help_text="Kind-specific settings, e.g. a local model's path."
    )
    prices_edited = models.BooleanField(
        default=False,
        help_text="Set when an admin edits a price or limit; load_catalog then leaves them alone.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider__label", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "api_name"], name="unique_model_per_provider"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """How people and commands name it: provider:model."""
        return f"{self.provider.slug}:{self.api_name}"

    @property
    def has_price(self) -> bool:
        if self.provider.kind == Provider.Kind.LOCAL:
            return self.gpu_hour_price is not None
        return self.input_price is not None and self.output_price is not None

    def price_snapshot(self) -> PriceSnapshot:
        """The prices as they stand now, to freeze into a run (local models: per GPU-hour)."""
        if self.provider.kind == Provider.Kind.LOCAL:
            return PriceSnapshot(gpu_hour=self.gpu_hour_price)
        return PriceSnapshot(
            input_per_m=self.input_price,
            output_per_m=self.output_price,
            cached_input_per_m=self.cached_input_price,
            batch_input_per_m=self.batch_input_price,
            batch_output_per_m=self.batch_output_price,
        )
