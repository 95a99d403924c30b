from django.urls import URLPattern, URLResolver, path

from playground.arena import board_views, suite_battle_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("leaderboard/", board_views.leaderboard, name="arena_leaderboard"),
    path("leaderboard/board/", board_views.board_fragment, name="arena_board_fragment"),
    path("votes/", board_views.my_votes, name="arena_votes"),
    path("decision/", board_views.decision_view, name="arena_decision"),
    path("suite-runs/<int:pk>/judge/", suite_battle_views.judge_next, name="arena_suite_judge"),
    path(
        "suite-runs/<int:pk>/judge/<int:battle_id>/",
        suite_battle_views.judge_battle,
        name="arena_suite_battle",
    ),
    path(
        "suite-runs/<int:pk>/judge/<int:battle_id>/vote/",
        suite_battle_views.judge_vote,
        name="arena_suite_vote",
    ),
]
