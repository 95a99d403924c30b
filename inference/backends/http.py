"""Shared HTTP machinery for the streaming backends.

One pooled `httpx.AsyncClient` per event loop, explicit timeouts, SSE framing (httpx-sse,
which splits lines on CR/LF only), mapping of HTTP statuses, provider error bodies and
transport failures to `BackendError`s, redaction of the API key, and the retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import logging
import os
import random
import re
import ssl
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
)
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError

from inference.backends.aionet import asyncio_transport
from inference.backends.base import (
    AuthenticationError,
    BackendError,
    BadRequestError,
    ContextTooLongError,
    Event,
    HostConfig,
    OverloadedError,
    RateLimitedError,
    ReasoningDelta,
    Status,
    TextDelta,
    TruncatedStreamError,
    UpstreamError,
    UpstreamTimeoutError,
)

logger = logging.getLogger("inference.backends")

Sleep = Callable[[float], Awaitable[None]]
StreamReader = Callable[
    [AsyncIterable[ServerSentEvent], "ErrorMapper"], AsyncGenerator[Event, None]
]
EventStream = AsyncGenerator[Event, None]

MAX_MESSAGE_CHARS = 300
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error body is read up to this, never whole
MIN_KEY_RUN = 8  # any run of this many characters of a key is redacted
MAX_RETRY_AFTER = 60.0  # a provider asking for a longer wait gets no retry at all
USER_AGENT = "model-playground/0.1"


async def backoff_sleep(seconds: float) -> None:
    """The retry wait. Tests patch this (or pass `sleep=` to a backend) to stay fast."""
    await asyncio.sleep(seconds)


# --- the shared client ---------------------------------------------------------------------
#
# One pool of connections per event loop (an AsyncClient is bound to its loop; a process has
# one loop in production, tests make many). The pool is split over a few AsyncClients used in
# turn: httpcore 1.0's pool does O(idle x connections) work each time a request starts or
# ends, which with hundreds of pooled connections costs seconds of CPU per burst of streams.


class _ClientPool:
    __slots__ = ("clients", "turn")

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self.turn = 0


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ClientPool] = (
    weakref.WeakKeyDictionary()
)


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def pool_limits() -> httpx.Limits:
    """The whole pool's limits, sized for hundreds of concurrent streams.

    PLAYGROUND_HTTP_MAX_CONNECTIONS (1000) and PLAYGROUND_HTTP_MAX_KEEPALIVE (200) override.
    """
    return httpx.Limits(
        max_connections=_env_int("PLAYGROUND_HTTP_MAX_CONNECTIONS", 1000),
        max_keepalive_connections=_env_int("PLAYGROUND_HTTP_MAX_KEEPALIVE", 200),
        keepalive_expiry=20.0,
    )


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The TLS settings every client shares (building one loads the CA bundle: ~30 ms)."""
    return httpx.create_ssl_context()


def _new_pool() -> _ClientPool:
    limits = pool_limits()
    shards = _env_int("PLAYGROUND_HTTP_POOL_SHARDS", 16)
    assert limits.max_connections is not None and limits.max_keepalive_connections is not None
    shard_limits = httpx.Limits(
        max_connections=-(-limits.max_connections // shards),
        max_keepalive_connections=-(-limits.max_keepalive_connections // shards),
        keepalive_expiry=limits.keepalive_expiry,
    )
    clients = [
        httpx.AsyncClient(
            transport=asyncio_transport(limits=shard_limits, verify=ssl_context()),
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
        )
        for _ in range(shards)
    ]
    return _ClientPool(clients)


def shared_client() -> httpx.AsyncClient:
    """A client from the running loop's shared pool (the pool's clients are used in turn)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or pool.clients[0].is_closed:
        # Pools of loops that have been closed cannot be closed any more; drop them.
        for old_loop in [old for old in _pools if old.is_closed()]:
            del _pools[old_loop]
        pool = _pools[loop] = _new_pool()
    pool.turn += 1
    return pool.clients[pool.turn % len(pool.clients)]


async def aclose_shared_client() -> None:
    """Close the running loop's pool (at shutdown, and between tests)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await asyncio.gather(*(client.aclose() for client in pool.clients))


def timeouts(config: HostConfig) -> httpx.Timeout:
    """httpx timeouts from a host's config; `read` is the longest silence between chunks."""
    return httpx.Timeout(
        connect=config.connect_timeout,
        read=config.read_timeout,
        write=max(config.connect_timeout, 30.0),
        pool=config.connect_timeout,
    )


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
            info = error_info(json.loads(text))
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
        info = ErrorInfo(message=str(exc) or type(exc).__name__)
        if isinstance(exc, SSEError):
            return self._make(UpstreamError, "not an event stream", info, retryable=False)
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
            value = json.loads(data)
        except ValueError:
            raise self.malformed(data) from None
        if type(value) is not dict:
            raise self.malformed(data)
        return value

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


# --- retries -------------------------------------------------------------------------------

_CONTENT = (TextDelta, ReasoningDelta)


def retry_delay(retry: int, retry_after: float | None) -> float | None:
    """Seconds before retry number `retry` (0-based); None when the provider says not to bother.

    A provider hint up to 60 s is honoured; a longer one vetoes the retry. Otherwise
    exponential backoff min(0.5 * 2^n, 8 s) with 0.75-1.0 jitter, as the OpenAI and
    Anthropic SDKs do.
    """
    if retry_after is not None:
        if retry_after > MAX_RETRY_AFTER:
            return None
        if retry_after > 0:
            return retry_after
    return min(0.5 * 2.0**retry, 8.0) * random.uniform(0.75, 1.0)


async def with_retries(
    attempt: Callable[[float], EventStream],
    config: HostConfig,
    *,
    sleep: Sleep | None = None,
) -> EventStream:
    """Run `attempt(deadline)`, retrying retryable failures before the first token.

    `deadline` is the loop time by which the whole stream, retries included, must end.
    Before each wait a `Status("retrying")` says why and for how long. Once a text or
    reasoning delta has been yielded, any failure is final.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.total_timeout
    retry = 0
    while True:
        started = False
        try:
            async with aclosing(attempt(deadline)) as events:
                async for event in events:
                    if not started and isinstance(event, _CONTENT):
                        started = True
                    yield event
            return
        except BackendError as exc:
            if started or not exc.retryable or retry >= config.max_retries:
                raise
            delay = retry_delay(retry, exc.retry_after)
            if delay is None or loop.time() + delay >= deadline:
                raise
            error = exc
        retry += 1
        logger.warning(
            "%s; retry %d of %d in %.1f s", error.message, retry, config.max_retries, delay
        )
        yield Status("retrying", detail=f"{error.label}; retrying in {delay:.1f} s")
        await (sleep or backoff_sleep)(delay)
        # The next attempt starts now: a consumer times the first token from here.
        yield Status("waiting", detail=f"attempt {retry + 1}")


# --- one provider's HTTP endpoint ------------------------------------------------------------


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


DRAIN_SECONDS = 1.0


class HttpApi:
    """How a backend talks to its host: headers, timeouts, retries, error mapping, SSE."""

    def __init__(
        self,
        config: HostConfig,
        label: str,
        headers: Mapping[str, str],
        *,
        sleep: Sleep | None = None,
    ) -> None:
        self.config = config
        self.errors = ErrorMapper(label, config.api_key)
        self._headers = {**headers, **config.extra_headers}
        self._timeout = timeouts(config)
        self._sleep = sleep

    def stream(self, url: str, body: Mapping[str, Any], reader: StreamReader) -> EventStream:
        """POST `body` and read the SSE answer with `reader`, with retries."""

        def attempt(deadline: float) -> EventStream:
            return self._attempt(url, body, reader, deadline)

        return with_retries(attempt, self.config, sleep=self._sleep)

    async def get_json(self, url: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET a JSON document (model listings), with the same error mapping, no retries."""
        deadline = asyncio.get_running_loop().time() + self.config.total_timeout
        async with self._open("GET", url, None, params, deadline) as response:
            try:
                async with asyncio.timeout_at(deadline):
                    body = await response.aread()
            except httpx.HTTPError as exc:
                raise self.errors.from_transport(exc, self.config, in_body=True) from None
            except TimeoutError:
                raise self.errors.total_timeout(self.config) from None
        try:
            return json.loads(body)
        except ValueError:
            raise self.errors.malformed(body.decode("utf-8", "replace")) from None

    async def _attempt(
        self, url: str, body: Mapping[str, Any], reader: StreamReader, deadline: float
    ) -> EventStream:
        async with self._open("POST", url, body, None, deadline) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                raise await self._json_instead_of_stream(response)
            sse = self._events(response, deadline)
            async with aclosing(sse):
                async with aclosing(reader(sse, self.errors)) as events:
                    async for event in events:
                        yield event
                # The reader saw its terminator. Read the (empty) rest of the body, so the
                # connection goes back to the pool instead of being closed.
                with contextlib.suppress(BackendError, TimeoutError):
                    async with asyncio.timeout(DRAIN_SECONDS):
                        async for _ in sse:
                            pass

    @asynccontextmanager
    async def _open(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
        deadline: float,
    ) -> AsyncIterator[httpx.Response]:
        client = shared_client()
        request = client.build_request(
            method, url, headers=self._headers, json=body, params=params, timeout=self._timeout
        )
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self.errors.from_transport(exc, self.config, in_body=False) from None
        except TimeoutError:
            raise self.errors.total_timeout(self.config) from None
        try:
            if response.status_code >= 400:
                try:
                    async with asyncio.timeout_at(deadline):
                        error_body = await read_capped(response)
                except (httpx.HTTPError, TimeoutError):
                    error_body = b""
                raise self.errors.from_response(
                    response.status_code, response.headers, error_body
                ) from None
            yield response
        finally:
            await response.aclose()

    async def _json_instead_of_stream(self, response: httpx.Response) -> BackendError:
        try:
            payload = json.loads(await read_capped(response))
        except (httpx.HTTPError, ValueError):
            payload = None
        if isinstance(payload, dict) and payload.get("error"):
            return self.errors.from_payload(payload)
        return self.errors.malformed("a JSON document instead of an event stream")

    async def _events(
        self, response: httpx.Response, deadline: float
    ) -> AsyncGenerator[ServerSentEvent, None]:
        """The response's SSE events, with transport errors mapped and the total deadline kept.

        httpx's read timeout bounds each silence; the total deadline is checked per event and,
        once it is nearer than a read timeout, enforced on the read itself.
        """
        loop = asyncio.get_running_loop()
        read_timeout = self.config.read_timeout
        events = EventSource(response).aiter_sse()
        try:
            while True:
                remaining = deadline - loop.time()
                try:
                    if remaining >= read_timeout:
                        event = await anext(events)
                    elif remaining > 0:
                        async with asyncio.timeout(remaining):
                            event = await anext(events)
                    else:
                        raise self.errors.total_timeout(self.config)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise self.errors.total_timeout(self.config) from None
                except httpx.HTTPError as exc:
                    raise self.errors.from_transport(exc, self.config, in_body=True) from None
                yield event
        finally:
            await events.aclose()


def sse_from_bytes(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """SSE events from raw bytes, framed exactly as a live response's (tests, transcripts)."""

    async def body() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk

    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())
    return EventSource(response).aiter_sse()


def strip_suffix(base_url: str, suffix: str) -> str:
    """`base_url` without a trailing slash or `suffix` (people paste ".../v1" for a root)."""
    base = base_url.rstrip("/")
    return base[: -len(suffix)] if base.endswith(suffix) else base
