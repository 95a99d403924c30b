"""Reads of blind battles for pages: the vote bar's categories, and a battle's outcome."""

from __future__ import annotations

from dataclasses import dataclass

from playground.arena.models import Battle, Vote

CATEGORY_SUGGESTIONS = 30


@dataclass(frozen=True, slots=True)
class BattleOutcome:
    """A revealed battle as its page says it: "You voted: A (openai:gpt-x)"."""

    battle_id: int
    verdict: str  # e.g. "A (openai:gpt-x)", "Tie", "Both bad"
    sides: tuple[tuple[str, str], ...]  # (letter, model name), Model A first
    category: str


def voter_categories(*, user_id: int) -> list[str]:
    """The categories this voter used before, newest first, each once."""
    seen: list[str] = []
    rows = (
        Vote.objects.filter(voter_id=user_id, board=Vote.Board.HUMAN)
        .exclude(category="")
        .order_by("-created", "-id")
        .values_list("category", flat=True)[:200]
    )
    for category in rows:
        if category not in seen:
            seen.append(category)
        if len(seen) >= CATEGORY_SUGGESTIONS:
            break
    return seen


def battle_outcome(*, comparison_id: int) -> BattleOutcome | None:
    """The vote of a compare-page battle once revealed; None otherwise."""
    battle = (
        Battle.objects.filter(comparison_id=comparison_id, revealed__isnull=False)
        .prefetch_related("sides")
        .first()
    )
    if battle is None:
        return None
    vote = (
        Vote.objects.filter(battle=battle, board=Vote.Board.HUMAN).select_related("winner").first()
    )
    sides = tuple((side.letter, side.model_name) for side in battle.sides.all())
    if vote is None:
        verdict = "no vote"
    elif vote.winner is not None:
        verdict = f"{vote.winner.letter} ({vote.winner.model_name})"
        if vote.choice == Vote.Choice.BEST:
            verdict += " is the best"
    else:
        verdict = "Tie" if vote.choice == Vote.Choice.TIE else "Both bad"
        if len(sides) > 2 and vote.choice == Vote.Choice.BOTH_BAD:
            verdict = "All bad"
    return BattleOutcome(
        battle_id=battle.pk,
        verdict=verdict,
        sides=sides,
        category=vote.category if vote else "",
    )
