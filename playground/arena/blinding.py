"""What a viewer may see of a comparison that is a blind battle not yet voted on.

One place decides. Every renderer (the websocket's frames, the comparison page, history,
exports, summaries) shows a comparison's runs through `shown_runs` with the comparison's
`BlindView`, which is None for an ordinary comparison and for a battle that has its vote.
Before the vote a run is "Model A": no model, provider, badge, price, cost, tokens, speed,
reasoning, note or error text (errors name the provider), and its timing only if the battle
shows timing (`Battle.show_timing`, from PLAYGROUND_ARENA_SHOW_TIMING).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from playground.arena.models import Battle, BattleSide
from playground.models import Run

FAILED = "This model failed."
UNAVAILABLE = (
    "A model of this blind battle cannot run now (which one stays hidden until the vote): "
    "vote on what there is, or start a new battle."
)
SPEND_REFUSED = (
    "Daily spending limit reached: this blind battle could pass what is left of your limit "
    "for today."
)
# The live states a blind panel may show; the others (queued, loading a model, thinking,
# retrying) say something of the host or the model, and are shown as "waiting".
SHOWN_STATES = frozenset({"waiting", "streaming", *Run.FINAL_STATUSES})


@dataclass(frozen=True, slots=True)
class BlindView:
    """An unrevealed battle as its viewers see it: panels by letter, timing if it allows.

    `battle` may be unsaved while its start is prepared; its id is set when the rows are.
    """

    battle: Battle
    letters: Mapping[int, str]  # panel position -> "A", "B", ...
    show_timing: bool

    @property
    def battle_id(self) -> int:
        return int(self.battle.pk)

    @property
    def size(self) -> int:
        return len(self.letters)

    def label(self, position: int) -> str:
        return f"Model {self.letters.get(position, '?')}"

    def sides(self) -> list[tuple[int, str]]:
        """(panel position, letter), Model A first."""
        return sorted(self.letters.items(), key=lambda item: item[1])


def view_of(battle: Battle, sides: Iterable[BattleSide]) -> BlindView:
    letters = {
        side.panel if side.panel is not None else side.position: side.letter for side in sides
    }
    return BlindView(battle=battle, letters=letters, show_timing=battle.show_timing)


def blind_view(*, comparison_id: int | None) -> BlindView | None:
    """The comparison's blind view while it is a battle without its vote, else None."""
    if comparison_id is None:
        return None
    battle = Battle.objects.filter(comparison_id=comparison_id, revealed__isnull=True).first()
    if battle is None:
        return None
    return view_of(battle, BattleSide.objects.filter(battle=battle).order_by("position"))


def is_unrevealed_battle(*, comparison_id: int) -> bool:
    return Battle.objects.filter(comparison_id=comparison_id, revealed__isnull=True).exists()


def unrevealed_battle() -> Exists:
    """For annotating comparisons: it is a battle still waiting for its vote."""
    return Exists(Battle.objects.filter(comparison=OuterRef("pk"), revealed__isnull=True))


def shown_run(run: Run, view: BlindView | None) -> Run:
    """The run as a viewer may see it: itself, or before the vote an anonymous copy.

    The copy is a new, unsaved Run holding only what reveals nothing (never save it).
    """
    if view is None:
        return run
    timing = view.show_timing
    shown = Run(
        id=run.pk,
        comparison_id=run.comparison_id,
        turn_id=run.turn_id,
        position=run.position,
        attempt=run.attempt,
        superseded=run.superseded,
        model_name="",
        model_label=view.label(run.position),
        provider_label="",
        provider_kind="",
        temperature=run.temperature,
        max_tokens=run.max_tokens,
        status=run.status,
        text=run.text,
        error=FAILED if run.error or run.status == Run.Status.ERROR else "",
        finish_reason=run.finish_reason,
        ttft_ms=run.ttft_ms if timing else None,
        total_ms=run.total_ms if timing else None,
        prices={},
        cost_source=Run.CostSource.UNKNOWN,
        timeline=[],
        created=run.created,
    )
    if Run.turn.is_cached(run):
        shown.turn = run.turn
    return shown


def shown_runs(runs: Iterable[Run], view: BlindView | None) -> list[Run]:
    return [shown_run(run, view) for run in runs]


def shown_state(label: str) -> str:
    """A live panel's state as a blind panel shows it."""
    return label if label in SHOWN_STATES else "waiting"


def refusal_text(message: str) -> str:
    """A limit's refusal as a blind battle may say it: the spending one names what the drawn
    models could cost, which tells them apart, so it is said without the figures."""
    return SPEND_REFUSED if message.startswith("Daily spending limit") else message
