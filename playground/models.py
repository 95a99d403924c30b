"""Comparisons: one prompt (and its follow-ups) sent to several models, each answer a Run."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class Comparison(models.Model):
    """One comparison: a system prompt, the panels' models, and one or more turns."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons"
    )
    title = models.CharField(max_length=200, blank=True)
    system_prompt = models.TextField(blank=True)
    same_settings = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["owner", "-created"], name="comparison_owner_created")]

    def __str__(self) -> str:
        return self.title or f"Comparison {self.pk}"


class Turn(models.Model):
    """One prompt sent to every panel: the first one (index 0) or a follow-up."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    prompt = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["comparison", "index"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "index"], name="unique_turn_index")
        ]

    def __str__(self) -> str:
        return f"Turn {self.index} of {self.comparison_id}"


class Run(models.Model):
    """One model's answer to one turn, in one panel, with its metrics and cost."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting"
        STREAMING = "streaming", "streaming"
        DONE = "done", "done"
        ERROR = "error", "error"
        STOPPED = "stopped", "stopped"
        INTERRUPTED = "interrupted", "interrupted"

    class CostSource(models.TextChoices):
        PROVIDER = "provider", "provider usage × price table"
        ESTIMATED = "estimated", "estimated tokens × price table"
        GPU_TIME = "gpu_time", "GPU time × price per GPU-hour"
        UNKNOWN = "unknown", "unknown (no price)"
        NOT_BILLED = "not_billed", "not billed (failed before the first token)"

    FINAL_STATUSES = (Status.DONE, Status.ERROR, Status.STOPPED, Status.INTERRUPTED)
    LIVE_STATUSES = (Status.PENDING, Status.STREAMING)

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="runs")
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="runs")
    position = models.PositiveSmallIntegerField(help_text="The panel, from 0 (left).")
    attempt = models.PositiveSmallIntegerField(default=1)
    superseded = models.BooleanField(default=False, help_text="A retry of this panel replaced it.")

    # The model as it was when the run started; kept even if the catalogue entry goes away.
    model = models.ForeignKey(
        "inference.Model", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    model_name = models.CharField(max_length=250)
    model_label = models.CharField(max_length=200)
    provider_label = models.CharField(max_length=100)
    provider_kind = models.CharField(max_length=20)
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    error = models.TextField(blank=True)
    error_detail = models.TextField(
        blank=True,
        help_text="For staff only: what the error message leaves out (e.g. the address that "
        "refused the connection). Never shown to users or share viewers.",
    )
    finish_reason = models.CharField(max_length=20, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="e.g. shared GPU, retried")

    ttft_ms = models.FloatField(null=True, blank=True, help_text="Time to the first token.")
    answer_ttft_ms = models.FloatField(
        null=True, blank=True, help_text="Time to the first answer token (after any thinking)."
    )
    total_ms = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True, help_text="Decode speed.")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    tokens_estimated = models.BooleanField(default=False)
    gpu_seconds = models.FloatField(null=True, blank=True)

    prices = models.JSONField(default=dict, blank=True, help_text="The price snapshot used.")
    cost = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    cost_source = models.CharField(
        max_length=12, choices=CostSource.choices, default=CostSource.UNKNOWN
    )
    retries = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts refused before the one that answered."
    )
    retry_wait_ms = models.FloatField(
        null=True, blank=True, help_text="Time spent on refused attempts and their backoff."
    )
    # Durability: the process streaming the run, and when its text was last checkpointed.
    owner = models.CharField(max_length=64, blank=True, db_index=True)
    checkpointed = models.DateTimeField(null=True, blank=True)
    timeline = models.JSONField(
        default=list,
        blank=True,
        help_text="Arrival of each sent frame: [ms since start, text length, reasoning length].",
    )

    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["turn__index", "position", "attempt"]
        indexes = [models.Index(fields=["comparison", "superseded"], name="run_comparison_current")]

    def __str__(self) -> str:
        return f"{self.model_name} in comparison {self.comparison_id}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class ServerProcess(models.Model):
    """A process that streams runs; its heartbeat says it is alive (see playground.durability)."""

    id = models.CharField(primary_key=True, max_length=64)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started = models.DateTimeField(default=timezone.now)
    heartbeat = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class UserQuota(models.Model):
    """Per-user limits an admin sets: a daily spending cap and a pace of comparisons."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )
    daily_spend_limit = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="USD per day (UTC). Blank: no limit.",
    )
    comparisons_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Blank: the site default."
    )

    def __str__(self) -> str:
        return f"Limits for {self.user}"


class QuotaStart(models.Model):
    """One start of one user (a comparison, a follow-up or a retry): a slot of the pace.

    Written in the start's own transaction, serialised per user on the UserQuota row, so
    parallel sockets and processes cannot all pass the same check. Kept when the comparison
    is deleted: deleting history never gives budget back.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_starts"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "created"], name="quota_start_user_created")]

    def __str__(self) -> str:
        return f"Start by {self.user_id} at {self.created:%Y-%m-%d %H:%M:%S}"


class RunCharge(models.Model):
    """What one run may cost (reserved at start), then what it did cost (at finish)."""

    start = models.ForeignKey(QuotaStart, on_delete=models.CASCADE, related_name="charges")
    run = models.OneToOneField(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="charge"
    )
    reserved = models.DecimalField(
        max_digits=16,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="The most it could cost: input plus max tokens of output.",
    )
    cost = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    settled = models.BooleanField(default=False, help_text="Set when the run finished.")

    def __str__(self) -> str:
        return f"Charge for run {self.run_id}"


def new_share_token() -> str:
    """192 random bits, URL-safe; never derived from the comparison's id."""
    return secrets.token_urlsafe(24)


class Share(models.Model):
    """A read-only link to a comparison. Revoking keeps the row; sharing again makes a new token."""

    class Audience(models.TextChoices):
        TEAM = "team", "Teammates (anyone logged in here)"
        PUBLIC = "public", "Anyone with the link"

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="shares")
    token = models.CharField(max_length=64, unique=True, default=new_share_token)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.TEAM)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    include_system_prompt = models.BooleanField(
        default=False, help_text="The shared page and its exports show the system prompt."
    )
    include_owner = models.BooleanField(
        default=False, help_text="The shared page and its exports name the owner."
    )

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Share of comparison {self.comparison_id}"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


def share_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ShareTombstone(models.Model):
    """A link whose comparison was deleted: only its token's digest is kept, so that the link
    answers 410 ("no longer shared") rather than 404; nothing else of the comparison stays."""

    token_digest = models.CharField(max_length=64, unique=True)
    deleted = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Deleted share {self.token_digest[:8]}…"
