"""Exact counts from the model's own tokenizer, the finish reason, and the busy seconds.

The busy seconds (`Usage.gpu_seconds`) are the time `generate` held the device, until its
queued work had finished; the price per GPU-hour makes them a cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inference.backends.base import FinishReason, Usage
from inference.backends.local.reasoning import THINK_CLOSE, ThinkSplitter

if TYPE_CHECKING:
    from inference.backends.local.generation import Outcome
    from inference.backends.local.loading import LoadedModel


def usage(
    input_tokens: int, outcome: Outcome, tokenizer: Any, splitter: ThinkSplitter | None = None
) -> Usage:
    """The counts of a generation; reasoning tokens only when `splitter` saw its end."""
    ids = outcome.token_ids
    return Usage(
        input_tokens=input_tokens,
        output_tokens=len(ids),
        reasoning_tokens=reasoning_tokens(tokenizer, ids, splitter) if splitter else 0,
        gpu_seconds=outcome.seconds,
    )


def finish_reason(ids: list[int], max_new_tokens: int, loaded: LoadedModel) -> FinishReason:
    ran_out = len(ids) >= max_new_tokens
    ended_by_eos = bool(ids) and ids[-1] in eos_ids(loaded)
    return "length" if ran_out and not ended_by_eos else "stop"


def eos_ids(loaded: LoadedModel) -> set[int]:
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    if eos is None:
        return set()
    return {eos} if isinstance(eos, int) else set(eos)


def single_token_id(tokenizer: Any, text: str) -> int | None:
    """The id of `text` when the vocabulary has it as one token, else None."""
    token_id = tokenizer.convert_tokens_to_ids(text)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        return None
    return token_id


def reasoning_tokens(tokenizer: Any, ids: list[int], splitter: ThinkSplitter) -> int:
    """Exact when the closing marker is one token of the vocabulary, else 0 (never a guess)."""
    if not splitter.saw_reasoning:
        return 0
    close_id = single_token_id(tokenizer, THINK_CLOSE)
    if close_id is None:
        return 0
    return ids.index(close_id) + 1 if close_id in ids else len(ids)
