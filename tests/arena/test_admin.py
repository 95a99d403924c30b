"""Staff exclude a voter's votes (every one of them) from every leaderboard, and include
them again, from the vote admin; the boards are then recomputed."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_tasks_db.models import DBTaskResult

from playground.arena.board_selectors import board_view
from playground.arena.leaderboard import BoardFilters, leaderboard_for
from playground.arena.models import Leaderboard, Vote
from playground.arena.tasks import recompute_stale
from tests.arena.board_votes import wins


@pytest.fixture
def users(db):
    make = get_user_model().objects
    return (
        make.create_superuser("root", password="pw-root-123456"),
        make.create_user("ada", password="pw-ada-123456"),
        make.create_user("spam", password="pw-spam-123456"),
    )


def action(client, name: str, votes: list[Vote]):
    return client.post(
        "/admin/arena/vote/",
        {"action": name, "_selected_action": [str(v.pk) for v in votes]},
        follow=True,
    )


def test_excluding_a_voter_leaves_all_their_votes_out_until_included(
    users, client, django_capture_on_commit_callbacks
):
    root, ada, spam = users
    wins(ada, "alpha", "beta", 10)
    spammed = wins(spam, "beta", "alpha", 6)
    with django_capture_on_commit_callbacks(execute=True):
        leaderboard_for(BoardFilters())
    recompute_stale()
    DBTaskResult.objects.all().delete()
    client.force_login(root)

    # One of spam's votes selected: all six of theirs are excluded, none of ada's.
    with django_capture_on_commit_callbacks(execute=True):
        page = action(client, "exclude_voters", spammed[:1])
    assert "6 votes of 1 voter excluded" in page.content.decode()
    assert Vote.objects.filter(voter=spam, excluded=True).count() == 6
    assert not Vote.objects.filter(voter=ada, excluded=True).exists()
    assert Leaderboard.objects.get().state == Leaderboard.State.QUEUED
    assert DBTaskResult.objects.filter(queue_name="arena", status="READY").count() == 1
    recompute_stale()
    board = board_view(Leaderboard.objects.get(), style_control=False)
    assert board.battles == 10 and board.ratings[0].model == "alpha"
    assert board.ratings[0].losses == 0

    # The list filters by exclusion; including again restores the votes.
    listed = client.get("/admin/arena/vote/?excluded__exact=1").content.decode()
    assert listed.count('name="_selected_action"') == 6
    with django_capture_on_commit_callbacks(execute=True):
        page = action(client, "include_voters", spammed[2:3])
    assert "6 votes of 1 voter included again" in page.content.decode()
    recompute_stale()
    assert board_view(Leaderboard.objects.get(), style_control=False).battles == 16


def test_the_admin_pages_of_battles_votes_and_boards_open(users, client):
    root, ada, _ = users
    wins(ada, "alpha", "beta", 1)
    leaderboard_for(BoardFilters())
    client.force_login(root)
    vote = Vote.objects.get()
    for url in (
        "/admin/arena/battle/",
        f"/admin/arena/battle/{vote.battle_id}/change/",
        f"/admin/arena/vote/?board__exact=human&voter__id__exact={ada.pk}",
        f"/admin/arena/vote/{vote.pk}/change/",
        "/admin/arena/leaderboard/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/arena/vote/add/").status_code == 403


def test_a_user_sees_only_their_own_votes(users, client):
    _, ada, spam = users
    wins(ada, "alpha", "beta", 2, category="code")
    wins(spam, "gamma", "delta", 1)
    client.force_login(ada)
    html = client.get("/arena/votes/").content.decode()
    assert html.count("data-vote=") == 2
    assert "alpha" in html and "code" in html and "gamma" not in html
