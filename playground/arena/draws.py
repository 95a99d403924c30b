"""Drawing a blind battle's models from a pool, and its rows, saved with the comparison's.

The draw uses the system's randomness (secrets.SystemRandom): which models meet, and in
which panel each sits, must not be guessable from earlier battles.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from playground.arena.blinding import BlindView
from playground.arena.models import Battle, BattleSide
from playground.models import Comparison

T = TypeVar("T")

_random = secrets.SystemRandom()


class DrawRefused(ValueError):
    """The pool or the battle size cannot make a battle; the message says why."""


def draw(pool: Sequence[T], size: int) -> list[T]:
    """`size` distinct members of `pool`, in a random order (the panel order)."""
    if len(pool) < 2:
        raise DrawRefused("A blind battle needs a pool of at least two models.")
    if not 2 <= size <= len(pool):
        raise DrawRefused(
            f"A battle of {size} models cannot be drawn from a pool of {len(pool)}: "
            f"pick a size from 2 to {len(pool)}."
        )
    return _random.sample(list(pool), size)


@dataclass(slots=True)
class BattleDraft:
    """A battle drawn for a new comparison, not saved yet: its sides are its panels, Model A
    in panel 0. `plan_save` writes it in the comparison's own transaction."""

    owner_id: int
    pool: list[str]
    model_names: list[str]  # by panel, Model A first
    show_timing: bool
    battle: Battle = field(init=False)

    def __post_init__(self) -> None:
        self.battle = Battle(owner_id=self.owner_id, pool=self.pool, show_timing=self.show_timing)

    @property
    def view(self) -> BlindView:
        letters = {position: chr(ord("A") + position) for position in range(len(self.model_names))}
        return BlindView(battle=self.battle, letters=letters, show_timing=self.show_timing)

    def save(self, *, comparison: Comparison) -> Battle:
        """Write the battle and its sides (inside the caller's transaction)."""
        self.battle.comparison = comparison
        self.battle.save()
        BattleSide.objects.bulk_create(
            BattleSide(battle=self.battle, position=position, model_name=name, panel=position)
            for position, name in enumerate(self.model_names)
        )
        return self.battle
