"""Suites: versioned lists of cases, run against several models, each case x model x repeat a
unit saved as an ordinary playground Run.

A suite run owns one Comparison (so its runs show, export and share like any other): one
Turn per case (index = the case's index, prompt = the case's prompt as sent) and one Run per
unit, in panel `model_index * repeats + repeat`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from playground.models import Comparison, QuotaStart, Run, RunCharge


class Suite(models.Model):
    """A named list of cases; saving a suite under a name it already has makes a new version."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suites"
    )
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name", "version"], name="unique_suite_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class SuiteCase(models.Model):
    """One case: a prompt template with {{variables}}, an optional system prompt, the values
    of its variables and optional checks (see playground.suites.checks)."""

    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="cases")
    index = models.PositiveIntegerField()
    prompt = models.TextField(help_text="A template: {{name}} is replaced by vars[name].")
    system = models.TextField(blank=True)
    vars = models.JSONField(default=dict, blank=True)
    checks = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["suite", "index"]
        constraints = [
            models.UniqueConstraint(fields=["suite", "index"], name="unique_suite_case_index")
        ]

    def __str__(self) -> str:
        return f"Case {self.index} of {self.suite_id}"


class SuiteRun(models.Model):
    """A suite version x models x repeats, run in the background (see playground.suites.engine)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        CANCELLED = "cancelled", "cancelled"
        FAILED = "failed", "failed"

    FINAL_STATUSES = (Status.DONE, Status.CANCELLED, Status.FAILED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suite_runs"
    )
    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="runs")
    comparison = models.OneToOneField(
        Comparison, on_delete=models.CASCADE, related_name="suite_run"
    )
    model_specs = models.JSONField(
        default=list, help_text='[{"model": "provider:model", "temperature", "max_tokens"}]'
    )
    repeats = models.PositiveSmallIntegerField(default=1)
    seed = models.BigIntegerField(help_text="Seed of the units' shuffled order.")
    concurrency = models.PositiveSmallIntegerField()
    provider_concurrency = models.JSONField(
        default=dict, blank=True, help_text='Per-provider caps: {"openai": 2}; others: the default.'
    )
    default_provider_concurrency = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    estimate = models.DecimalField(
        max_digits=16, decimal_places=8, null=True, blank=True, help_text="The most it could cost."
    )
    reserved = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    spent = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    quota_start = models.ForeignKey(
        QuotaStart, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["owner", "-created"], name="suite_run_owner_created")]

    def __str__(self) -> str:
        return f"Suite run {self.pk} of {self.suite}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class SuiteUnit(models.Model):
    """One case x model x repeat: claimed by one worker process, run, and saved once."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        CLAIMED = "claimed", "running"
        FINISHED = "finished", "finished"
        CANCELLED = "cancelled", "cancelled"

    suite_run = models.ForeignKey(SuiteRun, on_delete=models.CASCADE, related_name="units")
    order = models.PositiveIntegerField(help_text="Its place in the run's shuffled order.")
    case = models.ForeignKey(SuiteCase, on_delete=models.CASCADE, related_name="+")
    model_index = models.PositiveSmallIntegerField()
    model_name = models.CharField(max_length=250)
    provider_slug = models.CharField(max_length=50)
    repeat = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times it was claimed.")
    claimed_by = models.CharField(max_length=64, blank=True, help_text="The worker process.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    run = models.OneToOneField(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="suite_unit"
    )
    charge = models.ForeignKey(
        RunCharge, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reserved = models.DecimalField(max_digits=16, decimal_places=8, null=True, blank=True)
    check_results = models.JSONField(default=list, blank=True)
    passed = models.BooleanField(
        null=True,
        blank=True,
        help_text="True: done and every check passed; False: a check failed, or the answer "
        "failed; empty: its case has no checks, or it has not finished.",
    )

    class Meta:
        ordering = ["suite_run", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["suite_run", "case", "model_index", "repeat"], name="unique_suite_unit"
            ),
            models.UniqueConstraint(fields=["suite_run", "order"], name="unique_suite_unit_order"),
        ]
        indexes = [
            models.Index(fields=["suite_run", "status", "order"], name="suite_unit_next"),
            # The live page's watch: the units finished since it last looked.
            models.Index(fields=["suite_run", "finished"], name="suite_unit_finished"),
        ]

    def __str__(self) -> str:
        return f"Unit {self.order} of suite run {self.suite_run_id}"
