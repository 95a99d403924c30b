"""The decision view: the Pareto front, p95 total time and cost per 1,000 requests from the
viewer's measured runs (suite units included), and every point linking to its evidence."""

from __future__ import annotations

import re
from decimal import Decimal

from playground.arena.board_selectors import board_view, measured_runs
from playground.arena.decision import cost_per_thousand, decision_rows, pareto_front
from playground.arena.leaderboard import BoardFilters, leaderboard_for
from playground.arena.models import Battle, BattleSide
from playground.arena.tasks import recompute_stale
from playground.models import Comparison, Turn
from tests.arena.board_votes import done_run, finished_suite_run, measured, wins


def test_the_pareto_front_of_a_known_set():
    points = [
        ("best", 1200.0, 900.0),  # highest quality: on the front whatever it costs
        ("cheap", 1000.0, 100.0),  # lowest cost: on the front
        ("middle", 1100.0, 400.0),  # beaten by neither
        ("dominated", 1050.0, 500.0),  # middle is better and cheaper
        ("tied_worse", 1000.0, 150.0),  # same quality as cheap, costs more
        ("twin", 1100.0, 400.0),  # equal to middle on both: neither beats the other
    ]
    assert pareto_front(points) == {"best", "cheap", "middle", "twin"}
    assert pareto_front([]) == set()
    assert pareto_front([("only", 1.0, 1.0)]) == {"only"}


def test_cost_per_thousand_is_the_mean_cost_times_a_thousand():
    assert cost_per_thousand([Decimal("0.001"), Decimal("0.003")]) == Decimal("2.000000")
    assert cost_per_thousand([]) is None


def ranked_board(voter):
    """alpha > beta > gamma, each with 10+ battles; delta unranked."""
    wins(voter, "alpha", "beta", 8)
    wins(voter, "alpha", "gamma", 6)
    wins(voter, "beta", "gamma", 6)
    wins(voter, "delta", "gamma", 2)
    leaderboard_for(BoardFilters())
    recompute_stale()


def test_p95_and_cost_per_1k_come_from_the_viewers_done_runs(ada, bob):
    ranked_board(ada)
    # alpha: 20 runs at 100..2000 ms in ada's comparisons, cost 0.001 each.
    measured(ada, "alpha", [(100.0 * i, Decimal("0.001")) for i in range(1, 21)])
    # beta: a suite run's units (500 ms, 0.002) and one run with no price.
    suite_run = finished_suite_run(ada, ["beta"], [{"prompt": "hi"}, {"prompt": "bye"}])
    measured(ada, "beta", [(500.0, None)])
    # Not counted for ada: bob's run, a failed run, and an unvoted blind battle's run.
    measured(bob, "gamma", [(50.0, Decimal("9"))])
    failed = Comparison.objects.create(owner=ada)
    turn = Turn.objects.create(comparison=failed, index=0, prompt="p")
    done_run(failed, turn, 0, "alpha", total_ms=99999.0, status="error")
    blind = Comparison.objects.create(owner=ada)
    turn = Turn.objects.create(comparison=blind, index=0, prompt="p")
    done_run(blind, turn, 0, "gamma", total_ms=1.0)
    battle = Battle.objects.create(owner=ada, comparison=blind)
    BattleSide.objects.create(battle=battle, position=0, model_name="gamma", panel=0)

    board = board_view(leaderboard_for(BoardFilters()), style_control=False)
    models = ["alpha", "beta", "gamma"]
    rows = {
        r.model: r for r in decision_rows(models, board, measured_runs(models=models, viewer=ada))
    }
    assert rows["alpha"].runs == 20
    assert rows["alpha"].p95_total_ms == 1905.0  # numpy's linear percentile of 100..2000
    assert rows["alpha"].cost_per_1k == Decimal("1.000000")
    assert rows["beta"].runs == 3 and rows["beta"].costed == 2
    assert rows["beta"].cost_per_1k == Decimal("2.000000")
    assert rows["beta"].evidence.suite_runs == [(suite_run.pk, "judged")]
    assert rows["gamma"].runs == 0 and rows["gamma"].p95_total_ms is None
    assert rows["gamma"].cost_per_1k is None
    # Staff see every run: bob's gamma run counts (the blind battle's still does not).
    ada.is_staff = True
    staff = {
        r.model: r for r in decision_rows(models, board, measured_runs(models=models, viewer=ada))
    }
    assert staff["gamma"].runs == 1 and staff["gamma"].p95_total_ms == 50.0
    # alpha: best and slower; beta: worse and faster, both on the latency front.
    assert rows["alpha"].pareto_latency and rows["beta"].pareto_latency
    assert rows["alpha"].pareto_cost and rows["beta"].pareto_cost is False


def test_the_decision_page_draws_both_panels_with_links_to_the_evidence(ada, client):
    ranked_board(ada)
    measured(ada, "alpha", [(900.0, Decimal("0.004")), (1100.0, Decimal("0.006"))])
    measured(ada, "beta", [(300.0, None)])
    suite_run = finished_suite_run(ada, ["gamma"], [{"prompt": "hi"}], name="<b>sneaky</b>")
    client.force_login(ada)
    html = client.get("/arena/decision/").content.decode()
    assert 'id="chart-latency"' in html and 'id="chart-cost"' in html
    # Default choice: the ranked models; each plotted point is a link to its evidence row.
    for index, model in enumerate(["alpha", "beta", "gamma"]):
        assert f'<tr id="evidence-{index}" data-model="{model}"' in html
    latency = html[html.index('id="chart-latency"') : html.index('id="chart-cost"')]
    assert re.findall(r'<a href="(#evidence-\d)" class="point', latency) == [
        "#evidence-0", "#evidence-1", "#evidence-2",
    ]  # fmt: skip
    cost = html[html.index('id="chart-cost"') :]
    cost_chart = cost[: cost.index("</svg>")]
    # beta has no priced run: not on the cost panel, and its cost reads "unknown".
    assert 'data-model="beta"' not in cost_chart and 'data-model="alpha"' in cost_chart
    assert "unknown" in html
    assert 'href="/arena/leaderboard/#model-alpha"' in html
    assert f'href="/suites/runs/{suite_run.pk}/"' in html
    assert "<b>sneaky</b>" not in html and "&lt;b&gt;sneaky&lt;/b&gt;" in html
    assert "delta" not in latency  # unranked: not plotted
    # Picking models: only those are drawn.
    html = client.get("/arena/decision/?models=alpha&models=gamma").content.decode()
    assert 'data-model="beta"' not in html.split('id="chart-cost"')[0]
    assert '<tr id="evidence-1" data-model="gamma"' in html


def test_the_decision_page_waits_for_a_board_without_fitting(ada, client):
    wins(ada, "alpha", "beta", 10)
    client.force_login(ada)
    html = client.get("/arena/decision/").content.decode()
    assert "The leaderboard is being computed" in html
    assert "No model has both a score and this figure yet." in html
