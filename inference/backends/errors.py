"""What goes wrong, in words fit for a user: HTTP statuses, provider error bodies and
transport failures mapped to `BackendError`s, with the API key redacted everywhere.

The error bodies are each provider's documented error object:
https://platform.openai.com/docs/guides/error-codes,
https://docs.anthropic.com/en/api/errors and https://ai.google.dev/gemini-api/docs/troubleshooting
(Google's `google.rpc.Status`, https://cloud.google.com/apis/design/errors).
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import orjson

from inference.backends.base import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    ContextTooLongError,
    HostConfig,
    OverloadedError,
    RateLimitedError,
    TruncatedStreamError,
    UpstreamError,
    UpstreamTimeoutError,
)

logger = logging.getLogger("inference.backends")

MAX_MESSAGE_CHARS = 300
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error body is read up to this, never whole
MIN_KEY_RUN = 8  # any run of this many characters of a key is redacted


def loads(data: str | bytes) -> Any:
    """JSON with orjson; what orjson refuses but Python's json reads (NaN, integers past 64
    bits, which Python servers emit) is read the old way, so no valid answer is lost."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


async def read_capped(response: httpx.Response, limit: int = MAX_ERROR_BODY_BYTES) -> bytes:
    """At most `limit` bytes of a response body (an error page may be of any size)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


# --- redaction and messages ------------------------------------------------------------------


# A credential after "Bearer", "Basic" or "token" (also URL-encoded), whatever key it is:
# at least 8 characters with a digit, so "Bearer authentication" stays a phrase.
_CREDENTIAL = re.compile(
    r"(?i)\b(bearer|basic|token)((?:\s|%20|\+|=|:)+)(?=[^\s\"',;&]*\d)[^\s\"',;&]{8,}"
)


def _key_forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


def redact(text: str, secret: str) -> str:
    """`text` with the key masked: any run of 8 or more of its characters (a near-copy, a
    cut-off copy), raw or URL-encoded, in any case, and any Bearer/Basic credential.

    Apply it to whole texts, before they are shortened: a cut could leave a run too short
    to recognise.
    """
    if not text:
        return text
    text = _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    if not secret:
        return text
    folded = text.lower()
    if len(folded) != len(text):  # a case mapping that changes lengths: match exactly
        folded = text
    covered = bytearray(len(text))
    for form in _key_forms(secret):
        size = min(MIN_KEY_RUN, len(form))
        runs = {form[i : i + size].lower() for i in range(len(form) - size + 1)}
        if folded is text:
            runs |= {form[i : i + size] for i in range(len(form) - size + 1)}
        for i in range(len(text) - size + 1):
            if folded[i : i + size] in runs:
                covered[i : i + size] = b"\x01" * size
    if not any(covered):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append("[redacted]")
        else:
            start = i
            while i < len(text) and not covered[i]:
                i += 1
            out.append(text[start:i])
    return "".join(out)


def _shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from retry-after-ms, or retry-after as seconds or an HTTP-date."""
    millis = headers.get("retry-after-ms")
    if millis:
        seconds = _seconds(millis)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _duration(value: object) -> float | None:
    """A google.protobuf.Duration in JSON form, e.g. "37s" or "1.5s"."""
    if isinstance(value, str) and value.endswith("s"):
        return _seconds(value[:-1])
    return None


# --- error mapping -------------------------------------------------------------------------

# Provider error types and codes (OpenAI `type`/`code`, Anthropic `error.type`, Google
# `status` and ErrorInfo `reason`) -> our errors. Never inferred from message text.
_ERROR_TYPES: dict[str, type[BackendError]] = {
    "authentication_error": AuthenticationError,
    "permission_error": AuthenticationError,
    "invalid_api_key": AuthenticationError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": AuthenticationError,
    "API_KEY_INVALID": AuthenticationError,
    "rate_limit_error": RateLimitedError,
    "rate_limit_exceeded": RateLimitedError,
    "RESOURCE_EXHAUSTED": RateLimitedError,
    "overloaded_error": OverloadedError,
    "UNAVAILABLE": OverloadedError,
    "context_length_exceeded": ContextTooLongError,
    "request_too_large": ContextTooLongError,
    "invalid_request_error": BadRequestError,
    "not_found_error": BadRequestError,
    "model_not_found": BadRequestError,
    "billing_error": BadRequestError,
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "NOT_FOUND": BadRequestError,
    "api_error": UpstreamError,
    "server_error": UpstreamError,
    "timeout_error": UpstreamError,
    "INTERNAL": UpstreamError,
    "DEADLINE_EXCEEDED": UpstreamError,
}
_CONTEXT_TYPES = frozenset(k for k, v in _ERROR_TYPES.items() if v is ContextTooLongError)
_NOT_RETRYABLE_TYPES = frozenset({"insufficient_quota"})


@dataclass(slots=True)
class ErrorInfo:
    """What a provider's error body says, whatever its dialect."""

    message: str = ""
    types: tuple[str, ...] = ()  # type, code, status and reasons, most specific first
    code: int | None = None  # a numeric code (vLLM, OpenRouter, Google): an HTTP status
    retry_after: float | None = None  # Google RetryInfo.retryDelay
    daily_quota: bool = False  # Google QuotaFailure on a per-day quota: no point retrying


def error_info(payload: object) -> ErrorInfo:
    """Parse `{"error": {...}}` (OpenAI, Anthropic, Google), `{"error": "text"}`, or FastAPI."""
    info = ErrorInfo()
    if isinstance(payload, list) and payload:
        payload = payload[0]  # Google sometimes wraps the error in an array
    if not isinstance(payload, dict):
        if isinstance(payload, str):
            info.message = payload
        return info
    error = payload.get("error")
    if error is None:
        error = payload
    if isinstance(error, str):
        info.message = error
        return info
    if not isinstance(error, dict):
        info.message = str(error)
        return info
    message = error.get("message")
    detail = payload.get("detail")  # FastAPI's validation errors (e.g. transformers serve 422)
    if isinstance(message, str):
        info.message = message
    elif detail is not None:
        info.message = detail if isinstance(detail, str) else json.dumps(detail)[:500]
    kinds: list[str] = []
    details = error.get("details")
    if isinstance(details, list):
        for detail in details:
            if not isinstance(detail, dict):
                continue
            reason = detail.get("reason")
            if isinstance(reason, str):
                kinds.append(reason)
            kind = str(detail.get("@type", ""))
            if kind.endswith("RetryInfo"):
                info.retry_after = _duration(detail.get("retryDelay"))
            elif kind.endswith("QuotaFailure"):
                violations = detail.get("violations")
                if isinstance(violations, list):
                    info.daily_quota = any(
                        isinstance(v, dict) and "PerDay" in str(v.get("quotaId", ""))
                        for v in violations
                    )
    for key in ("code", "type", "status"):
        value = error.get(key)
        if isinstance(value, str) and value:
            kinds.append(value)
        elif key == "code" and isinstance(value, int) and not isinstance(value, bool):
            info.code = value
    info.types = tuple(kinds)
    return info


def _class_for_status(status: int, types: tuple[str, ...]) -> type[BackendError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        return RateLimitedError
    if status in (503, 529) or "overloaded_error" in types:
        return OverloadedError
    if status in (408, 409) or status >= 500:
        return UpstreamError
    if any(kind in _CONTEXT_TYPES for kind in types):
        return ContextTooLongError
    if "API_KEY_INVALID" in types:  # Google answers a bad key with 400
        return AuthenticationError
    return BadRequestError


def _class_for_types(types: tuple[str, ...]) -> type[BackendError]:
    for kind in types:
        cls = _ERROR_TYPES.get(kind)
        if cls is not None:
            return cls
    return UpstreamError


@dataclass(frozen=True, slots=True)
class ErrorMapper:
    """Builds short, user-fit, key-free errors for one provider."""

    label: str  # e.g. "Anthropic API"
    secret: str = field(default="", repr=False)

    def _make(
        self,
        cls: type[BackendError],
        where: str,
        info: ErrorInfo,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        staff_detail: str = "",
    ) -> BackendError:
        text = f"{self.label}: {cls.label}"
        if where:
            text += f" ({where})"
        detail = _shorten(redact(info.message, self.secret))
        if detail:
            text += f": {detail}"
        if info.daily_quota or any(kind in _NOT_RETRYABLE_TYPES for kind in info.types):
            retryable = False
        return cls(
            redact(text, self.secret),
            status=status,
            provider_type=info.types[0] if info.types else None,
            retry_after=retry_after if retry_after is not None else info.retry_after,
            retryable=retryable,
            detail=_shorten(redact(staff_detail, self.secret), 1000) if staff_detail else "",
        )

    def from_response(self, status: int, headers: Mapping[str, str], body: bytes) -> BackendError:
        """The error for a non-2xx answer (its body is plain JSON, not SSE)."""
        info = ErrorInfo()
        # Redacted whole, before any part of it is parsed or cut.
        text = redact(body[:MAX_ERROR_BODY_BYTES].decode("utf-8", "replace"), self.secret)
        try:
            info = error_info(loads(text))
        except ValueError:
            if text.strip() and not text.lstrip().startswith("<"):  # skip proxies' HTML pages
                info.message = text
        should_retry = headers.get("x-should-retry")
        retryable = {"true": True, "false": False}.get(should_retry or "")
        return self._make(
            _class_for_status(status, info.types),
            f"HTTP {status}",
            info,
            status=status,
            retry_after=parse_retry_after(headers),
            retryable=retryable,
        )

    def from_payload(self, payload: object) -> BackendError:
        """The error for an error event inside a 200 stream."""
        info = error_info(payload)
        if info.code is not None and 400 <= info.code <= 599:
            cls = _class_for_status(info.code, info.types)
            return self._make(cls, "in stream", info, status=info.code)
        return self._make(_class_for_types(info.types), "in stream", info)

    def from_transport(self, exc: Exception, config: HostConfig, *, in_body: bool) -> BackendError:
        """The error for a failed connection, read or write.

        Users see which provider could not be reached, never how: the transport's own text
        (an address, a resolver message) goes to the log and the error's staff-only detail.
        """
        error = self._transport(exc, config, in_body=in_body)
        if error.detail:
            logger.warning("%s: %s", error.message, error.detail)
        return error

    def _transport(self, exc: Exception, config: HostConfig, *, in_body: bool) -> BackendError:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if config.base_url:
            detail += f" ({config.base_url})"
        target = config.label or self.label
        quiet = ErrorInfo()
        if isinstance(exc, httpx.ConnectTimeout):
            where = f"no connection within {config.connect_timeout:g} s"
            return self._make(UpstreamTimeoutError, where, ErrorInfo(), retryable=True)
        if isinstance(exc, httpx.PoolTimeout):
            where = f"no free connection within {config.connect_timeout:g} s"
            return self._make(UpstreamTimeoutError, where, ErrorInfo(), retryable=True)
        if isinstance(exc, httpx.ReadTimeout):
            # Not retried: the model may still be working (and billing) upstream.
            where = f"no data for {config.read_timeout:g} s"
            return self._make(UpstreamTimeoutError, where, ErrorInfo(), retryable=False)
        if isinstance(exc, httpx.TimeoutException):
            return self._make(
                UpstreamTimeoutError,
                "sending the request",
                quiet,
                retryable=True,
                staff_detail=detail,
            )
        if isinstance(exc, httpx.ConnectError):
            where = f"could not connect to {target}"
            return self._make(UpstreamError, where, quiet, retryable=True, staff_detail=detail)
        if in_body and isinstance(exc, httpx.TransportError):
            where = "connection broke mid-stream"
            return self._make(TruncatedStreamError, where, quiet, staff_detail=detail)
        if isinstance(exc, httpx.TransportError):
            where = f"connection to {target} failed"
            return self._make(UpstreamError, where, quiet, retryable=True, staff_detail=detail)
        where = type(exc).__name__
        return self._make(UpstreamError, where, quiet, retryable=False, staff_detail=detail)

    def total_timeout(self, config: HostConfig) -> UpstreamTimeoutError:
        """The stream took longer than the host's total timeout."""
        where = f"longer than {config.total_timeout:g} s in total"
        error = self._make(UpstreamTimeoutError, where, ErrorInfo(), retryable=False)
        assert isinstance(error, UpstreamTimeoutError)
        return error

    def truncated(self, why: str) -> TruncatedStreamError:
        """The stream ended cleanly but without its terminator."""
        error = self._make(TruncatedStreamError, why, ErrorInfo())
        assert isinstance(error, TruncatedStreamError)
        return error

    def json_object(self, data: str) -> dict[str, Any]:
        """One event's data as the JSON object every wire format sends, else malformed."""
        try:
            value = loads(data)
        except ValueError:
            raise self.malformed(data) from None
        if type(value) is not dict:
            raise self.malformed(data)
        return value

    def not_event_stream(self, content_type: str) -> UpstreamError:
        """A 200 answer that is neither an event stream nor a JSON error."""
        info = ErrorInfo(message=f"content-type {_shorten(content_type, 60) or 'missing'}")
        error = self._make(UpstreamError, "not an event stream", info, retryable=False)
        assert isinstance(error, UpstreamError)
        return error

    def malformed(self, data: str) -> UpstreamError:
        """A chunk that is not the JSON the wire format promises."""
        info = ErrorInfo(message=redact(data[:MAX_ERROR_BODY_BYTES], self.secret)[:80])
        error = self._make(UpstreamError, "malformed chunk", info, retryable=False)
        assert isinstance(error, UpstreamError)
        return error

    def refused(self, why: str) -> BadRequestError:
        """The provider refused the request inside a 200 answer (e.g. a blocked prompt)."""
        error = self._make(BadRequestError, why, ErrorInfo())
        assert isinstance(error, BadRequestError)
        return error
