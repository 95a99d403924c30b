from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from playground.models import Comparison, Run, Turn, UserQuota


class TurnInline(admin.TabularInline[Turn, Comparison]):
    model = Turn
    extra = 0
    fields = ["index", "prompt", "created"]
    readonly_fields = ["index", "prompt", "created"]
    can_delete = False


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin[Comparison]):
    list_display = ["title", "owner", "created"]
    list_filter = ["created"]
    search_fields = ["title", "owner__username", "turns__prompt"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "created", "updated"]
    inlines = [TurnInline]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin[Run]):
    list_display = ["model_name", "comparison", "status", "ttft_ms", "tokens_per_s", "cost"]
    list_filter = ["status", "provider_kind", "cost_source", "tokens_estimated"]
    search_fields = ["model_name", "comparison__title"]
    list_select_related = ["comparison"]
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


class UserQuotaInline(admin.StackedInline[UserQuota, Any]):
    model = UserQuota
    can_delete = True
    extra = 0
    max_num = 1
    verbose_name_plural = "Limits"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithLimitsAdmin(UserAdmin[Any]):
    inlines = [*UserAdmin.inlines, UserQuotaInline]
