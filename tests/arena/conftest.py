from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from inference.models import Model
from inference.simulator import Simulator
from tests.helpers import create_sim_providers


@pytest.fixture(autouse=True)
def _few_bootstrap_rounds(settings):
    """Boards refit in a fraction of the time; the intervals' own tests pass their rounds."""
    settings.PLAYGROUND_ARENA_BOOTSTRAP_ROUNDS = 20


@pytest.fixture
def ada(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("ada", password="pw-ada-123456")


@pytest.fixture
def bob(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("bob", password="pw-bob-123456")


@pytest.fixture
def user(ada: AbstractBaseUser) -> AbstractBaseUser:
    return ada


@pytest.fixture
def other_user(bob: AbstractBaseUser) -> AbstractBaseUser:
    return bob


@pytest.fixture
def sim_models(sim: Simulator, db: None) -> dict[str, Model]:
    return create_sim_providers(sim)
