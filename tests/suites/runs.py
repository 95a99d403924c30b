"""Suite runs finished through the real engine, in this process (as `manage.py suite run`
does in the foreground), for the tests of what the results page shows and exports."""

from __future__ import annotations

import json
from collections.abc import Sequence

from inference.simulator import Scenario, Simulator
from playground.suites import services
from playground.suites.models import SuiteRun
from playground.suites.parsing import parse_text
from playground.suites.services import ModelSpec
from playground.suites.tasks import run_in_process

CASES: list[dict[str, object]] = [
    {"prompt": "Say {{word}} for case one", "vars": {"word": "yes"}, "expect": {"contains": "yes"},
     "system": "You are terse about {{word}}."},
    {"prompt": "=1+1 is it {{word}}?", "vars": {"word": "yes"},
     "expect": {"contains": ["yes", "ok"], "max_output_tokens": 100}},
]  # fmt: skip


def jsonl(cases: Sequence[dict[str, object]]) -> str:
    return "\n".join(json.dumps(case) for case in cases)


def answers(sim: Simulator) -> None:
    """alpha passes with exact usage; beta is refused every time (no figures at all)."""
    sim.set(
        "alpha",
        Scenario(chunks=["alpha ", "says ", "yes ", "ok"], input_tokens=10, output_tokens=20),
    )
    sim.set("beta", Scenario(fault="server_error", fault_count=-1))


def create_run(
    user: object,
    *,
    models: Sequence[ModelSpec] = (ModelSpec("sim:alpha"), ModelSpec("sim:beta")),
    repeats: int = 2,
    cases: Sequence[dict[str, object]] = CASES,
    seed: int = 7,
    name: str = "two cases",
) -> SuiteRun:
    suite = services.suite_create(
        user=user,  # type: ignore[arg-type]
        name=name,
        cases=parse_text(jsonl(cases), filename="cases.jsonl"),
    )
    return services.suite_run_create(
        user=user,  # type: ignore[arg-type]
        suite=suite,
        models=models,
        repeats=repeats,
        seed=seed,
    )


def finish(suite_run: SuiteRun) -> SuiteRun:
    """Drive the run here until it is final (the real engine, streaming from the simulator)."""
    for _ in range(20):
        outcome, _signals = run_in_process(suite_run.pk)
        if outcome == "final":
            break
    suite_run.refresh_from_db()
    assert suite_run.is_final, suite_run.status
    return suite_run
