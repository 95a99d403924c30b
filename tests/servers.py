"""Real daphne processes on the test database, and a websocket client to talk to them.

The durability tests start, signal and kill these; nothing is mocked: the process streams
from the upstream simulator (in the test process) and writes to the test database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from tests.helpers import FrameLog

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "servers"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


# Fast durability clocks, so the tests wait seconds, not minutes.
FAST = {
    "PLAYGROUND_CHECKPOINT_SECONDS": "0.2",
    "PLAYGROUND_HEARTBEAT_SECONDS": "0.2",
    "PLAYGROUND_STALE_AFTER_SECONDS": "2",
    "PLAYGROUND_SWEEP_SECONDS": "0.5",
}


@dataclass
class Daphne:
    """One daphne process serving the playground on the test database."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # more daphne options
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return OUTPUT / f"{self.name}.log"

    def start(self) -> Daphne:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "PLAYGROUND_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            **FAST,
            **self.env,
        }
        OUTPUT.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", *self.args, "-b", "127.0.0.1",
             "-p", str(self.port), "playground.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2)
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError(f"daphne did not start; see {self.log_path}") from None
                time.sleep(0.1)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


class Socket:
    """A websocket to a daphne process, as a page's would be (session cookie, origin)."""

    def __init__(self, server: Daphne, cookie: str) -> None:
        self.server = server
        self.cookie = cookie
        self.log = FrameLog()
        self.closed = False
        self._ws: Any = None

    async def __aenter__(self) -> Socket:
        import websockets

        self._ws = await websockets.connect(
            f"ws://127.0.0.1:{self.server.port}/ws/compare/",
            additional_headers={"Cookie": self.cookie, "Origin": self.server.url},
            max_size=None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def send(self, payload: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(payload))

    async def read_until(self, predicate: Callable[[FrameLog], bool], timeout: float = 30) -> None:
        """Read frames until `predicate` holds (or the socket closes: then it must hold)."""
        import websockets

        deadline = time.monotonic() + timeout
        while not predicate(self.log):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise AssertionError(
                    f"condition not met; last frames: {[f[:3000] for _, f in self.log.frames[-2:]]}"
                )
            try:
                frame = await asyncio.wait_for(self._ws.recv(), timeout=remaining)
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:
                self.closed = True
                continue
            self.log.add(frame)
            if len(self.log.frames) % 8 == 0:
                await self.send({"action": "ack", "frames": len(self.log.frames)})

    async def drain(self, timeout: float = 30) -> None:
        """Read until the server closes the socket."""
        import contextlib

        with contextlib.suppress(AssertionError):
            await self.read_until(lambda _: self.closed, timeout)
        assert self.closed, "the server did not close the socket"


def wait_until(predicate: Callable[[], bool], timeout: float = 60, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def redis_url() -> str | None:
    """A Redis for several processes' channel layer: REDIS_URL, or this machine's own."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception:
        return None
    return url
