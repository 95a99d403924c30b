"""Share links: read-only, revocable, expiring, forkable, exportable; nobody else gets in."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
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


def share(
    client: Client,
    comparison: Comparison,
    audience: str = "team",
    days: str = "",
    *,
    system: bool = False,
    owner: bool = False,
) -> Share:
    data = {"audience": audience, "expires_in_days": days}
    if system:
        data["include_system_prompt"] = "on"
    if owner:
        data["include_owner"] = "on"
    response = client.post(f"/c/{comparison.pk}/share/", data)
    assert response.status_code == 302
    return Share.objects.filter(comparison=comparison, revoked_at__isnull=True).get()


def test_share_open_revoke_reshare(user, other_user, comparison):
    owner = logged_in(user)
    link = share(owner, comparison, system=True)
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
    public = share(owner, comparison, audience="public")  # a wider audience: a new token
    page = client.get(f"/s/{public.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'property="og:title" content="Which is faster?"' in html
    assert "Alpha, Claude Sim" in html  # og:description names the models
    assert client.get(f"/s/{public.token}/export.csv").status_code == 200


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
    link = share(logged_in(user), comparison, system=True)
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
    assert [r["model"] for r in runs] == ["sim:alpha", "sima:claude-sim"]
    assert runs[0]["cost_usd"] == "0.00012300" and runs[0]["prices"]["input_per_m"] == "1.00"

    rows = list(csv.DictReader(io.StringIO(client.get(f"{base}/export.csv").content.decode())))
    assert len(rows) == 2
    assert rows[0]["ttft_ms"] == "120.0" and rows[1]["model"] == "sima:claude-sim"
    assert rows[0]["tokens_per_s"] == "50.0" and rows[0]["cost_usd"] == "0.00012300"

    markdown = client.get(f"{base}/export.md").content.decode()
    assert "| Model | Status | TTFT |" in markdown and "|---|" in markdown
    assert "**Alpha** answers." in markdown
    assert "sk-" not in markdown


def test_widening_to_anyone_issues_a_new_token_and_the_old_one_is_gone(
    client, user, other_user, comparison
):
    owner = logged_in(user)
    team = share(owner, comparison, audience="team")
    teammate = logged_in(other_user)
    assert teammate.get(f"/s/{team.token}/").status_code == 200

    response = owner.post(
        f"/c/{comparison.pk}/share/", {"audience": "public", "expires_in_days": ""}, follow=True
    )
    page = response.content.decode()
    public = Share.objects.get(comparison=comparison, revoked_at__isnull=True)
    assert public.token != team.token and public.audience == "public"
    assert "the old one, given to teammates, stopped working" in page
    assert f"/s/{public.token}/" in page and f"/s/{team.token}/" not in page

    team.refresh_from_db()
    assert team.revoked_at is not None and team.audience == "team"  # the old row is kept
    for visitor in (client, teammate):  # logged out, and logged in
        gone = visitor.get(f"/s/{team.token}/")
        assert gone.status_code == 410 and "No longer shared" in gone.content.decode()
        assert visitor.get(f"/s/{team.token}/export.json").status_code == 410
        assert visitor.get(f"/s/{public.token}/").status_code == 200
    assert Client().get(f"/s/{public.token}/export.csv").status_code == 200


def test_other_changes_keep_the_token(user, comparison):
    owner = logged_in(user)
    public = share(owner, comparison, audience="public")
    narrowed = share(owner, comparison, audience="team", days="7")  # fewer people: same link
    assert narrowed.token == public.token and narrowed.expires_at is not None
    shown = share(owner, comparison, audience="team", system=True, owner=True)
    assert shown.token == public.token and shown.include_system_prompt and shown.include_owner
    assert Share.objects.filter(comparison=comparison).count() == 1
    # No message about a replaced link when none was replaced.
    page = owner.get(f"/c/{comparison.pk}/").content.decode()
    assert "stopped working" not in page


def checked(html: str, name: str) -> bool:
    (tag,) = re.findall(rf'<input type="checkbox" name="{name}"[^>]*>', html)
    return " checked" in tag


def test_public_link_hides_system_prompt_and_owner_unless_chosen(client, user, comparison):
    owner = logged_in(user)
    form = owner.get(f"/c/{comparison.pk}/").content.decode()
    assert 'name="include_system_prompt"' in form and 'name="include_owner"' in form
    assert not checked(form, "include_system_prompt")  # off by default
    assert not checked(form, "include_owner")

    link = share(owner, comparison, audience="public")
    assert not link.include_system_prompt and not link.include_owner
    html = client.get(f"/s/{link.token}/").content.decode()
    assert "Alpha" in html and 'property="og:title"' in html
    assert "Be brief." not in html and "System prompt" not in html
    assert "ada" not in html and "shared by" not in html
    data = json.loads(client.get(f"/s/{link.token}/export.json").content)
    assert data["system_prompt"] is None and data["owner"] is None
    markdown = client.get(f"/s/{link.token}/export.md").content.decode()
    assert "Be brief." not in markdown and "ada" not in markdown
    fork = logged_in(get_user_model().objects.create_user("zed", password="pw-zed-123456"))
    assert "Be brief." not in fork.get(f"/?fork={link.token}").content.decode()

    link = share(owner, comparison, audience="public", system=True, owner=True)
    html = client.get(f"/s/{link.token}/").content.decode()
    assert "Be brief." in html and "shared by ada" in html
    assert (
        'property="og:description" content="Which is faster? — Alpha, Claude Sim · shared by ada"'
        in html
    )
    data = json.loads(client.get(f"/s/{link.token}/export.json").content)
    assert data["system_prompt"] == "Be brief." and data["owner"] == "ada"
    markdown = client.get(f"/s/{link.token}/export.md").content.decode()
    assert "Be brief." in markdown and "Shared by ada" in markdown
    assert "Be brief." in fork.get(f"/?fork={link.token}").content.decode()
    settings = owner.get(f"/c/{comparison.pk}/").content.decode()
    assert checked(settings, "include_system_prompt")  # the form shows what is shared
    assert checked(settings, "include_owner")
