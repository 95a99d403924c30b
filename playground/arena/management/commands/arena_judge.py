"""manage.py arena_judge SUITE_RUN_ID --judge MODEL: an LLM judge votes on every battle of a
finished suite run, both position orders, on the "judge" board (see playground.arena.judge)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from playground.arena.judge import (
    JudgeRefused,
    ask_judge,
    judge_check,
    judge_vote_save,
    judgments,
    parse_verdict,
)
from playground.arena.models import Battle
from playground.arena.suite_battles import (
    SuiteBattleRefused,
    default_category,
    suite_battles_draw_all,
)
from playground.management.users import command_user
from playground.models import Run


class Command(BaseCommand):
    help = "Let a catalogue model judge a finished suite run's battles (both orders) blind."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("suite_run", type=int, metavar="SUITE_RUN_ID")
        parser.add_argument("--judge", required=True, help="the judge, provider:model")
        parser.add_argument("--user", help="the suite run's owner (default: the first admin)")
        parser.add_argument("--limit", type=int, help="at most this many judgments this time")
        parser.add_argument("--max-tokens", type=int, help="the judge's max tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        user = command_user(options["user"])
        judge = options["judge"]
        try:
            judge_check(judge_model=judge, max_tokens=options["max_tokens"])
        except JudgeRefused as exc:
            raise CommandError(str(exc)) from exc
        try:
            battles = suite_battles_draw_all(user=user, suite_run_id=options["suite_run"])
        except SuiteBattleRefused as exc:
            raise CommandError(str(exc)) from exc
        todo = judgments(battles, judge_model=judge, limit=options["limit"])
        by_id: dict[int, Battle] = {battle.pk: battle for battle in battles}
        voted = unclear = failed = 0
        for judgment in todo:
            try:
                run = ask_judge(
                    user=user, judge_model=judge, prompt=judgment.prompt,
                    max_tokens=options["max_tokens"],
                )  # fmt: skip
            except JudgeRefused as exc:
                raise CommandError(str(exc)) from exc
            battle = by_id[judgment.battle_id]
            order = "B first" if judgment.swapped else "A first"
            verdict = parse_verdict(run.text) if run.status == Run.Status.DONE else None
            if run.status != Run.Status.DONE:
                failed += 1
                self.stderr.write(
                    f"Battle {battle.pk} ({order}): the judge {run.status}: {run.error}"
                )
                continue
            if verdict is None:
                unclear += 1
                self.stderr.write(f"Battle {battle.pk} ({order}): no [[A]], [[B]] or [[C]] verdict")
                continue
            assert battle.case is not None and battle.suite_run is not None
            category = default_category(battle.case, battle.suite_run)
            if judge_vote_save(
                user=user, judgment=judgment, judge_model=judge, verdict=verdict, category=category
            ):
                voted += 1
                self.stdout.write(f"Battle {battle.pk} ({order}): {verdict}")
        self.stdout.write(
            f"{voted} judge vote{'s' if voted != 1 else ''} saved; {unclear} without a verdict,"
            f" {failed} failed; {len(todo) - voted - unclear - failed} already there."
        )
