from tests_unit.sim.conftest import lab, real_lab, real_store  # noqa: F401
