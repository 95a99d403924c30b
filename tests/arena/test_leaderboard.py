"""Leaderboards: votes become pairwise battles, boards are fitted in the background (the
task function directly, and once through a real db_worker on queue "arena"), a page only
reads them, filters pick the right votes, and excluded and judge votes stay off."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django_tasks_db.models import DBTaskResult

from playground.arena import services
from playground.arena.board_selectors import board_view
from playground.arena.leaderboard import (
    KEPT_FRESH_FOR,
    BoardFilters,
    leaderboard_for,
    voters_excluded_set,
    votes_changed,
)
from playground.arena.models import Leaderboard
from playground.arena.tasks import battles_for, recompute, recompute_leaderboards, recompute_stale
from tests.arena.board_votes import PLAIN, compare_battle, vote, wins
from tests.servers import OUTPUT, ROOT, database_url, wait_until


def queued_tasks() -> int:
    return DBTaskResult.objects.filter(
        task_path=recompute_leaderboards.module_path, queue_name="arena", status="READY"
    ).count()


def three_models(voter) -> None:
    """alpha beats beta 8 times and gamma 6; beta beats gamma 6 times; delta plays 3."""
    wins(voter, "alpha", "beta", 8)
    wins(voter, "alpha", "gamma", 6)
    wins(voter, "beta", "gamma", 6)
    wins(voter, "delta", "gamma", 3)


def test_a_page_request_never_fits_it_returns_the_queued_board(
    ada, client, django_capture_on_commit_callbacks
):
    three_models(ada)
    client.force_login(ada)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get("/arena/leaderboard/")
    assert page.status_code == 200
    assert "Computing…" in page.content.decode()
    assert 'hx-trigger="every 2s"' in page.content.decode()
    row = Leaderboard.objects.get()
    assert row.state == Leaderboard.State.QUEUED
    assert row.result == {} and row.computed is None
    assert queued_tasks() == 1
    # Polling again (the fragment) reads the same row and queues nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        fragment = client.get("/arena/leaderboard/board/")
    assert "Computing…" in fragment.content.decode()
    assert Leaderboard.objects.get().result == {}
    assert queued_tasks() == 1


def test_the_task_fits_every_stale_board_and_the_page_shows_it(
    ada, client, django_capture_on_commit_callbacks
):
    three_models(ada)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
        leaderboard_for(BoardFilters(board="judge"))
    assert recompute_stale() == 2
    row = Leaderboard.objects.get(key=BoardFilters().key)
    assert row.state == Leaderboard.State.READY and row.votes_seen > 0
    board = board_view(row, style_control=False)
    assert [r.model for r in board.ratings] == ["alpha", "beta", "gamma"]
    alpha = board.ratings[0]
    assert (alpha.battles, alpha.wins, alpha.losses, alpha.ties) == (14, 14, 0, 0)
    assert alpha.lower <= alpha.score <= alpha.upper
    assert board.unranked == [("delta", 3)]
    assert board.win_rates[("alpha", "beta")] == 1.0
    assert board.win_rates[("gamma", "beta")] == 0.0
    assert board.votes == 23 and board.battles == 23
    # Ready: the page shows the table, the unranked model and the heatmap, and no poll.
    client.force_login(ada)
    html = client.get("/arena/leaderboard/").content.decode()
    assert "Computing…" not in html and "hx-trigger" not in html
    assert 'id="model-alpha"' in html and '<svg class="interval-bar"' in html
    assert "delta: 3 battles" in html and "A model is ranked after 10 battles." in html
    assert 'class="heat-10"' in html and 'class="heat-0"' in html
    assert not recompute_stale()  # nothing stale: nothing refitted


def test_votes_changed_marks_every_board_stale_and_queues_one_task(
    ada, django_capture_on_commit_callbacks
):
    three_models(ada)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
        leaderboard_for(BoardFilters(category="code"))
    recompute_stale()
    DBTaskResult.objects.all().delete()
    assert set(Leaderboard.objects.values_list("state", flat=True)) == {"ready"}
    with django_capture_on_commit_callbacks(execute=True):
        votes_changed()
        votes_changed()
    assert set(Leaderboard.objects.values_list("state", flat=True)) == {"queued"}
    assert queued_tasks() == 1
    # The stale board keeps its previous result for the page meanwhile.
    row = Leaderboard.objects.get(key=BoardFilters().key)
    stale = board_view(row, style_control=False)
    assert not stale.ready and stale.has_result and stale.ratings


def test_a_board_nobody_looked_at_for_a_week_waits_until_somebody_does(
    ada, django_capture_on_commit_callbacks
):
    """Each vote refits the boards pages read lately, not every filter set ever asked for."""
    three_models(ada)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
        leaderboard_for(BoardFilters(category="code"))
    assert recompute_stale() == 2
    old = Leaderboard.objects.get(key=BoardFilters(category="code").key)
    assert old.viewed is not None  # a page read it
    Leaderboard.objects.filter(pk=old.pk).update(
        viewed=old.viewed - KEPT_FRESH_FOR - dt.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        votes_changed()
    assert recompute_stale() == 1  # the instance's board only
    old.refresh_from_db()
    assert old.state == Leaderboard.State.QUEUED
    # Somebody opens it again: it shows its previous result and is refitted next.
    with django_capture_on_commit_callbacks(execute=True):
        shown = leaderboard_for(BoardFilters(category="code"))
    assert shown.state == Leaderboard.State.QUEUED and shown.result
    assert recompute_stale() == 1
    old.refresh_from_db()
    assert old.state == Leaderboard.State.READY


def test_a_compute_that_a_new_vote_overtook_stores_nothing(ada, django_capture_on_commit_callbacks):
    wins(ada, "alpha", "beta", 10)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
    read_before = Leaderboard.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        wins(ada, "beta", "alpha", 1)
        votes_changed()
    assert recompute(read_before) is False
    assert Leaderboard.objects.get().state == Leaderboard.State.QUEUED
    assert recompute_stale() == 1
    row = Leaderboard.objects.get()
    assert row.state == Leaderboard.State.READY
    assert board_view(row, style_control=False).battles == 11


def test_filters_select_the_right_votes(ada, bob):
    january = dt.datetime(2024, 1, 5, 12, tzinfo=dt.UTC)
    wins(ada, "alpha", "beta", 3, category="code")
    wins(bob, "beta", "gamma", 2, category="math")
    vote(bob, ["gamma", "alpha"], "tie", category="math", created=january)
    newest = 10**9

    def count(**filters) -> int:
        return len(battles_for(BoardFilters(**filters), up_to=newest)[0])

    assert count() == 6
    assert count(user_id=ada.pk) == 3
    assert count(user_id=bob.pk) == 3
    assert count(category="math") == 3
    assert count(category="code", user_id=bob.pk) == 0
    assert count(date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 1, 31)) == 1
    assert count(date_from=dt.date(2024, 2, 1)) == 5
    assert count(models=("alpha", "beta")) == 3
    assert count(models=("gamma", "alpha")) == 1
    assert count(models=("alpha",)) == 0
    # The key names the set, not its order; style control is not part of it.
    assert BoardFilters(models=("b", "a")).key == BoardFilters(models=("a", "b")).key
    assert BoardFilters(style_control=True).key == BoardFilters().key
    assert BoardFilters(user_id=ada.pk).key != BoardFilters().key
    with pytest.raises(ValueError, match="start date is after"):
        BoardFilters(date_from=dt.date(2024, 2, 1), date_to=dt.date(2024, 1, 1))


def test_best_of_n_ties_and_both_bad_become_pairs(ada):
    vote(ada, ["alpha", "beta", "gamma"], "best", winner=2)
    vote(ada, ["alpha", "beta", "gamma"], "tie")
    vote(ada, ["alpha", "beta"], "both_bad")
    battles, votes = battles_for(BoardFilters(), up_to=10**9)
    assert votes == 3
    pairs = sorted((b.model_a, b.model_b, b.outcome) for b in battles)
    assert pairs == [
        ("alpha", "beta", "both_bad"),
        ("alpha", "beta", "tie"),
        ("alpha", "gamma", "b"),
        ("alpha", "gamma", "tie"),
        ("beta", "gamma", "b"),
        ("beta", "gamma", "tie"),
    ]


def test_excluded_votes_are_left_out_until_included_again(
    ada, bob, django_capture_on_commit_callbacks
):
    wins(ada, "alpha", "beta", 10)
    wins(bob, "beta", "alpha", 4)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
    recompute_stale()
    assert board_view(Leaderboard.objects.get(), style_control=False).battles == 14
    with django_capture_on_commit_callbacks(execute=True):
        assert voters_excluded_set(voter_ids=[bob.pk], excluded=True) == 4
    assert Leaderboard.objects.get().state == Leaderboard.State.QUEUED
    recompute_stale()
    board = board_view(Leaderboard.objects.get(), style_control=False)
    assert board.battles == 10 and board.ratings[0].losses == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert voters_excluded_set(voter_ids=[bob.pk], excluded=False) == 4
    recompute_stale()
    assert board_view(Leaderboard.objects.get(), style_control=False).battles == 14


def test_judge_votes_never_appear_on_the_human_board(ada, django_capture_on_commit_callbacks):
    wins(ada, "alpha", "beta", 10)
    for swapped in (False, True):
        for _ in range(6):
            vote(ada, ["judged", "beta"], "a", board="judge", judge_model="sim:judge",
                 swapped=swapped)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
        leaderboard_for(BoardFilters(board="judge"))
    recompute_stale()
    human = board_view(Leaderboard.objects.get(key=BoardFilters().key), style_control=False)
    judge = board_view(
        Leaderboard.objects.get(key=BoardFilters(board="judge").key), style_control=False
    )
    assert "judged" not in human.models and human.battles == 10
    assert "judged" in judge.models and "alpha" not in judge.models and judge.battles == 12


def test_the_style_controlled_fit_reads_each_sides_style(ada, django_capture_on_commit_callbacks):
    # The longer answer always wins, whichever model and side it is: the styled fit credits
    # length (positive), which it can only do if each side's style is read in its place.
    long = {**PLAIN, "length": 400}
    for i in range(12):
        models = ["alpha", "beta"] if i % 4 < 2 else ["beta", "alpha"]
        longer = i % 2
        styles = [long if side == longer else PLAIN for side in (0, 1)]
        vote(ada, models, "a" if longer == 0 else "b", styles=styles)
    vote(ada, ["alpha", "beta"], "a", styles=[])  # no styles: left out of the styled fit
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
    recompute_stale()
    row = Leaderboard.objects.get()
    plain, styled = board_view(row, style_control=False), board_view(row, style_control=True)
    assert plain.battles == 13 and styled.battles == 12
    assert styled.style_controlled and styled.style_coefficients["length"] > 0.5
    assert plain.style_coefficients == {}


# --- Through a real worker ---------------------------------------------------------------


class ArenaWorker:
    """`manage.py db_worker --queue-name arena` on the test database."""

    def __init__(self, name: str) -> None:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        self.log_path = OUTPUT / f"{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "PLAYGROUND_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "PLAYGROUND_ARENA_BOOTSTRAP_ROUNDS": "20",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "db_worker", "--queue-name", "arena",
                 "--interval", "0.2", "--no-startup-delay", "--no-reload"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.mark.django_db(transaction=True)
def test_a_vote_leads_to_a_ready_board_through_the_arena_worker(ada):
    wins(ada, "alpha", "beta", 10)
    worker = ArenaWorker("arena-worker")
    try:
        leaderboard_for(BoardFilters())  # autocommit: queued, and its compute enqueued

        def ready() -> bool:
            return Leaderboard.objects.get().state == Leaderboard.State.READY

        assert wait_until(ready, timeout=90), worker.log()
        assert board_view(Leaderboard.objects.get(), style_control=False).battles == 10

        battle = compare_battle(ada, ["gamma", "alpha"])
        cast = services.vote_cast(user=ada, battle_id=battle.pk, choice="a")

        def counted() -> bool:
            return ready() and Leaderboard.objects.get().votes_seen >= cast.pk

        assert wait_until(counted, timeout=90), worker.log()
        row = Leaderboard.objects.get()
        board = board_view(row, style_control=False)
        assert board.battles == 11 and ("gamma", 1) in board.unranked
        assert board_view(row, style_control=True).battles == 11  # vote_cast saved styles
    finally:
        worker.stop()


def test_bad_filters_are_named_and_the_whole_board_is_shown(
    ada, bob, client, django_capture_on_commit_callbacks
):
    wins(ada, "alpha", "beta", 2)
    wins(bob, "alpha", "beta", 1)
    client.force_login(ada)
    with django_capture_on_commit_callbacks(execute=True):
        html = client.get(
            f"/arena/leaderboard/?date_from=someday&user={bob.pk}&models=nope"
        ).content.decode()
    assert "Enter a valid date." in html
    assert html.count("Select a valid choice.") == 2  # bob's votes are not ada's to filter
    assert Leaderboard.objects.get().filters == BoardFilters().selection()
    html = client.get("/arena/leaderboard/?date_from=2024-02-01&date_to=2024-01-01").content
    assert "The start date is after the end date." in html.decode()
    # "me" is the viewer; staff may pick any voter.
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/arena/leaderboard/?user=me")
    assert Leaderboard.objects.filter(filters__user_id=ada.pk).exists()
    bob.is_staff = True
    bob.save()
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        html = client.get(f"/arena/leaderboard/?user={ada.pk}").content.decode()
    assert "Select a valid choice." not in html
    assert Leaderboard.objects.filter(key=BoardFilters(user_id=ada.pk).key).count() == 1
