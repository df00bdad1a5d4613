"""The package's own HIL tests (rig/hil/test_matrix.py): `pytest tests_hil` in a checkout."""

from rig.hil.test_matrix import (  # noqa: F401
    pytestmark,
    test_path,
)
