"""Votes on compare-page battles: one per battle, by its voter, once every answer is final;
the sides' models and style features stored; a follow-up before the vote is judged too."""

from __future__ import annotations

import pytest
from django.test import Client

from playground import services
from playground.arena.models import Battle, Leaderboard, Vote
from playground.arena.services import VoteRefused, vote_cast
from playground.arena.style import style_features
from playground.models import Run
from tests.arena.blind import current_runs, finish, start_battle

POOL = ["sim:alpha", "sim:beta", "sima:claude-sim"]
STYLED = "# Title\n\n- one\n- two\n\n**bold** and __more__\n\n```sh\n# not a header\n```"


@pytest.fixture
def battle(user, sim_models) -> Battle:
    return start_battle(user, POOL[:2])


def test_vote_stores_models_styles_winner_and_reveals(
    user, battle, django_capture_on_commit_callbacks
) -> None:
    finish(current_runs(battle), ["plain answer", STYLED])
    stale = Leaderboard.objects.create(key="k" * 64, state=Leaderboard.State.READY)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        vote = vote_cast(user=user, battle_id=battle.pk, choice="b", category="  writing  ")
    assert callbacks, "votes_changed runs after the commit"
    stale.refresh_from_db()
    assert stale.state == Leaderboard.State.QUEUED  # the boards know a vote came
    battle.refresh_from_db()
    assert battle.revealed is not None
    sides = list(battle.sides.order_by("position"))
    assert vote.voter_id == user.pk and vote.board == Vote.Board.HUMAN
    assert vote.choice == "b" and vote.winner == sides[1] and vote.category == "writing"
    assert vote.models_by_position == [side.model_name for side in sides]
    assert vote.styles == [
        style_features("plain answer").as_dict(),
        style_features(STYLED).as_dict(),
    ]
    assert vote.styles[1]["headers"] == 1 and vote.styles[1]["lists"] == 2
    assert vote.styles[1]["bold"] == 2


def test_one_vote_per_battle(user, battle) -> None:
    finish(current_runs(battle))
    vote_cast(user=user, battle_id=battle.pk, choice="tie")
    with pytest.raises(VoteRefused, match="already has its vote"):
        vote_cast(user=user, battle_id=battle.pk, choice="a")
    assert Vote.objects.count() == 1 and Vote.objects.get().winner is None


def test_refused_before_every_answer_is_final(user, battle) -> None:
    with pytest.raises(VoteRefused, match="Wait for every answer to finish"):
        vote_cast(user=user, battle_id=battle.pk, choice="a")
    first, _ = current_runs(battle)
    finish([first])
    with pytest.raises(VoteRefused, match="Wait for every answer to finish"):
        vote_cast(user=user, battle_id=battle.pk, choice="a")
    battle.refresh_from_db()
    assert Vote.objects.count() == 0 and battle.revealed is None


def test_refused_for_another_user(user, other_user, battle) -> None:
    finish(current_runs(battle))
    with pytest.raises(VoteRefused, match="Only the person this battle was shown to"):
        vote_cast(user=other_user, battle_id=battle.pk, choice="a")
    with pytest.raises(VoteRefused, match="No such battle"):
        vote_cast(user=user, battle_id=battle.pk + 100, choice="a")
    assert Vote.objects.count() == 0


@pytest.mark.parametrize(
    ("choice", "winner", "message"),
    [
        ("maybe", None, "Unknown vote"),
        ("", None, "Unknown vote"),
        ("best", 2, "Pick the best of the 2 models"),
        ("best", None, "Pick the best of the 2 models"),
        ("tie", 0, "A tie or an all-bad vote has no winner"),
        ("a", 1, "names one model as better and another as the winner"),
    ],
)
def test_bad_choices_are_refused(user, battle, choice, winner, message) -> None:
    finish(current_runs(battle))
    with pytest.raises(VoteRefused, match=message):
        vote_cast(user=user, battle_id=battle.pk, choice=choice, winner_position=winner)
    with pytest.raises(VoteRefused, match="at most 50 characters"):
        vote_cast(user=user, battle_id=battle.pk, choice="a", category="x" * 51)
    assert Vote.objects.count() == 0


def test_best_of_n(user, sim_models) -> None:
    battle = start_battle(user, POOL, size=3)
    finish(current_runs(battle))
    with pytest.raises(VoteRefused, match="This battle has 3 models: pick the best one"):
        vote_cast(user=user, battle_id=battle.pk, choice="a")
    vote = vote_cast(user=user, battle_id=battle.pk, choice="best", winner_position=2)
    assert vote.winner is not None and vote.winner.letter == "C"
    assert len(vote.models_by_position) == 3 and len(vote.styles) == 3


def test_best_of_two_is_stored_as_a_or_b(user, battle) -> None:
    finish(current_runs(battle))
    vote = vote_cast(user=user, battle_id=battle.pk, choice="best", winner_position=0)
    assert vote.choice == "a" and vote.winner is not None and vote.winner.position == 0


def test_follow_up_before_the_vote_stays_blind_and_is_judged(user, battle) -> None:
    finish(current_runs(battle), ["first A", "first B"])
    plan = services.followup_prepare(
        user=user, comparison_id=battle.comparison_id, prompt="And now shorter?"
    )
    assert plan.blind is not None and all(start.blind for start in plan.starts)
    services.plan_save(plan=plan)
    with pytest.raises(VoteRefused, match="Wait for every answer"):
        vote_cast(user=user, battle_id=battle.pk, choice="a")
    finish(plan, ["second A", "**second** B"])
    # A retry before the vote is blind as well.
    retried = services.retry_prepare(user=user, run_id=plan.starts[0].run.pk)
    assert retried.blind is not None and retried.starts[0].blind
    vote = vote_cast(user=user, battle_id=battle.pk, choice="a")
    assert vote.styles == [
        style_features("first A\n\nsecond A").as_dict(),
        style_features("first B\n\n**second** B").as_dict(),
    ]
    # Once revealed, a follow-up is an ordinary one.
    after = services.followup_prepare(user=user, comparison_id=battle.comparison_id, prompt="x")
    assert after.blind is None and not any(start.blind for start in after.starts)


def test_vote_through_the_page(user, other_user, battle) -> None:
    client = Client()
    client.force_login(user)
    url = f"/arena/battles/{battle.pk}/vote/"
    early = client.post(url, {"pick": "a"})
    assert early.status_code == 400
    assert "Wait for every answer to finish" in early.content.decode()
    finish(current_runs(battle))
    page = client.get(f"/c/{battle.comparison_id}/").content.decode()
    assert 'id="vote-form"' in page and 'value="both_bad"' in page
    assert client.post(url, {"pick": "nonsense"}).status_code == 400
    intruder = Client()
    intruder.force_login(other_user)
    assert intruder.post(url, {"pick": "a"}).status_code == 404
    assert Vote.objects.count() == 0

    done = client.post(url, {"pick": "b", "category": "poetry"})
    assert done.status_code == 302 and done["Location"].startswith(f"/c/{battle.comparison_id}/")
    revealed = client.get(done["Location"]).content.decode()
    b_side = battle.sides.get(position=1)
    assert f"You voted: B ({b_side.model_name})" in revealed
    assert 'id="vote-form"' not in revealed
    runs = {run.position: run for run in Run.objects.filter(comparison=battle.comparison)}
    assert runs[1].model_label in revealed and 'class="badge"' in revealed
    # The voter's categories are offered next time.
    assert '<option value="poetry">' in client.get("/").content.decode()
    again = client.post(url, {"pick": "a"})
    assert again.status_code == 400 and "already has its vote" in again.content.decode()
