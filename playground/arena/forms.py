"""The vote bar's form: which side won (or a tie, or all bad) and an optional category."""

from __future__ import annotations

from django import forms

from playground.arena.models import Vote
from playground.arena.services import MAX_CATEGORY_CHARS

SIMPLE_PICKS = frozenset({Vote.Choice.A, Vote.Choice.B, Vote.Choice.TIE, Vote.Choice.BOTH_BAD})


class VoteForm(forms.Form):
    """`pick` is a button's value: a, b, tie, both_bad, or best-<position> (best of N)."""

    pick = forms.CharField(
        max_length=20, error_messages={"required": "Pick a winner, a tie or both bad."}
    )
    category = forms.CharField(
        required=False,
        max_length=MAX_CATEGORY_CHARS,
        error_messages={"max_length": f"A category is at most {MAX_CATEGORY_CHARS} characters."},
    )

    def clean_pick(self) -> str:
        pick: str = self.cleaned_data["pick"]
        if pick in SIMPLE_PICKS:
            return pick
        _, dash, position = pick.partition("-")
        if pick.startswith("best-") and dash and position.isdigit() and len(position) < 3:
            return pick
        raise forms.ValidationError("Unknown vote: pick a winner, a tie or both bad.")

    def choice(self) -> tuple[str, int | None]:
        """The vote as vote_cast takes it: (choice, winner_position)."""
        pick: str = self.cleaned_data["pick"]
        if pick.startswith("best-"):
            return Vote.Choice.BEST, int(pick.removeprefix("best-"))
        return pick, None

    def error_text(self) -> str:
        return " ".join(str(error) for errors in self.errors.values() for error in errors)
