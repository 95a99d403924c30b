"""The blind arena: battles whose sides stay anonymous until their one vote, the votes, and
the leaderboards computed from them in the background.

A battle is either a blind comparison (the user's own prompt, streamed on the compare page:
`comparison` is set, and each side is a panel position of it, across all its turns) or a
pair of cells of a finished suite run (`suite_run` and `case` are set, and each side names
the Run it shows). Either way the sides are listed in the order they are shown, "Model A"
first; that order is drawn at random when the battle is made.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from playground.models import Comparison, Run
from playground.suites.models import SuiteCase, SuiteRun


class Battle(models.Model):
    """Two or more anonymous sides shown to one voter; revealed by its vote."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="battles"
    )
    comparison = models.OneToOneField(
        Comparison,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="battle",
        help_text="The blind comparison this battle is (compare-page battles).",
    )
    suite_run = models.ForeignKey(
        SuiteRun, on_delete=models.CASCADE, null=True, blank=True, related_name="battles"
    )
    case = models.ForeignKey(
        SuiteCase, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    pool = models.JSONField(
        default=list, blank=True, help_text="The model names the sides were drawn from."
    )
    show_timing = models.BooleanField(
        default=False, help_text="Show timing before the vote (speed can reveal the host)."
    )
    created = models.DateTimeField(auto_now_add=True)
    revealed = models.DateTimeField(null=True, blank=True, help_text="When its vote came.")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["owner", "-created"], name="battle_owner_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(comparison__isnull=False) | Q(suite_run__isnull=False),
                name="battle_has_a_source",
            )
        ]

    def __str__(self) -> str:
        return f"Battle {self.pk}"

    @property
    def is_revealed(self) -> bool:
        return self.revealed is not None


class BattleSide(models.Model):
    """One anonymous side: "Model A" is position 0. `model_name` is the secret."""

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="sides")
    position = models.PositiveSmallIntegerField(help_text="Shown order: 0 is Model A.")
    model_name = models.CharField(
        max_length=250, help_text="provider:model (hidden until the vote)"
    )
    panel = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Compare battles: the comparison's panel position."
    )
    run = models.ForeignKey(
        Run,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Suite battles: the cell's run.",
    )

    class Meta:
        ordering = ["battle", "position"]
        constraints = [
            models.UniqueConstraint(fields=["battle", "position"], name="unique_battle_side")
        ]

    def __str__(self) -> str:
        return f"Side {self.letter} of battle {self.battle_id}"

    @property
    def letter(self) -> str:
        return chr(ord("A") + self.position)


class Vote(models.Model):
    """One judgement of one battle: by its human voter (one per battle), or by an LLM judge
    (the "judge" board, never mixed with human votes; one per judge and position order)."""

    class Choice(models.TextChoices):
        A = "a", "A is better"
        B = "b", "B is better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both are bad"
        BEST = "best", "Best of N"

    class Board(models.TextChoices):
        HUMAN = "human", "human votes"
        JUDGE = "judge", "LLM judge"

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arena_votes"
    )
    board = models.CharField(max_length=5, choices=Board.choices, default=Board.HUMAN)
    choice = models.CharField(max_length=8, choices=Choice.choices)
    winner = models.ForeignKey(
        BattleSide,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The side judged best (A, B, or best of N); empty for a tie or both bad.",
    )
    category = models.CharField(max_length=50, blank=True, help_text="The prompt's category.")
    models_by_position = models.JSONField(
        default=list, help_text="The sides' model names, Model A first, as they were voted."
    )
    styles = models.JSONField(
        default=list, help_text="Each side's style features (length, headers, lists, bold)."
    )
    judge_model = models.CharField(max_length=250, blank=True, help_text="Judge votes only.")
    swapped = models.BooleanField(
        default=False, help_text="Judge votes: the sides were shown to the judge B first."
    )
    excluded = models.BooleanField(
        default=False, help_text="Left out of every leaderboard (staff exclude a voter)."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["board", "excluded", "created"], name="vote_board_created"),
            models.Index(fields=["voter", "-created"], name="vote_voter_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["battle"], condition=Q(board="human"), name="one_human_vote_per_battle"
            ),
            models.UniqueConstraint(
                fields=["battle", "judge_model", "swapped"],
                condition=Q(board="judge"),
                name="one_judge_vote_per_order",
            ),
        ]

    def __str__(self) -> str:
        return f"Vote on battle {self.battle_id}: {self.choice}"


class Leaderboard(models.Model):
    """A computed leaderboard for one set of filters, recomputed in the background when votes
    arrive; pages only read it. `votes_seen` says which votes it counted."""

    class State(models.TextChoices):
        QUEUED = "queued", "computing"
        READY = "ready", "ready"

    key = models.CharField(max_length=64, unique=True, help_text="Digest of the filters.")
    filters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=6, choices=State.choices, default=State.QUEUED)
    result = models.JSONField(default=dict, blank=True)
    votes_seen = models.PositiveIntegerField(
        default=0, help_text="The newest vote id it counted (0: none yet)."
    )
    requested = models.DateTimeField(auto_now=True)
    computed = models.DateTimeField(null=True, blank=True)
    viewed = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a page last read it: boards nobody looked at for a week are refitted "
        "only once somebody looks again, so old filter sets cost no work per vote.",
    )

    class Meta:
        ordering = ["-requested"]

    def __str__(self) -> str:
        return f"Leaderboard {self.key[:8]}"
