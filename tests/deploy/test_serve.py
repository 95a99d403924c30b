"""The shipped deployment (deploy/serve.sh -> deploy/supervisord.conf): two daphne processes
on one listening socket, on the test database and Redis. Both serve through the one port, a
user's logout closes their sockets on both, and SIGTERM to supervisord stops everything.

Several processes need PostgreSQL and Redis (SQLite and the in-memory channel layer are one
process's own): skipped without them, except in CI (DATABASE_URL and REDIS_URL set), where
it must run. Nothing here is timed; every wait is for a condition, with a generous timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from playground.models import ServerProcess
from tests.servers import FAST, database_url, free_port, redis_url, wait_until

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "deploy" / "serve.sh"
OUTPUT = ROOT / "test-output" / "deploy"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD = "serve-test-password-1"

pytestmark = pytest.mark.django_db(transaction=True)


def _required() -> bool:
    """CI runs the suite on PostgreSQL and Redis: there this test may not skip."""
    url = os.environ.get("DATABASE_URL", "")
    return bool(os.environ.get("CI")) or (
        url.startswith(("postgres://", "postgresql://")) and bool(os.environ.get("REDIS_URL"))
    )


def _missing() -> str:
    if connection.vendor != "postgresql":
        return "several processes need PostgreSQL (DATABASE_URL); SQLite is one process's own"
    if redis_url() is None:
        return "several processes need Redis (REDIS_URL) for their shared channel layer"
    if not Path(sys.executable).with_name("supervisord").exists():
        return "supervisor is not installed (pip install -e '.[serve]')"
    return ""


@dataclass
class Serve:
    """deploy/serve.sh running in its own session, and what it started."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def daphnes(self) -> list[Any]:
        import psutil

        with contextlib.suppress(psutil.Error):
            return [
                child
                for child in psutil.Process(self.process.pid).children()
                if "daphne" in " ".join(child.cmdline())
            ]
        return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def owner(self, local_port: int, daphnes: list[Any]) -> int | None:
        """The daphne process holding the server end of our connection from `local_port`."""
        for daphne in daphnes:
            for conn in daphne.net_connections("tcp"):
                if conn.raddr and conn.raddr.port == local_port and conn.laddr.port == self.port:
                    return int(daphne.pid)
        return None


@pytest.fixture
def serve() -> Iterator[Serve]:
    missing = _missing()
    if missing:
        if _required():
            pytest.fail(f"CI runs this test: {missing}")
        pytest.skip(missing)
    port = free_port()
    run_dir = Path(tempfile.mkdtemp(prefix="pg-serve-"))  # short: it holds a unix socket
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url() or "",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "PLAYGROUND_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **FAST,
        "PLAYGROUND_PROCESSES": "2",
        "PLAYGROUND_BIND": "127.0.0.1",
        "PLAYGROUND_PORT": str(port),
        "PLAYGROUND_RUN_DIR": str(run_dir),
        "PLAYGROUND_DAPHNE": str(Path(sys.executable).with_name("daphne")),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log_path = OUTPUT / "serve.log"
    log_path.unlink(missing_ok=True)
    # Append mode: supervisord and its processes each open this file (as /dev/stdout).
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(SERVE)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Serve(process, port, log_path)
    try:
        yield server
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        for daphne in server.daphnes():
            with contextlib.suppress(Exception):
                daphne.kill()
        shutil.rmtree(run_dir, ignore_errors=True)


def login_page(port: int) -> tuple[http.client.HTTPConnection, int]:
    """GET the login page on a kept-alive connection; the connection and its local port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and b"csrfmiddlewaretoken" in body, response.status
    assert conn.sock is not None
    return conn, int(conn.sock.getsockname()[1])


def log_in(base: str, username: str) -> tuple[Any, str]:
    import httpx

    http = httpx.Client(base_url=base, timeout=30)
    page = http.get("/accounts/login/")
    token = CSRF.search(page.text)
    assert token is not None, page.status_code
    done = http.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"referer": f"{base}/accounts/login/"},
    )
    assert done.status_code == 302, done.status_code
    return http, f"sessionid={http.cookies['sessionid']}"


def test_two_processes_serve_one_port_and_stop_cleanly(serve: Serve) -> None:
    import psutil

    get_user_model().objects.create_user(username="serve", password=PASSWORD)
    base = f"http://127.0.0.1:{serve.port}"

    # Both processes start and name themselves in the database (the hub's ServerProcess row).
    def registered() -> bool:
        pids = {d.pid for d in serve.daphnes()}
        rows = set(ServerProcess.objects.values_list("pid", flat=True))
        return len(pids) == 2 and pids <= rows

    assert wait_until(registered, timeout=90), serve.log()[-4000:]

    # The background workers run beside them: suite runs ("default") and the arena's queue.
    def running(name: str) -> bool:
        return f"success: {name} entered RUNNING" in serve.log()

    for name in ("worker0", "arena-worker"):
        assert wait_until(functools.partial(running, name), timeout=90), serve.log()[-4000:]
    daphnes = serve.daphnes()
    pids = {d.pid for d in daphnes}
    assert all("--fd" in d.cmdline() for d in daphnes)  # the shared socket, not ports of their own

    # Both answer through the one port: the kernel hands each connection to one of them.
    served: dict[int, int] = {}
    held = []
    for _ in range(400):
        conn, local_port = login_page(serve.port)
        held.append(conn)
        owner = serve.owner(local_port, daphnes)
        if owner is not None:
            served[owner] = served.get(owner, 0) + 1
        if set(served) == pids:
            break
    for conn in held:
        conn.close()
    assert set(served) == pids, f"connections per process: {served}"

    # A logged-in user's websockets land on both processes; logging out on one closes all
    # of them (the logout signal crosses to the other process through Redis): code 4401.
    http, cookie = log_in(base, "serve")
    codes = asyncio.run(sockets_closed_by_logout(serve, daphnes, pids, http, cookie))
    assert codes and set(codes) == {4401}, codes

    # SIGTERM to supervisord: every daphne saves, retires its row and exits; then supervisord.
    os.kill(serve.process.pid, signal.SIGTERM)
    serve.process.wait(timeout=90)
    assert wait_until(lambda: not any(psutil.pid_exists(pid) for pid in pids), timeout=60)
    log = serve.log()
    for name in ("daphne0", "daphne1", "worker0", "arena-worker"):
        assert f"stopped: {name} (exit status 0)" in log, log[-4000:]
    assert not ServerProcess.objects.filter(pid__in=pids).exists()  # retired, not left stale
    with pytest.raises(OSError):
        login_page(serve.port)


async def sockets_closed_by_logout(
    serve: Serve, daphnes: list[Any], pids: set[int], http: Any, cookie: str
) -> list[int | None]:
    import websockets

    base = f"http://127.0.0.1:{serve.port}"
    sockets: dict[int, Any] = {}  # one per process
    extra = []
    for _ in range(200):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{serve.port}/ws/compare/",
            additional_headers={"Cookie": cookie, "Origin": base},
        )
        local_port = ws.transport.get_extra_info("sockname")[1]
        owner = await asyncio.to_thread(serve.owner, local_port, daphnes)
        if owner is not None and owner not in sockets:
            sockets[owner] = ws
        else:
            extra.append(ws)
        if set(sockets) == pids:
            break
    for ws in extra:
        await ws.close()
    assert set(sockets) == pids, f"websockets on {set(sockets)} of {pids}"

    page = await asyncio.to_thread(http.get, "/")
    token = CSRF.search(page.text)
    csrf = token.group(1) if token else http.cookies.get("csrftoken", "")
    logout = await asyncio.to_thread(
        http.post, "/accounts/logout/", data={"csrfmiddlewaretoken": csrf},
        headers={"referer": f"{base}/"},
    )  # fmt: skip
    assert logout.status_code in (200, 302), logout.status_code

    async def closed(ws: Any) -> int | None:
        try:
            async with asyncio.timeout(60):
                while True:
                    await ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            return None

    return list(await asyncio.gather(*(closed(ws) for ws in sockets.values())))
