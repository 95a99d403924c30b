"""The websocket's origin check: the same rule as Django's CSRF origin check.

A socket is accepted only when its Origin header is this site's own origin (the scheme,
host and port the request came in on, the host being one of ALLOWED_HOSTS), or one of
CSRF_TRUSTED_ORIGINS ("https://*.example.com" allows the subdomains). Host names alone are
not enough: a page served on another port or scheme of the same host (a dev server, a
local tool) is another origin and could otherwise drive the user's socket. Anything else is
denied before accept (daphne answers 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name.decode("latin1").lower(), []).append(value.decode("latin1"))
    return found


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # as Django's HttpRequest.get_host()
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _host(scope: Scope, headers: dict[str, list[str]]) -> str | None:
    """The request's host as Django's get_host() sees it; None when not allowed."""
    forwarded = headers.get("x-forwarded-host")
    if settings.USE_X_FORWARDED_HOST and forwarded:
        host = forwarded[0].split(",")[0].strip()
    elif headers.get("host"):
        host = headers["host"][0]
    else:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    return host


def _is_secure(scope: Scope, headers: dict[str, list[str]]) -> bool:
    """As HttpRequest.is_secure(): the connection's scheme, or the proxy's header."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        meta_name, secure_value = proxy_header
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower()
        value = headers.get(name)
        if value is not None:
            return bool(value[0].split(",")[0].strip() == secure_value)
    return scope.get("scheme") in ("wss", "https")


def _trusted(origin: str, trusted: Iterable[str]) -> bool:
    """CSRF_TRUSTED_ORIGINS, exact or with a "*." subdomain wildcard, as Django reads it."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    for pattern in trusted:
        if origin == pattern:
            return True
        if "*" in pattern:
            wanted = urlsplit(pattern)
            if wanted.scheme == parts.scheme and is_same_domain(
                parts.netloc, wanted.netloc.replace("*", "", 1)
            ):
                return True
    return False


def origin_allowed(scope: Scope) -> bool:
    """True when the socket's Origin is this site's own origin or a trusted one."""
    headers = _headers(scope)
    origins = headers.get("origin", [])
    if len(origins) != 1:  # missing, or ambiguous
        return False
    origin = origins[0].strip()
    if not origin or origin == "null":
        return False
    host = _host(scope, headers)
    if host is None:
        return False
    own = f"{'https' if _is_secure(scope, headers) else 'http'}://{host}"
    if origin.lower() == own.lower():
        return True
    return _trusted(origin, settings.CSRF_TRUSTED_ORIGINS)


class SameOriginValidator:
    """ASGI middleware: a websocket from another origin is denied before accept."""

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator guards websockets only")
        if origin_allowed(scope):
            await self.application(scope, receive, send)
            return
        await WebsocketDenier()(scope, receive, send)
