"""The LLM judge: `manage.py arena_judge` asks a catalogue model (the simulator) through
the playground's own streaming path, both position orders, and writes judge-board votes
that never reach the human board or reveal the battles."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from inference.simulator import Scenario
from playground.arena.board_selectors import board_view
from playground.arena.judge import battle_choice, judgments, parse_verdict
from playground.arena.leaderboard import BoardFilters, leaderboard_for
from playground.arena.models import Battle, Vote
from playground.arena.suite_battles import suite_battles_draw_all
from playground.arena.tasks import recompute_stale
from playground.models import Comparison, Run
from tests.arena.board_votes import finished_suite_run
from tests.helpers import create_sim_providers

MODELS = ["x:one", "x:two"]
CASES = [{"prompt": "Capital of France?"}, {"prompt": "Two plus two?"}]


def test_verdicts_and_the_order_they_map_to():
    assert parse_verdict("A is better... Final: [[A]]") == "first"
    assert parse_verdict("Not [[A]] after all: [[B]]") == "second"
    assert parse_verdict("[[C]]") == "tie"
    assert parse_verdict("I cannot decide.") is None
    assert battle_choice("first", swapped=False) == "a"
    assert battle_choice("first", swapped=True) == "b"
    assert battle_choice("second", swapped=True) == "a"
    assert battle_choice("tie", swapped=True) == "tie"


@pytest.mark.django_db
def test_both_orders_show_the_answers_swapped():
    user = get_user_model().objects.create_user("ada", password="pw-ada-123456")
    suite_run = finished_suite_run(user, MODELS, CASES[:1])
    battles = suite_battles_draw_all(user=user, suite_run_id=suite_run.pk)
    straight, swapped = judgments(battles, judge_model="sim:alpha")
    sides = list(battles[0].sides.order_by("position").select_related("run"))
    texts = [side.run.text for side in sides if side.run]
    assert not straight.swapped and swapped.swapped
    for judgment, (first, second) in ((straight, texts), (swapped, texts[::-1])):
        assert judgment.prompt.index(first) < judgment.prompt.index(second)
        assert "Capital of France?" in judgment.prompt
    assert "x:one" not in straight.prompt and "x:two" not in swapped.prompt


@pytest.mark.django_db(transaction=True)
def test_the_judge_command_votes_both_orders_on_the_judge_board_only(sim, settings, client):
    settings.PLAYGROUND_ARENA_BOOTSTRAP_ROUNDS = 20
    user = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    create_sim_providers(sim)
    # A judge with a position bias: it always prefers the first answer it is shown.
    sim.set("alpha", Scenario(text="The first is more precise. [[A]]"))
    suite_run = finished_suite_run(user, MODELS, CASES)
    before = Comparison.objects.count()
    out = StringIO()
    call_command("arena_judge", str(suite_run.pk), "--judge", "sim:alpha", stdout=out)
    assert "4 judge votes saved" in out.getvalue()

    votes = Vote.objects.filter(board="judge")
    assert votes.count() == 4 and not Vote.objects.filter(board="human").exists()
    for battle in Battle.objects.filter(suite_run=suite_run):
        choices = {v.swapped: v.choice for v in votes.filter(battle=battle)}
        assert choices == {False: "a", True: "b"}  # the bias cancels out
        assert battle.revealed is None  # the owner's blind vote is still to come
    assert set(votes.values_list("judge_model", flat=True)) == {"sim:alpha"}
    assert all(len(v.styles) == 2 for v in votes)
    # Each judgment is an ordinary saved comparison with its run, metrics and cost.
    assert Comparison.objects.count() == before + 4
    judged = Run.objects.filter(model_name="sim:alpha", status="done")
    assert judged.count() == 4 and all(run.cost is not None for run in judged)

    # The owner's votes page lists the judge's votes without naming the blind battles' models.
    client.force_login(user)
    listed = client.get("/arena/votes/").content.decode()
    assert listed.count("hidden until you vote on it") == 4 and "x:one" not in listed

    # Again: nothing left to judge, nothing asked.
    call_command("arena_judge", str(suite_run.pk), "--judge", "sim:alpha", stdout=StringIO())
    assert Vote.objects.filter(board="judge").count() == 4
    assert Comparison.objects.count() == before + 4

    leaderboard_for(BoardFilters())
    leaderboard_for(BoardFilters(board="judge"))
    recompute_stale()
    human = board_view(leaderboard_for(BoardFilters()), style_control=False)
    judge = board_view(leaderboard_for(BoardFilters(board="judge")), style_control=False)
    assert human.battles == 0
    assert judge.battles == 4 and {m for m, _ in judge.unranked} == set(MODELS)


@pytest.mark.django_db(transaction=True)
def test_the_judge_command_refuses_what_it_cannot_judge(sim):
    user = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    create_sim_providers(sim)
    running = finished_suite_run(user, MODELS, CASES, status="running")
    with pytest.raises(CommandError, match="once it has finished"):
        call_command("arena_judge", str(running.pk), "--judge", "sim:alpha")
    done = finished_suite_run(user, MODELS, CASES, name="done")
    with pytest.raises(CommandError, match="Unknown model: nowhere:nothing"):
        call_command("arena_judge", str(done.pk), "--judge", "nowhere:nothing")
    assert not Vote.objects.exists() and not Battle.objects.exists()
