"""Fixtures shared by the tests directly in tests_unit/ (the simulated lab, the real release store)."""

from tests_unit.sim.conftest import lab, real_store  # noqa: F401
