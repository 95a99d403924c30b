"""The leaderboard's filter form (a GET form shared by the leaderboard and decision pages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser

from playground.arena.leaderboard import BOARDS, BoardFilters

EVERYONE, ME = "", "me"


class BoardFilterForm(forms.Form):
    board = forms.ChoiceField(
        choices=[("human", "Human votes"), ("judge", "LLM judge")], required=False
    )
    style = forms.BooleanField(required=False, label="Style controlled")
    user = forms.ChoiceField(required=False, label="Votes by")
    category = forms.CharField(max_length=50, required=False)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    models = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Models (none ticked: all)"
    )

    def __init__(
        self,
        data: Any,
        *,
        viewer: AbstractBaseUser,
        model_choices: Sequence[str],
        voters: Sequence[tuple[int, str]] = (),
    ) -> None:
        super().__init__(data)
        self.viewer = viewer
        users: list[tuple[str, str]] = [(EVERYONE, "everyone"), (ME, "me")]
        if getattr(viewer, "is_staff", False):
            users += [(str(pk), name) for pk, name in voters if pk != viewer.pk]
        user_field = self.fields["user"]
        assert isinstance(user_field, forms.ChoiceField)
        user_field.choices = users
        models_field = self.fields["models"]
        assert isinstance(models_field, forms.MultipleChoiceField)
        models_field.choices = [(name, name) for name in model_choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> BoardFilters:
        """The filters of a valid form (call is_valid first)."""
        data = self.cleaned_data
        user = data.get("user") or EVERYONE
        return BoardFilters(
            board=data.get("board") or BOARDS[0],
            style_control=bool(data.get("style")),
            user_id=None if user == EVERYONE else self.viewer.pk if user == ME else int(user),
            category=data.get("category") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            models=tuple(data.get("models") or ()),
        )
