"""The arena's knobs: a Django setting of the same name overrides the default, and the
environment overrides both."""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class ArenaSettings:
    min_votes: int = 10  # battles a model needs before it is ranked
    bootstrap_rounds: int = 200  # refits behind each 95% interval


_NAMES = {
    "min_votes": "PLAYGROUND_ARENA_MIN_VOTES",
    "bootstrap_rounds": "PLAYGROUND_ARENA_BOOTSTRAP_ROUNDS",
}


def arena_settings() -> ArenaSettings:
    values: dict[str, int] = {}
    for name, variable in _NAMES.items():
        raw = os.environ.get(variable) or getattr(settings, variable, None)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{variable} must be a whole number, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{variable} must be 0 or more, got {value}")
        values[name] = value
    return ArenaSettings(**values)
