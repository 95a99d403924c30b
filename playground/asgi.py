"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os
import sys
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from playground.routing import websocket_urlpatterns  # noqa: E402
from playground.warmup import warm_up  # noqa: E402

# Database calls run on a worker thread. Under load the event loop holds the GIL for
# Python's default 5 ms slices, and a query gives the GIL up and waits for it several times,
# so a start or a save queued behind the loop for hundreds of milliseconds. Shorter slices
# let the database thread in sooner (measured with bench/relay.py: see the README).
sys.setswitchinterval(0.001)

# Load what the first comparison would otherwise load (tokenizer, Markdown and highlighting,
# templates, TLS roots), off the request path: the first user waits for nothing, and memory
# after a load returns to what it was before.
threading.Thread(target=warm_up, name="warm-up", daemon=True).start()


def _start_live_hub() -> None:
    """Name this process, sweep the runs of dead ones, start checkpoints and heartbeats, and
    stop and save every run on SIGTERM/SIGINT (see playground.hub)."""
    from playground.hub import current_hub

    current_hub().start()


if "twisted.internet.reactor" in sys.modules:  # daphne (or its runserver) serves this app
    from twisted.internet import reactor

    # Twisted fires "startup" just before the asyncio loop runs: start a moment later.
    reactor.callWhenRunning(reactor.callLater, 0, _start_live_hub)

from playground.origin import SameOriginValidator  # noqa: E402

# Websockets only from this site's own origin (scheme, host and port), as Django's CSRF check.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
