"""Reads for the authoring pages: the user's suites, their versions, cases and runs."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count

from playground.suites.models import Suite, SuiteCase, SuiteRun

CASES_SHOWN = 200


@dataclass(frozen=True, slots=True)
class SuiteVersion:
    """One version of a suite with how many cases and runs it has."""

    suite: Suite
    cases: int
    runs: int


@dataclass(frozen=True, slots=True)
class SuiteGroup:
    """Every version of one suite name, newest first."""

    name: str
    versions: list[SuiteVersion]


def suite_for(*, user: AbstractBaseUser, suite_id: int) -> Suite:
    """The user's own suite; Suite.DoesNotExist otherwise."""
    return Suite.objects.get(pk=suite_id, owner_id=user.pk)


def suites_of(*, user: AbstractBaseUser) -> list[SuiteGroup]:
    """The user's suites by name (in order), each version with its counts; three queries."""
    suites = Suite.objects.filter(owner_id=user.pk).order_by("name", "-version")
    cases = dict(
        SuiteCase.objects.filter(suite__owner_id=user.pk)
        .values("suite_id")
        .annotate(n=Count("pk"))
        .values_list("suite_id", "n")
    )
    runs = dict(
        SuiteRun.objects.filter(owner_id=user.pk)
        .values("suite_id")
        .annotate(n=Count("pk"))
        .values_list("suite_id", "n")
    )
    groups: dict[str, list[SuiteVersion]] = {}
    for suite in suites:
        version = SuiteVersion(suite, cases.get(suite.pk, 0), runs.get(suite.pk, 0))
        groups.setdefault(suite.name, []).append(version)
    return [SuiteGroup(name=name, versions=versions) for name, versions in groups.items()]


def suite_versions(*, suite: Suite) -> list[Suite]:
    """Every version of the suite's name, newest first."""
    return list(Suite.objects.filter(owner_id=suite.owner_id, name=suite.name).order_by("-version"))


def suite_cases(*, suite: Suite) -> tuple[list[SuiteCase], int]:
    """The first CASES_SHOWN cases and how many there are in all."""
    cases = suite.cases.order_by("index")
    return list(cases[:CASES_SHOWN]), cases.count()


def suite_runs(*, suite: Suite) -> list[SuiteRun]:
    return list(SuiteRun.objects.filter(suite=suite, owner_id=suite.owner_id)[:50])
