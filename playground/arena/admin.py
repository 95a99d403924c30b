"""Staff: battles (sides read-only), votes (exclude a voter's votes, or include them again)
and the computed leaderboards (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from playground.arena.leaderboard import voters_excluded_set
from playground.arena.models import Battle, BattleSide, Leaderboard, Vote


class BattleSideInline(admin.TabularInline[BattleSide, Battle]):
    model = BattleSide
    extra = 0
    fields = ["position", "model_name", "panel", "run"]
    readonly_fields = ["position", "model_name", "panel", "run"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Battle | None = None) -> bool:
        return False


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin[Battle]):
    list_display = ["pk", "owner", "comparison", "suite_run", "created", "revealed"]
    list_filter = ["created", "revealed"]
    search_fields = ["owner__username", "sides__model_name"]
    list_select_related = ["owner", "comparison", "suite_run"]
    readonly_fields = [f.name for f in Battle._meta.fields]
    inlines = [BattleSideInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin[Vote]):
    list_display = ["pk", "battle", "voter", "board", "choice", "category", "excluded", "created"]
    list_filter = ["board", "excluded", "voter", "choice", "created"]
    search_fields = ["voter__username", "category", "judge_model"]
    list_select_related = ["voter", "battle"]
    readonly_fields = [f.name for f in Vote._meta.fields]
    actions = ["exclude_voters", "include_voters"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _set(self, request: HttpRequest, queryset: QuerySet[Vote], *, excluded: bool) -> None:
        voter_ids = set(queryset.values_list("voter_id", flat=True))
        changed = voters_excluded_set(voter_ids=voter_ids, excluded=excluded)
        verb = "excluded" if excluded else "included again"
        self.message_user(
            request,
            f"{changed} vote{'s' if changed != 1 else ''} of {len(voter_ids)} voter"
            f"{'s' if len(voter_ids) != 1 else ''} {verb}; the leaderboards are being recomputed.",
            messages.SUCCESS,
        )

    @admin.action(description="Exclude every vote of these votes' voters")
    def exclude_voters(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        self._set(request, queryset, excluded=True)

    @admin.action(description="Include these votes' voters again")
    def include_voters(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        self._set(request, queryset, excluded=False)


@admin.register(Leaderboard)
class LeaderboardAdmin(admin.ModelAdmin[Leaderboard]):
    list_display = ["key", "state", "votes_seen", "requested", "computed"]
    list_filter = ["state"]
    readonly_fields = [f.name for f in Leaderboard._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Leaderboard | None = None) -> bool:
        return False
