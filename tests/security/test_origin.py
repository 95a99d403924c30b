"""The websocket's origin must be the site's own scheme, host and port (issue 13, hole 4):
a page on another port or scheme of the same host cannot open the user's socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from playground.origin import origin_allowed
from tests.helpers import ws_connect
from tests.servers import Daphne

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "security"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:8701",  # another port of the same host
        b"https://127.0.0.1:8000",  # another scheme
        b"http://127.0.0.1",  # the default port is another port
        b"http://localhost:8000",  # an allowed host, but not the one this request came to
        b"null",
        b"https://evil.example",
    ],
)
async def test_foreign_port_or_scheme_is_refused_before_accept(user, origin):
    communicator, connected, _ = await ws_connect(user, origin=origin)
    assert not connected
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_sites_own_origin_is_accepted(user):
    communicator, connected, _ = await ws_connect(user, origin=b"http://127.0.0.1:8000")
    assert connected
    await communicator.disconnect()


def scope(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws", **headers):
    raw = [(b"host", host.encode())]
    if origin is not None:
        raw.append((b"origin", origin.encode()))
    raw += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": raw}


def test_the_rule_is_djangos_csrf_origin_rule(settings):
    settings.ALLOWED_HOSTS = ["playground.example.com", "127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org", "http://127.0.0.1:9000"]
    site = "playground.example.com"
    assert origin_allowed(scope("https://playground.example.com", site, "wss"))
    assert not origin_allowed(scope("http://playground.example.com", site, "wss"))
    assert not origin_allowed(scope("https://playground.example.com", site, "ws"))
    assert not origin_allowed(scope("https://playground.example.com:8443", site, "wss"))
    assert not origin_allowed(scope("https://playground.example.com", "evil.example", "wss"))
    assert not origin_allowed(scope(None, site, "wss"))
    # Trusted origins, exact or by subdomain wildcard, as CSRF_TRUSTED_ORIGINS reads.
    assert origin_allowed(scope("https://a.example.org", site, "wss"))
    assert not origin_allowed(scope("http://a.example.org", site, "wss"))
    assert origin_allowed(scope("http://127.0.0.1:9000", site, "ws"))
    assert not origin_allowed(scope("http://127.0.0.1:9001", site, "ws"))
    # Behind a TLS-terminating proxy: the proxy's header says the page was https.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind = scope("https://playground.example.com", site, "ws", x_forwarded_proto="https")
    assert origin_allowed(behind)
    spoofed = scope("https://playground.example.com", site, "ws", x_forwarded_proto="http")
    assert not origin_allowed(spoofed)
    # Two Origin headers: ambiguous, refused.
    twice = scope("https://playground.example.com", site, "wss")
    twice["headers"].append((b"origin", b"https://playground.example.com"))
    assert not origin_allowed(twice)


# --- a real daphne: the refusal is an HTTP 403 before the websocket handshake -------------


@pytest.fixture
def daphne_port(transactional_db: None) -> Iterator[int]:
    server = Daphne("origin").start()
    try:
        yield server.port
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
async def test_daphne_answers_403_to_a_foreign_port_or_scheme(user, daphne_port):
    import websockets
    from asgiref.sync import sync_to_async

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    url = f"ws://127.0.0.1:{daphne_port}/ws/compare/"
    for origin in (f"http://127.0.0.1:{daphne_port + 1}", f"https://127.0.0.1:{daphne_port}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                url, additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=20
            )
        assert refused.value.response.status_code == 403, origin
    # The same user, cookie and server from the site's own origin: accepted.
    own = await websockets.connect(
        url,
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{daphne_port}"},
        open_timeout=20,
    )
    await own.close()
