"""Suites judged blind: battles drawn from a finished suite run's done cells, a blind page
that names no model, a vote through services.vote_cast that reveals them and feeds the
human leaderboard."""

from __future__ import annotations

import random
from typing import Any

import pytest

from playground.arena import services
from playground.arena.board_selectors import board_view
from playground.arena.leaderboard import BoardFilters, leaderboard_for
from playground.arena.models import Battle, Vote
from playground.arena.suite_battles import SuiteBattleRefused, suite_battle_next
from playground.arena.tasks import recompute_stale
from playground.suites.models import SuiteUnit
from tests.arena.board_votes import finished_suite_run

MODELS = ["sim:secret-alpha", "sim:secret-beta", "sim:secret-gamma"]
CASES: list[dict[str, Any]] = [
    {"prompt": "Capital of France?", "vars": {"category": "geography"}},
    {"prompt": "Two plus two?"},
]


def test_battles_are_drawn_once_per_case_and_pair_from_done_cells(ada):
    suite_run = finished_suite_run(ada, MODELS, CASES, repeats=2, failed={(0, "sim:secret-gamma")})
    rng = random.Random(7)
    seen = set()
    while (battle := suite_battle_next(user=ada, suite_run_id=suite_run.pk, rng=rng)) is not None:
        # The same battle comes back until it is voted.
        assert suite_battle_next(user=ada, suite_run_id=suite_run.pk, rng=rng) == battle
        sides = list(battle.sides.select_related("run"))
        assert [s.position for s in sides] == [0, 1]
        names = {s.model_name for s in sides}
        assert len(names) == 2
        for side in sides:
            unit = SuiteUnit.objects.get(run=side.run)
            assert unit.case_id == battle.case_id and unit.model_name == side.model_name
            assert side.run is not None and side.run.status == "done"
        assert battle.case is not None
        key = (battle.case.index, frozenset(names))
        assert key not in seen
        seen.add(key)
        services.vote_cast(user=ada, battle_id=battle.pk, choice="tie")
    # Case 0 lost gamma's cells: 1 pair there, 3 on case 1.
    assert len(seen) == 4
    assert {key for key in seen if key[0] == 0} == {(0, frozenset(MODELS[:2]))}
    assert Battle.objects.filter(suite_run=suite_run).count() == 4


def test_only_the_owner_of_a_finished_suite_run_can_judge_it(ada, bob, client):
    running = finished_suite_run(ada, MODELS, CASES, status="running", name="running")
    done = finished_suite_run(ada, MODELS, CASES, name="done")
    with pytest.raises(SuiteBattleRefused, match="once it has finished"):
        suite_battle_next(user=ada, suite_run_id=running.pk)
    with pytest.raises(SuiteBattleRefused, match="No such suite run"):
        suite_battle_next(user=bob, suite_run_id=done.pk)
    client.force_login(bob)
    assert client.get(f"/arena/suite-runs/{done.pk}/judge/").status_code == 404
    client.force_login(ada)
    assert client.get(f"/arena/suite-runs/{running.pk}/judge/").status_code == 404
    assert not Battle.objects.exists()


def test_the_blind_page_names_no_model_and_the_vote_reveals_them_and_feeds_the_board(
    ada, client, django_capture_on_commit_callbacks
):
    suite_run = finished_suite_run(ada, MODELS[:2], CASES[:1])
    client.force_login(ada)
    response = client.get(f"/arena/suite-runs/{suite_run.pk}/judge/")
    assert response.status_code == 302
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Model A" in html and "Model B" in html
    assert "<strong>Answer</strong> number" in html  # the answers, as rendered Markdown
    assert "secret" not in html  # no model name, not even in an attribute
    assert "ms<" not in html and "$" not in html  # no metrics
    assert 'value="geography"' in html  # the case's category by default

    battle = Battle.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
        voted = client.post(
            f"/arena/suite-runs/{suite_run.pk}/judge/{battle.pk}/vote/",
            {"choice": "a", "category": ""},
        )
    assert voted.status_code == 302
    vote = Vote.objects.get()
    assert vote.category == "geography" and vote.board == "human" and vote.choice == "a"
    reveal = client.get(voted["Location"]).content.decode()
    shown_a = battle.sides.get(position=0).model_name
    assert f'Model A: <span class="revealed-model">{shown_a}</span>' in reveal
    assert "Next" in reveal
    # A second vote on it is refused with a message, and stays one vote.
    again = client.post(
        f"/arena/suite-runs/{suite_run.pk}/judge/{battle.pk}/vote/", {"choice": "b"}, follow=True
    )
    assert "already has its vote" in again.content.decode()
    assert Vote.objects.count() == 1
    # Every pair judged: the judge page says so.
    done = client.get(f"/arena/suite-runs/{suite_run.pk}/judge/").content.decode()
    assert "Every pair of models has been judged" in done

    recompute_stale()
    board = board_view(leaderboard_for(BoardFilters()), style_control=True)
    assert board.battles == 1 and {m for m, _ in board.unranked} == set(MODELS[:2])


def test_the_category_falls_back_to_the_suite_name(ada, client):
    suite_run = finished_suite_run(ada, MODELS[:2], CASES[1:], name="arith")
    client.force_login(ada)
    page = client.get(f"/arena/suite-runs/{suite_run.pk}/judge/", follow=True).content.decode()
    assert 'value="arith"' in page
    battle = Battle.objects.get()
    client.post(f"/arena/suite-runs/{suite_run.pk}/judge/{battle.pk}/vote/", {"choice": "tie"})
    assert Vote.objects.get().category == "arith"
