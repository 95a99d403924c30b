"""services.run_finish: the one UPDATE that saves a run's result."""

from __future__ import annotations

import pytest

from playground.models import Comparison, Run, Turn
from playground.services import RunOutcome, run_finish

pytestmark = pytest.mark.django_db


def make_run(user, **fields) -> Run:
    comparison = Comparison.objects.create(owner=user)
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="hi")
    defaults = {"model_name": "sim:alpha", "model_label": "Alpha", "provider_label": "Sim",
                "provider_kind": "openai"}  # fmt: skip
    return Run.objects.create(comparison=comparison, turn=turn, position=0, **defaults, **fields)


def test_a_live_run_takes_its_outcome(user):
    run = make_run(user, status=Run.Status.STREAMING)
    run_finish(run_id=run.pk, outcome=RunOutcome(status=Run.Status.DONE, text="all of it"))
    run.refresh_from_db()
    assert (run.status, run.text) == (Run.Status.DONE, "all of it")


def test_an_interrupted_run_whose_process_only_paused_takes_its_true_outcome(user):
    run = make_run(user, status=Run.Status.INTERRUPTED, text="part")
    run_finish(run_id=run.pk, outcome=RunOutcome(status=Run.Status.DONE, text="part and rest"))
    run.refresh_from_db()
    assert (run.status, run.text) == (Run.Status.DONE, "part and rest")


def test_a_run_swept_and_redone_elsewhere_keeps_its_row(user):
    """A suite worker paused past the stale threshold: its unit was redone by another worker
    (the old run superseded); when it wakes, its save must not make a second done run."""
    run = make_run(user, status=Run.Status.INTERRUPTED, text="part", superseded=True)
    run_finish(run_id=run.pk, outcome=RunOutcome(status=Run.Status.DONE, text="part and rest"))
    run.refresh_from_db()
    assert (run.status, run.text) == (Run.Status.INTERRUPTED, "part")
