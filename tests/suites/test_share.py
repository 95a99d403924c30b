"""A suite run shares through its comparison's link: the same rules (teammates or anyone,
expiry, revoked and deleted answer 410, the system prompt and the owner's name only when
ticked), a read-only page with the progress, matrix, figures and charts, and its exports."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from playground import services as playground_services
from playground.models import Comparison, Share
from playground.suites.services import ModelSpec
from tests.suites.runs import answers, create_run, finish

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished(user, sim, sim_models):
    answers(sim)
    return finish(create_run(user, models=[ModelSpec("sim:alpha"), ModelSpec("sim:beta")]))


@pytest.fixture
def viewer(db):
    return get_user_model().objects.create_user("bob", password="pw-bob-123456")


def share(user, suite_run, **options):
    options.setdefault("audience", Share.Audience.TEAM)
    options.setdefault("expires_in_days", None)
    return playground_services.share_save(
        user=user, comparison_id=suite_run.comparison_id, **options
    ).share


def client_for(user=None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_a_teammate_sees_the_shared_suite_page_read_only(user, viewer, finished):
    link = share(user, finished)
    page = client_for(viewer).get(f"/suites/shared/{link.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="suite-progress"' in html and 'id="suite-matrix"' in html
    assert 'id="suite-results"' in html and html.count('class="strip-plot"') == 2
    assert html.count('class="suite-cell ') == 8  # 2 cases x 2 models x 2 repeats
    # Read-only: no socket, no cancel; answers open on the shared comparison page.
    assert "ws-connect" not in html and "cancel" not in html.lower()
    assert f'href="/s/{link.token}/#run-' in html
    assert f"/c/{finished.comparison_id}/" not in html
    assert "noindex" in html  # teammates' links are not for search engines
    # Teammates only: a visitor who is not logged in is sent to log in first.
    anonymous = client_for().get(f"/suites/shared/{link.token}/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert client_for().get(f"/suites/shared/{link.token}/export.json").status_code == 302


def test_a_public_link_opens_for_anyone_and_hides_what_was_not_ticked(user, finished):
    link = share(user, finished, audience=Share.Audience.PUBLIC)
    page = client_for().get(f"/suites/shared/{link.token}/").content.decode()
    assert 'id="suite-matrix"' in page
    assert "ada" not in page  # the owner's name only when ticked
    data = json.loads(client_for().get(f"/suites/shared/{link.token}/export.json").content)
    assert data["suite_run"]["owner"] is None
    assert {row["system"] for row in data["units"]} == {None}
    assert len(data["units"]) == 8
    csv_text = client_for().get(f"/suites/shared/{link.token}/export.csv").content.decode()
    assert "You are terse" not in csv_text and "'=1+1 is it yes?" in csv_text

    link = share(
        user, finished, audience=Share.Audience.PUBLIC, include_owner=True,
        include_system_prompt=True,
    )  # fmt: skip
    page = client_for().get(f"/suites/shared/{link.token}/").content.decode()
    assert "Shared by ada" in page
    data = json.loads(client_for().get(f"/suites/shared/{link.token}/export.json").content)
    assert data["suite_run"]["owner"] == "ada"
    assert "You are terse about yes." in {row["system"] for row in data["units"]}


def test_revoked_expired_and_deleted_links_are_gone(user, viewer, finished):
    link = share(user, finished)
    playground_services.share_revoke(user=user, comparison_id=finished.comparison_id)
    for url in (f"/suites/shared/{link.token}/", f"/suites/shared/{link.token}/export.csv"):
        assert client_for(viewer).get(url).status_code == 410

    link = share(user, finished)
    Share.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert client_for(viewer).get(f"/suites/shared/{link.token}/").status_code == 410

    link = share(user, finished)
    assert client_for(viewer).get(f"/suites/shared/{link.token}/").status_code == 200
    playground_services.comparison_delete(user=user, comparison_id=finished.comparison_id)
    for url in (f"/suites/shared/{link.token}/", f"/suites/shared/{link.token}/export.json"):
        assert client_for(viewer).get(url).status_code == 410  # its tombstone
    assert client_for(viewer).get("/suites/shared/no-such-token/").status_code == 404


def test_a_plain_comparisons_link_is_not_a_suite_page(user, viewer, finished):
    comparison = Comparison.objects.create(owner=user, title="Just a comparison")
    link = playground_services.share_save(
        user=user, comparison_id=comparison.pk, audience="team", expires_in_days=None
    ).share
    assert client_for(viewer).get(f"/suites/shared/{link.token}/").status_code == 404
    # The shared comparison page links to the suite results only for a suite run's.
    assert "suite results" not in client_for(viewer).get(f"/s/{link.token}/").content.decode()
    suite_link = share(user, finished)
    shared = client_for(viewer).get(f"/s/{suite_link.token}/").content.decode()
    assert f'href="/suites/shared/{suite_link.token}/">suite results</a>' in shared


def test_the_owners_page_links_to_sharing_and_to_the_shared_page(user, finished):
    page = client_for(user).get(f"/suites/runs/{finished.pk}/").content.decode()
    assert f'href="/c/{finished.comparison_id}/#share">Share…</a>' in page
    link = share(user, finished)
    page = client_for(user).get(f"/suites/runs/{finished.pk}/").content.decode()
    assert f'href="/suites/shared/{link.token}/"' in page
    assert "Share…" not in page
    # Another user's run is nobody else's page.
    other = get_user_model().objects.create_user("eve", password="pw-eve-123456")
    assert client_for(other).get(f"/suites/runs/{finished.pk}/").status_code == 404
