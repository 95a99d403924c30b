"""Deleting: one comparison (owner only, confirmed in the page; its links answer 410), or all
of one's own data (every comparison, run and share; the user stays logged in)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from playground.models import Comparison, Run, Share, ShareTombstone, Turn

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make(owner, title: str, status: str = Run.Status.DONE) -> Comparison:
    comparison = Comparison.objects.create(owner=owner, title=title)
    turn = Turn.objects.create(comparison=comparison, index=0, prompt=title)
    for position in range(2):
        Run.objects.create(
            comparison=comparison,
            turn=turn,
            position=position,
            model_name=f"sim:m{position}",
            model_label=f"M{position}",
            provider_label="Sim",
            provider_kind="openai",
            status=status,
            text=f"{title} answer {position}",
            cost=Decimal("0.0001"),
        )
    return comparison


def links(comparison: Comparison) -> tuple[Share, Share, Share]:
    """An active public link, a revoked one and a team one (revoked by the widening)."""
    revoked = Share.objects.create(comparison=comparison, audience="public")
    Share.objects.filter(pk=revoked.pk).update(revoked_at="2026-01-01T00:00:00Z")
    team = Share.objects.create(comparison=comparison, audience="team")
    public = Share.objects.create(comparison=comparison, audience="public")
    return public, revoked, team


def test_the_pages_offer_delete_with_a_confirmation(user):
    comparison = make(user, "to delete")
    client = logged_in(user)
    action = f'action="/c/{comparison.pk}/delete/"'
    for url in (f"/c/{comparison.pk}/", "/history/"):
        page = client.get(url).content.decode()
        (confirm,) = re.findall(r'<details class="delete-confirm">.*?</details>', page, re.S)
        assert action in confirm and 'method="post"' in confirm
        assert "cannot be undone" in confirm and "Delete for good" in confirm
    assert 'href="/accounts/data/"' in client.get("/history/").content.decode()


def test_deleting_a_comparison_removes_it_and_its_links_answer_410(client, user, other_user):
    comparison = make(user, "to delete")
    kept = make(user, "to keep")
    public, revoked, team = links(comparison)
    kept_link = Share.objects.create(comparison=kept, audience="public")
    owner = logged_in(user)
    assert owner.get(f"/c/{comparison.pk}/delete/").status_code == 405  # POST only

    response = owner.post(f"/c/{comparison.pk}/delete/", follow=True)
    assert response.redirect_chain == [("/history/", 302)]
    page = response.content.decode()
    assert "Deleted the comparison and its 3 links." in page
    assert "to delete" not in page and "to keep" in page
    assert not Comparison.objects.filter(pk=comparison.pk).exists()
    assert not Run.objects.filter(comparison_id=comparison.pk).exists()
    assert not Turn.objects.filter(comparison_id=comparison.pk).exists()
    assert not Share.objects.filter(pk__in=[public.pk, revoked.pk, team.pk]).exists()
    assert ShareTombstone.objects.count() == 3  # digests only
    assert not ShareTombstone.objects.filter(token_digest=public.token).exists()

    teammate = logged_in(other_user)
    for visitor in (client, teammate, owner):  # logged out, another user, the owner
        for share in (public, revoked, team):
            gone = visitor.get(f"/s/{share.token}/")
            assert gone.status_code == 410, share.audience
            assert "deleted this comparison" in gone.content.decode()
            assert visitor.get(f"/s/{share.token}/export.csv").status_code == 410
        assert visitor.get(f"/s/{kept_link.token}/").status_code == 200
    assert client.get("/s/never-a-token/").status_code == 404  # unknown stays unknown
    assert owner.get(f"/c/{comparison.pk}/").status_code == 404
    assert owner.post(f"/c/{comparison.pk}/delete/").status_code == 404  # already gone


def test_only_the_owner_can_delete(user, other_user):
    comparison = make(user, "mine")
    share = Share.objects.create(comparison=comparison, audience="team")
    intruder = logged_in(other_user)
    assert intruder.post(f"/c/{comparison.pk}/delete/").status_code == 404
    assert Client().post(f"/c/{comparison.pk}/delete/").status_code == 302  # to the login
    assert Comparison.objects.filter(pk=comparison.pk).exists()
    assert intruder.get(f"/s/{share.token}/").status_code == 200
    assert ShareTombstone.objects.count() == 0


def test_a_streaming_comparison_is_not_deleted(user):
    comparison = make(user, "still streaming", status=Run.Status.STREAMING)
    response = logged_in(user).post(f"/c/{comparison.pk}/delete/", follow=True)
    assert "still streaming: stop it" in response.content.decode()
    assert Run.objects.filter(comparison=comparison).count() == 2


def test_deleting_all_my_data(client, user, other_user):
    first, second = make(user, "first"), make(user, "second")
    first_links = links(first)
    second_link = Share.objects.create(comparison=second, audience="team")
    theirs = make(other_user, "theirs")
    their_link = Share.objects.create(comparison=theirs, audience="public")
    me = logged_in(user)

    page = me.get("/accounts/data/").content.decode()
    assert "2 comparisons with 4 answers, and 4 share links" in page
    assert "You stay logged in" in page

    refused = me.post("/accounts/data/", {})  # not confirmed
    assert refused.status_code == 400 and "Tick the box" in refused.content.decode()
    assert Comparison.objects.filter(owner=user).count() == 2

    done = me.post("/accounts/data/", {"confirm": "delete"})
    assert done.status_code == 200
    html = done.content.decode()
    assert "Deleted 2 comparisons, 4 answers and 4 share links." in html
    assert "You are still logged in as ada" in html
    assert not Comparison.objects.filter(owner=user).exists()
    assert not Run.objects.filter(comparison__owner=user).exists()
    assert not Share.objects.filter(comparison__owner=user).exists()
    for share in (*first_links, second_link):
        assert client.get(f"/s/{share.token}/").status_code == 410

    # Still logged in, as the page says; the other user's data is untouched.
    history = me.get("/history/")
    assert history.status_code == 200 and "No comparisons yet" in history.content.decode()
    assert Comparison.objects.filter(pk=theirs.pk).exists()
    assert Run.objects.filter(comparison=theirs).count() == 2
    assert client.get(f"/s/{their_link.token}/").status_code == 200
    assert "There is nothing to delete" in me.get("/accounts/data/").content.decode()


def test_the_data_page_needs_a_login(client):
    response = client.get("/accounts/data/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post("/accounts/data/", {"confirm": "delete"}).status_code == 302
