"""The suites' knobs: settings.SUITES overrides the defaults, the environment overrides both."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from django.conf import settings


@dataclass(frozen=True, slots=True)
class SuiteSettings:
    concurrency: int = 4  # units streaming at once per suite run (a run may ask for less or more)
    max_concurrency: int = 32
    provider_concurrency: int = 4  # units streaming at once per provider per suite run
    max_repeats: int = 20
    max_cases: int = 1000
    max_units: int = 5000
    poll_seconds: float = 1.0  # how often a driver looks for cancellation and free slots
    recheck_seconds: float = 15.0  # a successor driver task runs this long after each start
    requests_per_day: int = 10_000  # the default volume for cost at volume


_ENVIRONMENT = {
    "poll_seconds": "PLAYGROUND_SUITE_POLL_SECONDS",
    "recheck_seconds": "PLAYGROUND_SUITE_RECHECK_SECONDS",
    "concurrency": "PLAYGROUND_SUITE_CONCURRENCY",
    "provider_concurrency": "PLAYGROUND_SUITE_PROVIDER_CONCURRENCY",
}


def suite_settings() -> SuiteSettings:
    overrides: dict[str, Any] = dict(getattr(settings, "SUITES", {}))
    for name, variable in _ENVIRONMENT.items():
        raw = os.environ.get(variable)
        if raw:
            kind = int if name.endswith("concurrency") else float
            try:
                overrides[name] = kind(raw)
            except ValueError:
                raise ValueError(f"{variable} must be a number") from None
    unknown = set(overrides) - {f.name for f in fields(SuiteSettings)}
    if unknown:
        raise ValueError(f"Unknown SUITES settings: {', '.join(sorted(unknown))}")
    return replace(SuiteSettings(), **overrides)
