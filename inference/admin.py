"""The admin for providers (keys, base URLs) and models (prices, limits)."""

from __future__ import annotations

import os
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from inference.backends import backend_for
from inference.backends.base import BackendError, ChatRequest, HostConfig, Message
from inference.catalog import host_config
from inference.crypto import UNREADABLE_KEY_REASON, last_four
from inference.forms import ProviderAdminForm
from inference.models import Model, Provider

PRICE_FIELDS = (
    "input_price",
    "output_price",
    "cached_input_price",
    "batch_input_price",
    "batch_output_price",
    "gpu_hour_price",
)
# What load_catalog refreshes from the seed; an admin edit to any of them pins them all.
SEEDED_FIELDS = (*PRICE_FIELDS, "context_window", "max_output_tokens", "supports_reasoning")
PROBE_PROMPT = "Reply with the word OK."


async def check_connection(config: HostConfig, probe_model: str | None) -> str:
    """A real request: list the models, or stream one token when listing is not allowed."""
    backend = backend_for(config)
    try:
        names = await backend.list_models()
    except BackendError as exc:
        if probe_model is None:
            raise
        listing_error = exc
    else:
        return f"connected, {len(names)} models listed"
    request = ChatRequest(
        model=probe_model, messages=(Message(role="user", content=PROBE_PROMPT),), max_tokens=1
    )
    async for _event in backend.stream(request):
        pass
    return (
        f"connected (listing models failed: {listing_error}; "
        f"a one-token reply from {probe_model} worked)"
    )


async def list_provider_models(config: HostConfig) -> list[str]:
    return await backend_for(config).list_models()


def _failure(exc: Exception) -> str:
    # Backend errors are written to be shown and never carry the key; anything else is
    # reported by type only, since its text could echo a request.
    if isinstance(exc, BackendError):
        # Staff see the detail users do not (e.g. the address that refused the connection).
        return f"{exc.label}: {exc}" + (f" [{exc.detail}]" if exc.detail else "")
    return f"unexpected {type(exc).__name__}"


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin[Provider]):
    form = ProviderAdminForm
    list_display = ("label", "slug", "kind", "enabled", "key", "base_url_in_use", "model_count")
    list_filter = ("kind", "enabled", "key_required")
    search_fields = ("label", "slug", "base_url", "default_base_url")
    readonly_fields = ("stored_key",)
    prepopulated_fields = {"slug": ("label",)}
    actions = ("test_connection", "import_models")
    fieldsets = (
        (None, {"fields": ("label", "slug", "kind", "enabled")}),
        (
            "Connection",
            {
                "fields": (
                    "base_url",
                    "default_base_url",
                    "read_timeout",
                    "key_required",
                    "stored_key",
                    "api_key",
                    "clear_api_key",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Provider]:
        queryset: QuerySet[Provider] = super().get_queryset(request)
        return queryset.annotate(model_count=Count("models"))

    @admin.display(description="models", ordering="model_count")
    def model_count(self, provider: Provider) -> int:
        return int(getattr(provider, "model_count", 0))

    def save_model(
        self, request: HttpRequest, obj: Provider, form: ModelForm[Provider], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        moved_to = getattr(form, "key_cleared_for", "")
        if moved_to:
            self.message_user(
                request,
                f"{obj}: the base URL now points at another host ({moved_to}), so the stored "
                "key was cleared: it is never sent to a host it was not entered for. Enter "
                "the key for the new host.",
                messages.WARNING,
            )

    @admin.display(description="stored key")
    def stored_key(self, provider: Provider) -> str:
        if provider.key_unreadable:
            return UNREADABLE_KEY_REASON
        return last_four(provider.api_key) or "none"

    @admin.display(description="key")
    def key(self, provider: Provider) -> str:
        if provider.key_unreadable:
            return "unreadable: enter it again"
        if provider.api_key:
            return last_four(provider.api_key)
        env_name = next((name for name in provider.env_key_names() if os.environ.get(name)), "")
        if env_name:
            return f"from {env_name}"
        return "not needed" if not provider.key_required else "missing"

    @admin.display(description="base URL in use")
    def base_url_in_use(self, provider: Provider) -> str:
        return provider.effective_base_url() or "—"

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            reason = provider.unavailable_reason() if provider.enabled else ""
            if reason:
                self.message_user(request, f"{provider}: {reason}", messages.WARNING)
                continue
            probe = provider.models.filter(enabled=True).order_by("pk").first()
            try:
                result = async_to_sync(check_connection)(
                    host_config(provider), probe.api_name if probe else None
                )
            except Exception as exc:
                self.message_user(request, f"{provider}: {_failure(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"{provider}: {result}", messages.SUCCESS)

    @admin.action(description="Import models from the provider's list")
    def import_models(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            try:
                names = async_to_sync(list_provider_models)(host_config(provider))
            except Exception as exc:
                self.message_user(request, f"{provider}: {_failure(exc)}", messages.ERROR)
                continue
            known = set(provider.models.values_list("api_name", flat=True))
            new = sorted(set(names) - known)
            Model.objects.bulk_create(
                [Model(provider=provider, api_name=name, label=name) for name in new],
                ignore_conflicts=True,
            )
            self.message_user(
                request,
                f"{provider}: imported {len(new)} new models with unknown prices "
                f"({len(names) - len(new)} already in the catalogue).",
                messages.SUCCESS,
            )


class HasPriceFilter(admin.SimpleListFilter):
    title = "price"
    parameter_name = "has_price"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "known"), ("no", "unknown")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        local = Q(provider__kind=Provider.Kind.LOCAL)
        priced = (local & Q(gpu_hour_price__isnull=False)) | (
            ~local & Q(input_price__isnull=False, output_price__isnull=False)
        )
        if self.value() == "yes":
            return queryset.filter(priced)
        if self.value() == "no":
            return queryset.exclude(priced)
        return queryset


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin[Model]):
    list_display = (
        "label",
        "name",
        "provider",
        "input_price",
        "output_price",
        "cached_input_price",
        "batch_input_price",
        "batch_output_price",
        "gpu_hour_price",
        "context_window",
        "supports_reasoning",
        "enabled",
        "prices_edited",
    )
    list_editable = (
        "input_price",
        "output_price",
        "cached_input_price",
        "gpu_hour_price",
        "enabled",
    )
    list_filter = (
        "provider",
        ("provider__kind", admin.ChoicesFieldListFilter),
        "enabled",
        "supports_reasoning",
        HasPriceFilter,
        "prices_edited",
    )
    list_select_related = ("provider",)
    search_fields = ("api_name", "label", "provider__slug", "provider__label")
    actions = ("enable_models", "disable_models")
    list_per_page = 100
    fieldsets = (
        (None, {"fields": ("provider", "api_name", "label", "enabled")}),
        (
            "Prices (USD per 1M tokens; local models per GPU-hour; batch: cost at volume only)",
            {"fields": (*PRICE_FIELDS, "prices_edited")},
        ),
        ("Limits", {"fields": ("context_window", "max_output_tokens", "supports_reasoning")}),
        ("Options", {"fields": ("options",), "classes": ("collapse",)}),
    )

    @admin.display(description="name", ordering="api_name")
    def name(self, model: Model) -> str:
        return model.name

    def save_model(
        self, request: HttpRequest, obj: Model, form: ModelForm[Model], change: bool
    ) -> None:
        # Both the change form and the changelist's list_editable rows come through here.
        edited = any(name in form.changed_data for name in SEEDED_FIELDS)
        if edited and "prices_edited" not in form.changed_data:
            obj.prices_edited = True
        super().save_model(request, obj, form, change)

    @admin.action(description="Enable the selected models")
    def enable_models(self, request: HttpRequest, queryset: QuerySet[Model]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(request, f"Enabled {count} models.", messages.SUCCESS)

    @admin.action(description="Disable the selected models")
    def disable_models(self, request: HttpRequest, queryset: QuerySet[Model]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"Disabled {count} models.", messages.SUCCESS)
