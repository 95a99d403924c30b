from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from inference.models import Model
from inference.simulator import Simulator
from tests.helpers import create_sim_providers
from tests.servers import FAST, OUTPUT, ROOT, database_url

# The suite engine's own clocks, fast, for workers started by the tests.
SUITE_FAST = {
    **FAST,
    "PLAYGROUND_SUITE_POLL_SECONDS": "0.2",
    "PLAYGROUND_SUITE_RECHECK_SECONDS": "0.5",
}


@pytest.fixture
def user(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("ada", password="pw-ada-123456")


@pytest.fixture
def sim_models(sim: Simulator, db: None) -> dict[str, Model]:
    return create_sim_providers(sim)


@dataclass
class DbWorker:
    """A real `manage.py db_worker` process on the test database."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return OUTPUT / f"{self.name}.log"

    def start(self) -> DbWorker:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "PLAYGROUND_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            **SUITE_FAST,
            **self.env,
        }
        OUTPUT.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.2",
             "--no-startup-delay", "--no-reload"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def workers() -> Iterator[Callable[..., DbWorker]]:
    """Start db_worker processes by name; all are stopped at the end."""
    started: list[DbWorker] = []

    def make(name: str, **env: str) -> DbWorker:
        worker = DbWorker(name, env=env).start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()
