"""The acceptance leak test: before its vote, nothing a blind battle's voter can get (every
websocket frame, reattaches included, the comparison page, history, every export, a share
attempt, a link made anyway, a "run again") names a model, its label, its provider, its api
name or a price, not even in an HTML attribute. After the vote they all show.

Real parts: a daphne process, websockets, the upstream simulator on loopback.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from inference.models import Model, Provider
from inference.simulator import Scenario, Simulator
from playground.arena.models import Battle
from playground.models import Comparison, Run, Share
from playground.templatetags.playground_tags import usd
from tests.servers import Socket, redis_url, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = " ".join(f"word{i}" for i in range(30))
THOUGHT = "Pondering quokkas deeply"
PRICES = {"input_price": Decimal("7.7731"), "output_price": Decimal("9.1173")}
SECRETS = [
    # provider slugs and labels, model api names and labels, prices
    "zqprov", "Zanzibar Quokka Cloud", "zq-orchid-7", "Orchid Seven Turbo",
    "xyhb", "Xylo Harbor AI", "xh-marmot-3b", "Marmot Three",
    "vlagoon", "Vesper Lagoon Labs", "vl-quill-9", "Quillfeather Nine",
    "7.7731", "9.1173",
]  # fmt: skip
# What a blind panel never shows before the vote either (its own words and markup).
HIDDEN_MARKUP = ["data-model=", "<dt>cost</dt>", "<dt>tokens</dt>", "<dt>speed</dt>",
                 "<dt>TTFT</dt>", "Thinking", THOUGHT, 'class="badge"', "data-timeline",
                 'svg class="bar"', "state-thinking", "thinking"]  # fmt: skip


def catalogue(sim: Simulator) -> list[str]:
    openai = Provider.objects.create(
        slug="zqprov",
        label="Zanzibar Quokka Cloud",
        kind="openai",
        base_url=sim.openai_base_url,
        key_required=False,
    )
    anthropic = Provider.objects.create(
        slug="xyhb",
        label="Xylo Harbor AI",
        kind="anthropic",
        base_url=sim.anthropic_base_url,
        api_key="sk-ant-test-key-0001",
    )
    gemini = Provider.objects.create(
        slug="vlagoon",
        label="Vesper Lagoon Labs",
        kind="gemini",
        base_url=sim.gemini_base_url,
        api_key="gm-test-key-0002",
    )
    Model.objects.create(
        provider=openai, api_name="zq-orchid-7", label="Orchid Seven Turbo", **PRICES
    )
    Model.objects.create(
        provider=anthropic, api_name="xh-marmot-3b", label="Marmot Three", **PRICES
    )
    Model.objects.create(
        provider=gemini, api_name="vl-quill-9", label="Quillfeather Nine", **PRICES
    )
    return ["zqprov:zq-orchid-7", "xyhb:xh-marmot-3b", "vlagoon:vl-quill-9"]


def leaks(where: str, text: str, extra: list[str] | None = None) -> list[str]:
    return [f"{where}: {secret!r}" for secret in [*SECRETS, *(extra or [])] if secret in text]


async def test_nothing_names_a_model_before_the_vote_and_all_does_after(
    sim: Simulator, servers
) -> None:
    user = await sync_to_async(get_user_model().objects.create_user)("ada", password="pw-12345678")
    names = await sync_to_async(catalogue)(sim)
    # The errors of a provider name it ("Vesper Lagoon Labs: ..."): the third one fails.
    sim.set("zq-orchid-7", Scenario(text=WORDS, interval=0.03, reasoning=THOUGHT))
    sim.set("xh-marmot-3b", Scenario(text=WORDS, interval=0.01, reasoning=THOUGHT))
    sim.set("vl-quill-9", Scenario(text=WORDS, interval=0.01, fault="error_event", fault_after=5))
    server = servers("leaks")
    cookie = await sync_to_async(session_cookie)(user)
    sockets: list[Socket] = []

    async def opened() -> Socket:
        socket = await Socket(server, cookie).__aenter__()
        sockets.append(socket)
        return socket

    def done(socket: Socket, count: int):
        return lambda log: len(log.done) >= count

    first = await opened()
    await first.send(
        {
            "action": "compare",
            "prompt": "Write a limerick about harbours.",
            "models": names,
            "blind": "on",
            "battle_size": "3",
            "same_settings": "on",
        }
    )
    await first.read_until(lambda log: "data-turn-started" in "".join(f for _, f in log.frames))
    comparison = await Comparison.objects.aget()
    # A second tab attaches while the answers stream (the live board, then its deltas).
    second = await opened()
    await second.send({"action": "attach", "comparison": comparison.pk})
    await first.read_until(done(first, 3), timeout=60)
    await second.read_until(done(second, 3), timeout=60)
    # A third attaches once all is final: the saved board and the vote bar.
    third = await opened()
    await third.send({"action": "attach", "comparison": comparison.pk})
    await third.read_until(lambda log: any('id="vote-form"' in f for _, f in log.frames))

    # A follow-up and a retry before the vote stay blind.
    sim.set("vl-quill-9", Scenario(text="fine now " + WORDS, reasoning=THOUGHT))
    await first.send(
        {"action": "compare", "prompt": "Shorter, please.", "comparison": comparison.pk}
    )
    await first.read_until(done(first, 6), timeout=60)
    failed = await Run.objects.filter(status=Run.Status.ERROR).afirst()
    assert failed is not None
    await first.send({"action": "retry", "run": failed.pk})
    await first.read_until(done(first, 7), timeout=60)
    await first.read_until(lambda log: 'id="vote-form"' in log.frames[-1][1])
    for socket in sockets:
        await socket.close()

    frames = "\n".join(frame for socket in sockets for _, frame in socket.log.frames)
    assert frames.count('<article class="panel') >= 10
    assert "Model A" in frames and "Model C" in frames and "This model failed." in frames
    assert leaks("frames", frames, HIDDEN_MARKUP) == []
    runs = [run async for run in Run.objects.filter(superseded=False)]
    costs = [usd(run.cost) for run in runs if run.cost]
    assert costs and not [cost for cost in costs if cost in frames]

    await sync_to_async(after_the_streams)(user, comparison.pk, costs)


def after_the_streams(user, comparison_id: int, costs: list[str]) -> None:
    names = ["zqprov:zq-orchid-7", "xyhb:xh-marmot-3b", "vlagoon:vl-quill-9"]
    client = Client()
    client.force_login(user)
    found: list[str] = []

    def get(url: str, expect: int = 200) -> str:
        response = client.get(url)
        assert response.status_code == expect, (url, response.status_code)
        return response.content.decode()

    pages = {
        "page": get(f"/c/{comparison_id}/"),
        "history": get("/history/"),
        "json": get(f"/c/{comparison_id}/export.json"),
        "csv": get(f"/c/{comparison_id}/export.csv"),
        "md": get(f"/c/{comparison_id}/export.md"),
    }
    # The follow-up composer's estimate: a price range would narrow down the models.
    followup = {"comparison": str(comparison_id), "models": names, "prompt": "And boats?"}
    pages["follow-up estimate"] = client.post("/estimate/", followup).content.decode()
    assert "$" not in pages["follow-up estimate"], pages["follow-up estimate"]
    refused = client.post(f"/c/{comparison_id}/share/", {"audience": "public"})
    assert refused.status_code == 400 and "cannot be shared before its vote" in (
        refused.content.decode()
    )
    pages["share attempt"] = refused.content.decode()
    assert not Share.objects.exists()
    # A link made some other way still shows nothing: it is anonymised too.
    share = Share.objects.create(comparison_id=comparison_id, audience=Share.Audience.PUBLIC)
    anonymous = Client()
    pages["shared"] = anonymous.get(f"/s/{share.token}/").content.decode()
    for fmt in ("json", "csv", "md"):
        pages[f"shared {fmt}"] = anonymous.get(f"/s/{share.token}/export.{fmt}").content.decode()
    for where, text in pages.items():
        found += leaks(where, text, costs)
        found += [
            f"{where}: {word!r}" for word in ("Thinking", THOUGHT, "data-model=") if word in text
        ]
    assert found == []
    assert "Blind battle" in pages["history"] and "Model B" in pages["md"]
    assert 'id="vote-form"' in pages["page"]
    # Run again and fork take the prompt only: no model is picked for the viewer.
    for url in (f"/?from={comparison_id}", f"/?fork={share.token}"):
        picked = get(url)
        assert "Write a limerick about harbours." in picked
        assert re.findall(r'name="models" value="([^"]+)"', picked) == []
    share.delete()

    battle = Battle.objects.get(comparison_id=comparison_id)
    voted = client.post(f"/arena/battles/{battle.pk}/vote/", {"pick": "best-1"})
    assert voted.status_code == 302
    page = get(f"/c/{comparison_id}/")
    exports = [get(f"/c/{comparison_id}/export.{fmt}") for fmt in ("json", "csv", "md")]
    history = get("/history/")
    for label in ("Orchid Seven Turbo", "Marmot Three", "Quillfeather Nine"):
        assert label in page and label in history and all(label in e for e in exports)
    for provider in ("Zanzibar Quokka Cloud", "Xylo Harbor AI", "Vesper Lagoon Labs"):
        assert provider in page and provider in exports[0] and provider in exports[1]
    for name in names:
        assert name in page and all(name in e for e in exports)
    assert "7.7731" in exports[0] and "9.1173" in exports[0]
    assert all(cost in page for cost in costs) and THOUGHT in page
    assert "You voted: B (" in page and 'class="badge"' in page
    assert "$" in client.post("/estimate/", followup).content.decode()
    assert client.post(f"/c/{comparison_id}/share/", {"audience": "team"}).status_code == 302
    assert Share.objects.count() == 1


async def test_a_reload_onto_another_process_stays_blind(sim: Simulator, servers) -> None:
    """Two daphne processes on one database and one Redis: the tab reloads onto the process
    that does not stream the battle; the board and deltas it relays name nothing either."""
    url = redis_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("Redis is required in CI")
        pytest.skip("no Redis on this machine")
    user = await sync_to_async(get_user_model().objects.create_user)("ada", password="pw-12345678")
    names = await sync_to_async(catalogue)(sim)
    for api_name in ("zq-orchid-7", "xh-marmot-3b", "vl-quill-9"):
        sim.set(api_name, Scenario(text=WORDS, interval=0.08, reasoning=THOUGHT))
    env = {"REDIS_URL": url, "PLAYGROUND_REATTACH_GRACE_SECONDS": "20"}
    first, second = servers("blind-first", **env), servers("blind-second", **env)
    cookie = await sync_to_async(session_cookie)(user)

    async with Socket(first, cookie) as tab:
        await tab.send(
            {"action": "compare", "prompt": "Write a limerick about harbours.", "models": names,
             "blind": "on", "battle_size": "2", "same_settings": "on"}
        )  # fmt: skip
        await tab.read_until(lambda log: any(len(text) > 20 for text in log.text.values()))
    comparison = await Comparison.objects.aget()
    async with Socket(second, cookie) as reloaded:
        await reloaded.send({"action": "attach", "comparison": comparison.pk})
        await reloaded.read_until(lambda log: len(log.done) >= 2, timeout=60)
        relayed = "\n".join(frame for _, frame in reloaded.log.frames)
    assert "answer streaming" in relayed, "the streaming process sent no live board"
    assert reloaded.log.text, "no delta crossed the processes"
    assert "Model A" in relayed and "Model B" in relayed
    assert leaks("relayed frames", relayed, HIDDEN_MARKUP) == []
