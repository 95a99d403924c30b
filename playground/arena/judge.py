"""The LLM judge: a catalogue model votes on a finished suite run's battles, each in both
position orders, on the "judge" board (never mixed with human votes).

The prompt is MT-Bench's pairwise judge (Zheng et al., "Judging LLM-as-a-Judge with MT-Bench
and Chatbot Arena", NeurIPS 2023), with its [[A]] / [[B]] / [[C]] verdicts. Asking both
orders cancels the judge's position bias: a judge that always prefers the first answer gives
one win to each side, a tie. Each judgment is an ordinary comparison of the user's (through
the playground's own services and streaming code), so its cost is counted and kept."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.datastructures import MultiValueDict

from playground import services as playground_services
from playground.arena.leaderboard import votes_changed
from playground.arena.models import Battle, Vote
from playground.arena.style import style_features
from playground.durability import process_lease
from playground.forms import CompareForm
from playground.models import Run
from playground.streaming import LivePanel, run_panel
from playground.suites.services import case_prompt

RUBRIC = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by"
    " two AI assistants to the user question displayed below. You should choose the"
    " assistant that follows the user's instructions and answers the user's question better."
    " Your evaluation should consider factors such as the helpfulness, relevance, accuracy,"
    " depth, creativity, and level of detail of their responses. Begin your evaluation by"
    " comparing the two responses and provide a short explanation. Avoid any position biases"
    " and ensure that the order in which the responses were presented does not influence"
    " your decision. Do not allow the length of the responses to influence your evaluation."
    " Do not favor certain names of the assistants. Be as objective as possible. After"
    " providing your explanation, output your final verdict by strictly following this format:"
    ' "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)

Verdict = Literal["first", "second", "tie"]
_VERDICT = re.compile(r"\[\[([ABC])\]\]")


class JudgeRefused(ValueError):
    """The judge cannot run (bad model, not the user's suite run...); the message says why."""


def judge_prompt(*, question: str, system: str, first: str, second: str) -> str:
    context = f"[System prompt given to both]\n{system}\n\n" if system else ""
    return (
        f"{context}[User Question]\n{question}\n\n"
        f"[The Start of Assistant A's Answer]\n{first}\n[The End of Assistant A's Answer]\n\n"
        f"[The Start of Assistant B's Answer]\n{second}\n[The End of Assistant B's Answer]"
    )


def parse_verdict(text: str) -> Verdict | None:
    """The judge's last [[A]], [[B]] or [[C]]; None when it gave none."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    return {"A": "first", "B": "second", "C": "tie"}[found[-1]]  # type: ignore[return-value]


def battle_choice(verdict: Verdict, *, swapped: bool) -> str:
    """The verdict in the battle's own order (Model A = position 0): a judge shown B first
    that prefers the first answer voted for B."""
    if verdict == "tie":
        return Vote.Choice.TIE
    first_won = verdict == "first"
    return Vote.Choice.A if first_won != swapped else Vote.Choice.B


@dataclass(frozen=True)
class Judgment:
    """One battle in one order, to ask the judge."""

    battle_id: int
    swapped: bool
    prompt: str


def judgments(
    battles: Sequence[Battle], *, judge_model: str, limit: int | None = None
) -> list[Judgment]:
    """Both orders of every battle the judge has not voted on yet in that order."""
    done = set(
        Vote.objects.filter(
            battle__in=[b.pk for b in battles], board=Vote.Board.JUDGE, judge_model=judge_model
        ).values_list("battle_id", "swapped")
    )
    out: list[Judgment] = []
    for battle in battles:
        if battle.case is None:
            continue
        sides = sorted(battle.sides.all(), key=lambda side: side.position)
        texts = [side.run.text if side.run else "" for side in sides]
        if len(texts) != 2:
            continue
        system, question = case_prompt(battle.case)
        for swapped in (False, True):
            if (battle.pk, swapped) in done:
                continue
            first, second = (texts[1], texts[0]) if swapped else (texts[0], texts[1])
            prompt = judge_prompt(question=question, system=system, first=first, second=second)
            out.append(Judgment(battle.pk, swapped, prompt))
    return out[:limit] if limit is not None else out


def judge_vote_save(
    *, user: AbstractBaseUser, judgment: Judgment, judge_model: str, verdict: Verdict, category: str
) -> Vote | None:
    """The judge's vote for one order (None if it is already there). Leaves the battle
    unrevealed: the owner's own blind vote is still to come."""
    battle = Battle.objects.prefetch_related("sides__run").get(pk=judgment.battle_id)
    sides = sorted(battle.sides.all(), key=lambda side: side.position)
    texts = [side.run.text if side.run else "" for side in sides]
    try:
        with transaction.atomic():
            vote = Vote.objects.create(
                battle=battle,
                voter_id=user.pk,
                board=Vote.Board.JUDGE,
                choice=battle_choice(verdict, swapped=judgment.swapped),
                category=category[:50],
                models_by_position=[side.model_name for side in sides],
                styles=[style_features(text).as_dict() for text in texts],
                judge_model=judge_model,
                swapped=judgment.swapped,
            )
            winner = {Vote.Choice.A: 0, Vote.Choice.B: 1}.get(Vote.Choice(vote.choice))
            if winner is not None:
                vote.winner = sides[winner]
                vote.save(update_fields=["winner"])
            votes_changed()
    except IntegrityError:  # another judge run wrote this order first
        return None
    return vote


class _QuietSink:
    def panel_changed(self, panel: LivePanel, *, urgent: bool) -> None:
        pass

    async def panel_finished(self, panel: LivePanel) -> None:
        pass


def _judge_form(judge_model: str, prompt: str, max_tokens: int | None) -> CompareForm:
    data: MultiValueDict[str, str] = MultiValueDict()
    data["prompt"] = prompt
    data["system"] = RUBRIC
    data.setlist("models", [judge_model])
    data["same_settings"] = "on"
    data["temperature"] = "0"
    if max_tokens is not None:
        data["max_tokens"] = str(max_tokens)
    form = CompareForm(data)
    if not form.is_valid():
        raise JudgeRefused(form.error_text())
    return form


def judge_check(*, judge_model: str, max_tokens: int | None = None) -> None:
    """JudgeRefused, saying why, if this judge cannot be asked (before anything is drawn)."""
    _judge_form(judge_model, "check", max_tokens)


def ask_judge(
    *, user: AbstractBaseUser, judge_model: str, prompt: str, max_tokens: int | None = None
) -> Run:
    """One judgment as an ordinary one-panel comparison of the user's, streamed here."""
    form = _judge_form(judge_model, prompt, max_tokens)
    with process_lease() as owner:
        try:
            starts = playground_services.comparison_start(
                user=user, request=form.compare_request(), owner=owner
            )
        except playground_services.ComparisonRefused as exc:
            raise JudgeRefused(str(exc)) from exc

        async def stream() -> None:
            panels = [LivePanel(start=start) for start in starts]
            for panel in panels:
                panel.life.release()  # comparison_start has written the rows already
            await asyncio.gather(*(run_panel(panel, _QuietSink()) for panel in panels))

        asyncio.run(stream())
    return Run.objects.get(pk=starts[0].run.pk)
