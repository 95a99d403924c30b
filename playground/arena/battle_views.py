"""The vote on a compare-page battle: thin, over the arena's services and the page view."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from playground.arena import services
from playground.arena.forms import VoteForm
from playground.arena.models import Battle
from playground.models import Comparison
from playground.views import comparison_page


@require_POST
def vote(request: HttpRequest, pk: int) -> HttpResponse:
    """Cast the battle's one vote, then show its comparison revealed (or say why not)."""
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        raise Http404("Log in first.")
    battle = get_object_or_404(Battle, pk=pk, owner_id=user.pk, comparison__isnull=False)
    form = VoteForm(request.POST)
    refusal = ""
    if form.is_valid():
        choice, winner_position = form.choice()
        try:
            services.vote_cast(
                user=user,
                battle_id=battle.pk,
                choice=choice,
                winner_position=winner_position,
                category=form.cleaned_data["category"],
            )
        except services.VoteRefused as exc:
            refusal = str(exc)
    else:
        refusal = form.error_text()
    if not refusal:
        return redirect(f"/c/{battle.comparison_id}/#battle-outcome")
    comparison = get_object_or_404(Comparison, pk=battle.comparison_id, owner_id=user.pk)
    return comparison_page(request, comparison, battle_notice=refusal, status=400)
