from tests_unit.sim.conftest import real_store  # noqa: F401
