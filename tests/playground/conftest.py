from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from inference.models import Model
from inference.simulator import Simulator
from tests.helpers import create_sim_providers


@pytest.fixture
def user(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("ada", password="pw-ada-123456")


@pytest.fixture
def other_user(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_user("bob", password="pw-bob-123456")


@pytest.fixture
def sim_models(sim: Simulator, db: None) -> dict[str, Model]:
    return create_sim_providers(sim)
