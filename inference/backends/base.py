"""The one interface every model backend streams through.

No Django here: a backend gets everything it needs in a `HostConfig` and a `ChatRequest`,
and answers with a stream of events, in this order:

    Status* , (TextDelta | ReasoningDelta)* , Usage? , Finish

or raises a `BackendError`. A stream that ends without its terminator raises
`TruncatedStreamError`, never a silent success.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, runtime_checkable

Role = Literal["user", "assistant"]
ProviderKind = Literal["openai", "anthropic", "gemini", "local"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("openai", "anthropic", "gemini", "local")


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of the conversation: a user prompt or the model's own earlier answer."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What one panel asks of one model."""

    model: str  # the provider's own model name, e.g. "gpt-4o-mini"
    messages: tuple[Message, ...]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None


@dataclass(frozen=True, slots=True)
class HostConfig:
    """How to reach one provider. The key is kept out of repr() so it never lands in a log."""

    kind: ProviderKind
    base_url: str
    api_key: str = field(default="", repr=False)
    label: str = ""  # the provider as users know it, e.g. "Groq", for their error messages
    connect_timeout: float = 10.0
    read_timeout: float = 300.0  # the longest silence allowed between two chunks
    total_timeout: float = 900.0
    max_retries: int = 2
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)  # kind-specific, e.g. local device


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking (raw reasoning or a summary), shown apart."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider (or the local tokenizer) reports them.

    input_tokens includes cached input; output_tokens includes reasoning tokens.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    gpu_seconds: float | None = None  # busy generation time, for models priced per GPU-hour


FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]


@dataclass(frozen=True, slots=True)
class Finish:
    """The stream ended normally. `raw` is the provider's own word for why."""

    reason: FinishReason
    raw: str | None = None


StatusState = Literal["queued", "loading", "generating", "retrying", "waiting"]


@dataclass(frozen=True, slots=True)
class Status:
    """Progress before the first token: queued (with position), loading a model, retrying.

    `generating` marks the moment the model really starts; time to first token counts
    from the last `generating`, so queueing and loading are never billed to the model.
    """

    state: StatusState
    position: int | None = None
    detail: str = ""


Event = TextDelta | ReasoningDelta | Usage | Finish | Status


# --- errors -------------------------------------------------------------------------------


class BackendError(Exception):
    """A failure fit to show a user. Its message never contains a key.

    `detail` is what the message leaves out because only staff should see it (e.g. the
    address a connection to a local server was refused on); it is logged, never shown to
    users or share viewers, and never contains a key either.
    """

    retryable_by_default: ClassVar[bool] = False
    label: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider_type: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.status = status
        self.provider_type = provider_type
        self.retry_after = retry_after
        self.retryable = self.retryable_by_default if retryable is None else retryable

    def __str__(self) -> str:
        return self.message


class AuthenticationError(BackendError):
    """401/403: the key is missing, wrong or lacks permission."""

    label = "authentication failed"


class RateLimitedError(BackendError):
    """429: retry after `retry_after` seconds when the provider says how long."""

    retryable_by_default = True
    label = "rate limited"


class OverloadedError(BackendError):
    """529 / overloaded_error / 503: the provider is busy; worth a retry."""

    retryable_by_default = True
    label = "overloaded"


class BadRequestError(BackendError):
    """400/404/413/422: the request itself is wrong; retrying will not help."""

    label = "bad request"


class ContextTooLongError(BadRequestError):
    """The prompt (plus max tokens) does not fit the model's context window."""

    label = "context too long"


class UpstreamError(BackendError):
    """5xx or a provider-side error event."""

    retryable_by_default = True
    label = "upstream error"


class UpstreamTimeoutError(BackendError):
    """Connecting took too long, or the stream went silent past the read timeout."""

    retryable_by_default = True
    label = "timeout"


class TruncatedStreamError(BackendError):
    """The stream ended (or broke) without its terminator."""

    label = "truncated stream"


class BackendUnavailableError(BackendError):
    """The backend cannot run here (an optional dependency is not installed)."""

    label = "unavailable"


# --- the protocol -------------------------------------------------------------------------


class Backend(Protocol):
    """One streaming method per provider, plus a model listing."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """The answer's events; close the generator (`aclose`) to stop it early."""
        ...

    async def list_models(self) -> list[str]: ...


@runtime_checkable
class CountsStoppedRuns(Protocol):
    """A backend that knows exact counts even for a stream stopped before its Usage."""

    partial_usage: Usage | None
