"""Blind battles: drawn from the pool at random, in a random panel order, saved with the
comparison's own rows in one transaction; a bad pool or size is refused with a message."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils.datastructures import MultiValueDict

from inference.simulator import Scenario, Simulator
from playground import services
from playground.arena import blinding
from playground.arena import services as arena_services
from playground.arena.draws import DrawRefused, draw
from playground.arena.models import Battle, BattleSide
from playground.forms import CompareForm
from playground.models import Comparison, Run, Turn, UserQuota
from playground.services import ComparisonRefused
from tests.arena.blind import blind_form, blind_request, current_runs, finish, start_battle
from tests.helpers import FrameLog, compare_frame, read_until, ws_connect

POOL = ["sim:alpha", "sim:beta", "sima:claude-sim"]


def rows() -> tuple[int, ...]:
    return (
        Comparison.objects.count(),
        Turn.objects.count(),
        Run.objects.count(),
        Battle.objects.count(),
        BattleSide.objects.count(),
    )


def test_draw_takes_distinct_members_in_every_order() -> None:
    orders = Counter(tuple(draw(["x", "y"], 2)) for _ in range(200))
    assert set(orders) == {("x", "y"), ("y", "x")}  # 2**-199 to miss one by chance
    pairs = Counter(frozenset(draw(["x", "y", "z"], 2)) for _ in range(300))
    assert set(pairs) == {frozenset("xy"), frozenset("xz"), frozenset("yz")}
    assert all(len(set(draw(["x", "y", "z", "w"], 3))) == 3 for _ in range(50))


def test_draw_refuses_a_pool_or_size_it_cannot_make() -> None:
    with pytest.raises(DrawRefused, match="at least two models"):
        draw(["x"], 2)
    with pytest.raises(DrawRefused, match="pick a size from 2 to 2"):
        draw(["x", "y"], 3)
    with pytest.raises(DrawRefused, match="pick a size from 2 to 3"):
        draw(["x", "y", "z"], 1)


def test_battle_is_drawn_from_the_pool_in_random_panel_order(user, sim_models) -> None:
    seen: Counter[tuple[str, ...]] = Counter()
    for _ in range(60):  # prepared only: reads, no rows
        plan = arena_services.battle_prepare(user=user, request=blind_request(POOL, 2))
        names = tuple(start.run.model_name for start in plan.starts)
        assert len(names) == 2 and set(names) <= set(POOL) and len(set(names)) == 2
        assert [start.run.position for start in plan.starts] == [0, 1]
        assert all(start.blind for start in plan.starts)
        assert plan.blind is not None and plan.blind.label(1) == "Model B"
        # Every side has the same settings: its own would tell it apart.
        assert len({(s.run.temperature, s.run.max_tokens) for s in plan.starts}) == 1
        seen[names] += 1
    assert rows() == (0, 0, 0, 0, 0)
    # Every ordered pair of the pool turns up: both models and both panel orders.
    assert {names for names in seen} == {(a, b) for a in POOL for b in POOL if a != b}


def test_battle_saved_with_its_comparison_and_sides(user, sim_models, settings) -> None:
    battle = start_battle(user, POOL, size=3)
    assert rows() == (1, 1, 3, 1, 3)
    assert battle.owner_id == user.pk and battle.pool == POOL
    assert battle.revealed is None and battle.show_timing is False
    runs = {run.position: run for run in Run.objects.all()}
    sides = list(battle.sides.order_by("position"))
    assert [side.letter for side in sides] == ["A", "B", "C"]
    for side in sides:
        assert side.panel == side.position and side.run_id is None
        assert runs[side.panel].model_name == side.model_name
    assert sorted(side.model_name for side in sides) == sorted(POOL)
    assert battle.comparison_id is not None
    assert blinding.is_unrevealed_battle(comparison_id=battle.comparison_id)

    settings.PLAYGROUND = {**settings.PLAYGROUND, "arena_show_timing": True}
    assert start_battle(user, POOL[:2]).show_timing is True


def test_show_timing_setting_from_the_environment(user, sim_models, monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_ARENA_SHOW_TIMING", "yes")
    assert start_battle(user, POOL[:2]).show_timing is True
    monkeypatch.setenv("PLAYGROUND_ARENA_SHOW_TIMING", "maybe")
    with pytest.raises(ValueError, match="PLAYGROUND_ARENA_SHOW_TIMING must be 1 or 0"):
        start_battle(user, POOL[:2])


def test_a_battle_that_cannot_be_written_leaves_no_rows(user, sim_models) -> None:
    plan = arena_services.battle_prepare(user=user, request=blind_request(POOL, 2))
    assert plan.battle is not None
    plan.battle.battle.pool = [Decimal("1")]  # not JSON: the battle's INSERT fails last
    with pytest.raises(TypeError):
        services.plan_save(plan=plan)
    assert rows() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("models", "size", "message"),
    [
        (["sim:alpha"], 2, "A blind battle needs a pool of at least two models."),
        (POOL[:2], 3, "A battle of 3 models cannot be drawn from a pool of 2: pick a size"),
        (POOL, 1, "A battle has at least 2 models."),
        (["sim:alpha", "sim:alpha"], 2, "A blind battle's pool lists each model once."),
    ],
)
def test_bad_pool_or_size_is_refused_with_a_message(user, sim_models, models, size, message):
    form = blind_form(models, size)
    assert not form.is_valid()
    assert message in form.error_text()


def test_a_size_left_blank_is_two(user, sim_models) -> None:
    form = blind_form(POOL, None)
    assert form.is_valid(), form.error_text()
    assert form.compare_request().battle_size == 2


def test_spending_refusal_names_no_figure_of_the_drawn_models(user, sim_models) -> None:
    UserQuota.objects.create(user=user, daily_spend_limit=Decimal("0.0000001"))
    with pytest.raises(ComparisonRefused) as refused:
        arena_services.battle_prepare(user=user, request=blind_request(POOL, 2))
    assert str(refused.value) == blinding.SPEND_REFUSED and "$" not in str(refused.value)
    # An ordinary comparison still says its figures.
    form = CompareForm(MultiValueDict({"prompt": ["Hello"], "models": POOL[:2]}))
    assert form.is_valid()
    with pytest.raises(ComparisonRefused, match=r"could cost up to \$"):
        services.comparison_prepare(user=user, request=form.compare_request())
    assert rows() == (0, 0, 0, 0, 0)


@pytest.mark.django_db(transaction=True)
async def test_blind_frame_over_the_websocket(user, sim: Simulator, sim_models) -> None:
    sim.set("alpha", Scenario(text="one two three"))
    sim.set("beta", Scenario(text="four five six"))
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    bad = json.loads(compare_frame(POOL[:2], blind="on", battle_size="5"))
    await communicator.send_to(text_data=json.dumps(bad))
    await read_until(communicator, log, lambda lg: bool(lg.notices()))
    assert "cannot be drawn from a pool of 2" in log.notices()[0]
    assert await sync_to_async(rows)() == (0, 0, 0, 0, 0)

    good = compare_frame(POOL[:2], blind="on", battle_size="2")
    await communicator.send_to(text_data=good)
    await read_until(communicator, log, lambda lg: len(lg.done) == 2)
    await communicator.disconnect()
    assert await sync_to_async(rows)() == (1, 1, 2, 1, 2)
    battle = await Battle.objects.aget()
    assert battle.revealed is None
    frames = "".join(frame for _, frame in log.frames)
    assert "Model A" in frames and "Model B" in frames and 'id="vote-form"' in frames
    assert "sim:alpha" not in frames and "Alpha" not in frames


def test_battle_size_is_read_only_for_a_blind_battle(user, sim_models) -> None:
    form = CompareForm(MultiValueDict({"prompt": ["Hi"], "models": POOL[:2], "battle_size": ["x"]}))
    assert form.is_valid(), form.error_text()
    blind = blind_form(POOL, None, battle_size="x")
    assert not blind.is_valid() and "The battle size must be a whole number." in blind.error_text()


@pytest.mark.parametrize("show_timing", [False, True])
def test_timing_before_the_vote_follows_the_battle(user, sim_models, settings, show_timing):
    settings.PLAYGROUND = {**settings.PLAYGROUND, "arena_show_timing": show_timing}
    battle = start_battle(user, POOL[:2])
    finish(current_runs(battle))
    client = Client()
    client.force_login(user)
    page = client.get(f"/c/{battle.comparison_id}/").content.decode()
    assert ("<dt>TTFT</dt>" in page) is show_timing
    assert ("<dt>total</dt>" in page) is show_timing
    assert ('svg class="bar"' in page) is show_timing  # the timing charts, as "Model A"
    for hidden in ("<dt>cost</dt>", "<dt>tokens</dt>", "<dt>speed</dt>", "Alpha", "Beta"):
        assert hidden not in page
