from tests.playground.conftest import other_user, sim_models, user  # noqa: F401
