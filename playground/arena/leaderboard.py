"""Leaderboards: the filters that name one, marking them stale when votes change, and the
selector pages use. A page never fits: it reads the stored row, and a missing or stale row
is (re)computed by the background task on queue "arena" (playground.arena.tasks)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from playground.arena.models import Leaderboard

BOARDS = ("human", "judge")


@dataclass(frozen=True)
class BoardFilters:
    """Which votes one leaderboard counts: its board (human or judge), and optionally one
    voter, one category, a date range (inclusive, in the site's time zone) and a set of
    models (the pairs between two of them). `style_control` picks which of the row's two
    fits is shown: it is not part of the key (one row holds the plain and styled fits)."""

    board: str = "human"
    style_control: bool = False
    user_id: int | None = None
    category: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    models: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.board not in BOARDS:
            raise ValueError(f"unknown board {self.board!r}: choose human or judge")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("the start date is after the end date")
        # One key for one set, whatever order the models were given in.
        object.__setattr__(self, "models", tuple(sorted(set(self.models))))
        object.__setattr__(self, "category", self.category.strip())

    def as_json(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "style_control": self.style_control,
            "user_id": self.user_id,
            "category": self.category,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "models": list(self.models),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BoardFilters:
        def date(value: Any) -> dt.date | None:
            return dt.date.fromisoformat(value) if value else None

        return cls(
            board=data.get("board", "human"),
            style_control=bool(data.get("style_control", False)),
            user_id=data.get("user_id"),
            category=data.get("category", ""),
            date_from=date(data.get("date_from")),
            date_to=date(data.get("date_to")),
            models=tuple(data.get("models", ())),
        )

    def selection(self) -> dict[str, Any]:
        """The filters that select votes (all but `style_control`): what a row stores."""
        data = self.as_json()
        del data["style_control"]
        return data

    @property
    def key(self) -> str:
        canonical = json.dumps(self.selection(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def replace(self, **changes: Any) -> BoardFilters:
        return BoardFilters.from_json({**self.as_json(), **_json_values(changes)})


def _json_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


# Boards looked at within this long are refitted when votes arrive; older ones wait until
# a page reads them again (leaderboard_for then queues their compute).
KEPT_FRESH_FOR = dt.timedelta(days=7)
VIEWED_RESOLUTION = dt.timedelta(hours=1)


def recompute_queued() -> bool:
    """Whether a recompute task is queued and not yet started (a new one would be redundant:
    it will read every row marked stale before now)."""
    from django_tasks_db.models import DBTaskResult

    from playground.arena.tasks import recompute_leaderboards

    return (
        DBTaskResult.objects.filter(
            task_path=recompute_leaderboards.module_path, queue_name="arena", status="READY"
        )
        .only("id")
        .exists()
    )


def enqueue_recompute() -> None:
    from playground.arena.tasks import recompute_leaderboards

    if not recompute_queued():
        recompute_leaderboards.enqueue()


def _mark_stale_and_enqueue(keys: Iterable[str] | None = None) -> None:
    rows = Leaderboard.objects.all()
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    # `requested` changes with every mark: a compute that read the row before it does not
    # store its (older) result as ready (see tasks.store_result).
    marked = rows.update(state=Leaderboard.State.QUEUED, requested=timezone.now())
    if marked:
        enqueue_recompute()


def votes_changed() -> None:
    """Votes were cast, excluded or included again: every stored leaderboard is stale.
    Marks them all and queues one recompute on queue "arena" (none if one is already waiting).
    Inside a transaction it happens once that commits."""
    transaction.on_commit(_mark_stale_and_enqueue)


def leaderboard_for(filters: BoardFilters) -> Leaderboard:
    """The stored leaderboard for `filters`, as it is: a new one is created queued (and a
    compute enqueued); a stale one is returned with its previous result. Never fits."""
    now = timezone.now()
    row = Leaderboard.objects.filter(key=filters.key).first()
    if row is None:
        try:
            with transaction.atomic():
                row = Leaderboard.objects.create(
                    key=filters.key, filters=filters.selection(), viewed=now
                )
        except IntegrityError:  # created by a concurrent request
            return Leaderboard.objects.get(key=filters.key)
        transaction.on_commit(enqueue_recompute)
        return row
    if row.viewed is None or row.viewed < now - VIEWED_RESOLUTION:
        # Not a write per page view: once an hour is enough to know it is looked at.
        Leaderboard.objects.filter(pk=row.pk).update(viewed=now)
        row.viewed = now
    if row.state == Leaderboard.State.QUEUED:
        # A worker may have died with it; queuing again is harmless (a compute is idempotent).
        transaction.on_commit(enqueue_recompute)
    return row


def voters_excluded_set(*, voter_ids: Iterable[int], excluded: bool) -> int:
    """Exclude every vote of these voters from every leaderboard (or include them again);
    returns how many votes changed. The boards are then recomputed."""
    from playground.arena.models import Vote

    with transaction.atomic():
        changed = (
            Vote.objects.filter(voter_id__in=list(voter_ids))
            .exclude(excluded=excluded)
            .update(excluded=excluded)
        )
        if changed:
            votes_changed()
    return changed
