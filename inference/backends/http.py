"""The shared HTTP machinery of the streaming backends, under its historical name.

It lives in modules of its own: `pool` (the shared clients and their transport, `aionet`),
`errors` (statuses, error bodies and transport failures -> `BackendError`s, redaction,
capped body reads), `retry` (the retry policy and backoff), `sse` (the byte-level
event-stream reader) and `api` (`HttpApi`, one host's endpoint). The names other code
imports from here stay importable here.
"""

from __future__ import annotations

from inference.backends.api import (
    DRAIN_SECONDS,
    HttpApi,
    ParserFactory,
    WireParser,
    read_events,
    strip_suffix,
)
from inference.backends.errors import (
    MAX_ERROR_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    MIN_KEY_RUN,
    ErrorInfo,
    ErrorMapper,
    error_info,
    loads,
    parse_retry_after,
    read_capped,
    redact,
)
from inference.backends.pool import (
    USER_AGENT,
    aclose_shared_client,
    pool_limits,
    shared_client,
    ssl_context,
    timeouts,
)
from inference.backends.retry import (
    MAX_RETRY_AFTER,
    EventStream,
    Sleep,
    backoff_sleep,
    retry_delay,
    with_retries,
)
from inference.backends.sse import ServerSentEvent, SSEDecoder, sse_from_bytes

__all__ = [
    "DRAIN_SECONDS",
    "MAX_ERROR_BODY_BYTES",
    "MAX_MESSAGE_CHARS",
    "MAX_RETRY_AFTER",
    "MIN_KEY_RUN",
    "USER_AGENT",
    "ErrorInfo",
    "ErrorMapper",
    "EventStream",
    "HttpApi",
    "ParserFactory",
    "SSEDecoder",
    "ServerSentEvent",
    "Sleep",
    "WireParser",
    "aclose_shared_client",
    "backoff_sleep",
    "error_info",
    "loads",
    "parse_retry_after",
    "pool_limits",
    "read_capped",
    "read_events",
    "redact",
    "retry_delay",
    "shared_client",
    "sse_from_bytes",
    "ssl_context",
    "strip_suffix",
    "timeouts",
    "with_retries",
]
