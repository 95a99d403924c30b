"""What the simulator answers: a model's scenario (text, timing, usage, faults), and the record
of each request it received."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FAULTS = (
    "auth",
    "rate_limit",
    "server_error",
    "overloaded",
    "unavailable",
    "bad_request",
    "context_too_long",
    "error_event",
    "truncate",
    "drop",
    "malformed",
    "stall",
)
PRE_STREAM_FAULTS = frozenset(FAULTS[:7])  # answered with an HTTP error instead of a stream
MODELS = ("sim-fast", "sim-small", "sim-thinking")
CREATED = 1_700_000_000

_PIECE = re.compile(r"\s*\S+|\s+$")


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces that keep their leading spaces: "".join(pieces) == text."""
    return _PIECE.findall(text)


@dataclass
class Scenario:
    """What the simulator answers for one model: the text, its timing, usage and faults.

    Usage left as None is computed: input = whitespace-split words of the request's
    messages, output = number of pieces (reasoning included). `reasoning_tokens` of 0 with
    reasoning text reports the number of reasoning pieces.

    Faults: the pre-stream ones (auth ... context_too_long) answer the first `fault_count`
    requests for the model (-1: all of them) with the wire's own HTTP error; the mid-stream
    ones (error_event, truncate, drop, malformed, stall) strike every request after
    `fault_after` answer pieces. `retry_after` goes out as a retry-after header on 429, 503
    and 529 (on Gemini's 429 as RetryInfo.retryDelay in the body, as Google does);
    `echo_key` makes the 401 body repeat the key it got.

    `raw` bypasses the wire formats: these exact bytes are the response body, with status
    `raw_status`. A 200 event stream is sent chunked, split every `raw_chunk_size` bytes
    with `interval` between the chunks; any other status or content type as one body.
    """

    text: str = "The quick brown fox jumps over the lazy dog."
    reasoning: str = ""
    chunks: list[str] | None = None
    reasoning_chunks: list[str] | None = None
    ttft: float = 0.0
    interval: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    include_usage: bool = True
    fault: str | None = None
    fault_after: int = 0
    fault_count: int = 1
    retry_after: float | None = None
    echo_key: bool = False
    raw: bytes | None = None
    raw_status: int = 200
    raw_chunk_size: int | None = None
    raw_content_type: str = "text/event-stream"

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {FAULTS}")

    def pieces(self) -> list[str]:
        """The answer, piece by piece."""
        return list(self.chunks) if self.chunks is not None else split_pieces(self.text)

    def reasoning_pieces(self) -> list[str]:
        """The thinking, piece by piece."""
        if self.reasoning_chunks is not None:
            return list(self.reasoning_chunks)
        return split_pieces(self.reasoning)


@dataclass
class RequestRecord:
    """One request the simulator received, and how its response went.

    `first_byte` is when the first answer or reasoning piece was written; `completed` means
    the whole (possibly faulty) response was written; `disconnected` that the client left
    before that.
    """

    id: int
    wire: str  # "openai" | "anthropic" | "gemini" | "models"
    model: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float
    first_byte: float | None = None
    ended: float | None = None
    completed: bool = False
    disconnected: bool = False


_WORDS = (
    "the",
    "model",
    "streams",
    "a",
    "steady",
    "answer",
    "so",
    "the",
    "relay",
    "can",
    "be",
    "measured",
    "token",
    "by",
    "token",
)


def default_text(tokens: int) -> str:
    """A text of `tokens` word pieces."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(tokens))
