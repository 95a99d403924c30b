"""Share links: read-only, revocable, expiring, forkable, exportable; nobody else gets in."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from playground.models import Comparison, Run, Share, Turn
from tests.helpers import FrameLog, read_until, ws_connect

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def third_user(db):
    return get_user_model().objects.create_user("eve", password="pw-eve-123456")


@pytest.fixture
def comparison(user, sim_models) -> Comparison:
    comparison = Comparison.objects.create(
        owner=user, title="Which is faster?", system_prompt="Be brief.", same_settings=False
    )
    turn = Turn.objects.create(comparison=comparison, index=0, prompt="Which is faster?")
    for position, (name, label, ms) in enumerate(
        [("sim:alpha", "Alpha", 120.0), ("sima:claude-sim", "Claude Sim", 480.0)]
    ):
        Run.objects.create(
            comparison=comparison,
            turn=turn,
            position=position,
            model_name=name,
            model_label=label,
            provider_label="Sim",
            provider_kind="openai",
            status=Run.Status.DONE,
            text=f"**{label}** answers.",
            ttft_ms=ms,
            total_ms=ms * 3,
            tokens_per_s=50.0,
            input_tokens=12,
            output_tokens=30,
            cost=Decimal("0.000123"),
            cost_source="provider",
            prices={"input_per_m": "1.00", "output_per_m": "4.00"},
            temperature=0.3 + position,
            max_tokens=200 + position,
            timeline=[[ms, 5, 0], [ms * 2, 12, 0], [ms * 3, len(f"**{label}** answers."), 0]],
        )
    return comparison


def share(client: Client, comparison: Comparison, audience: str = "team", days: str = "") -> Share:
    response = client.post(
        f"/c/{comparison.pk}/share/", {"audience": audience, "expires_in_days": days}
    )
    assert response.status_code == 302
    return Share.objects.filter(comparison=comparison, revoked_at__isnull=True).get()


def test_share_open_revoke_reshare(user, other_user, comparison):
    owner = logged_in(user)
    link = share(owner, comparison)
    assert len(link.token) >= 22  # 24 random bytes, url-safe: 192 bits
    teammate = logged_in(other_user)
    page = teammate.get(f"/s/{link.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alpha" in html and "Claude Sim" in html and "Be brief." in html
    assert "ws-connect" not in html and "composer" not in html  # read-only
    assert 'property="og:title"' not in html  # a private share has no preview

    assert owner.post(f"/c/{comparison.pk}/unshare/").status_code == 302
    gone = teammate.get(f"/s/{link.token}/")
    assert gone.status_code == 410 and "No longer shared" in gone.content.decode()
    assert teammate.get(f"/s/{link.token}/export.json").status_code == 410

    again = share(owner, comparison)
    assert again.token != link.token
    assert teammate.get(f"/s/{again.token}/").status_code == 200
    assert teammate.get(f"/s/{link.token}/").status_code == 410


def test_owner_page_shows_the_link(user, comparison):
    owner = logged_in(user)
    link = share(owner, comparison, audience="public")
    html = owner.get(f"/c/{comparison.pk}/").content.decode()
    assert f"/s/{link.token}/" in html and "Anyone with the link" in html


def test_expired_share_is_gone(user, other_user, comparison, monkeypatch):
    link = share(logged_in(user), comparison, days="1")
    later = timezone.now() + dt.timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert logged_in(other_user).get(f"/s/{link.token}/").status_code == 410


def test_unknown_token_is_not_found(other_user):
    assert logged_in(other_user).get("/s/not-a-real-token/").status_code == 404


def test_anonymous_visitor_team_share_needs_login_public_share_opens(client, user, comparison):
    owner = logged_in(user)
    link = share(owner, comparison, audience="team")
    response = client.get(f"/s/{link.token}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    share(owner, comparison, audience="public")  # same token, wider audience
    page = client.get(f"/s/{link.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'property="og:title" content="Which is faster?"' in html
    assert "Alpha, Claude Sim" in html  # og:description names the models
    assert client.get(f"/s/{link.token}/export.csv").status_code == 200


def test_a_third_user_cannot_reach_the_comparison_any_other_way(user, third_user, comparison):
    share(logged_in(user), comparison)
    eve = logged_in(third_user)
    run = comparison.runs.first()
    for url in [
        f"/c/{comparison.pk}/",
        f"/c/{comparison.pk}/export.json",
        f"/c/{comparison.pk}/export.csv",
        f"/c/{comparison.pk}/export.md",
        f"/?from={comparison.pk}",
        f"/s/{comparison.pk}/",
        f"/s/{run.pk}/",
    ]:
        assert eve.get(url).status_code == 404, url
    assert eve.post(f"/c/{comparison.pk}/share/", {"audience": "public"}).status_code == 404
    assert eve.post(f"/c/{comparison.pk}/unshare/").status_code == 404
    assert Share.objects.filter(comparison=comparison, audience="public").count() == 0


@pytest.mark.django_db(transaction=True)
async def test_websocket_refuses_other_users_comparisons(user, third_user, comparison):
    run = await sync_to_async(comparison.runs.first)()
    communicator, connected, _ = await ws_connect(third_user)
    assert connected
    log = FrameLog()
    await communicator.send_to(text_data=json.dumps({"action": "retry", "run": str(run.pk)}))
    await read_until(communicator, log, lambda lg: len(lg.notices()) == 1)
    await communicator.send_to(
        text_data=json.dumps(
            {"action": "compare", "prompt": "mine now", "comparison": str(comparison.pk)}
        )
    )
    await read_until(communicator, log, lambda lg: len(lg.notices()) == 2)
    await communicator.send_to(text_data=json.dumps({"action": "stop", "run": str(run.pk)}))
    await read_until(communicator, log, lambda lg: len(lg.notices()) == 3)
    await communicator.disconnect()
    assert all("No such" in n or "not streaming" in n for n in log.notices())
    assert await sync_to_async(Run.objects.count)() == 2
    assert await sync_to_async(Turn.objects.count)() == 1


def test_prices_edited_later_do_not_change_the_shared_page(
    user, other_user, comparison, sim_models
):
    link = share(logged_in(user), comparison)
    before = logged_in(other_user).get(f"/s/{link.token}/").content.decode()
    sim_models["alpha"].input_price = Decimal("99")
    sim_models["alpha"].save()
    after = logged_in(other_user).get(f"/s/{link.token}/").content.decode()
    assert "$0.000123" in before and "$0.000123" in after


def test_fork_prefills_prompt_models_and_settings(user, other_user, comparison):
    link = share(logged_in(user), comparison)
    html = logged_in(other_user).get(f"/?fork={link.token}").content.decode()
    assert 'name="models" value="sim:alpha"' in html
    assert 'name="models" value="sima:claude-sim"' in html
    assert "Which is faster?" in html and "Be brief." in html
    assert (
        'name="panel_temperature" min="0" max="2" step="0.1" inputmode="decimal" value="1.3"'
        in html
    )
    assert 'value="201"' in html
    logged_in(user).post(f"/c/{comparison.pk}/unshare/")
    assert logged_in(other_user).get(f"/?fork={link.token}").status_code == 404


@pytest.mark.parametrize("prefix", ["owner", "shared"])
def test_exports_parse(user, other_user, comparison, prefix):
    link = share(logged_in(user), comparison)
    client = logged_in(user) if prefix == "owner" else logged_in(other_user)
    base = f"/c/{comparison.pk}" if prefix == "owner" else f"/s/{link.token}"
    data = json.loads(client.get(f"{base}/export.json").content)
    assert data["title"] == "Which is faster?"
    runs = data["turns"][0]["runs"]
    assert [r["model_name"] for r in runs] == ["sim:alpha", "sima:claude-sim"]
    assert runs[0]["cost_usd"] == "0.00012300" and runs[0]["prices"]["input_per_m"] == "1.00"

    rows = list(csv.DictReader(io.StringIO(client.get(f"{base}/export.csv").content.decode())))
    assert len(rows) == 2
    assert rows[0]["ttft_ms"] == "120.0" and rows[1]["model_name"] == "sima:claude-sim"
    assert rows[0]["tokens_per_s"] == "50.0" and rows[0]["cost_usd"] == "0.00012300"

    markdown = client.get(f"{base}/export.md").content.decode()
    assert "| Model | Status | TTFT |" in markdown and "|---|" in markdown
    assert "**Alpha** answers." in markdown
    assert "sk-" not in markdown
