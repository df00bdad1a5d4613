"""The package's own HIL tests (rig/hil/test_user_binary.py): `pytest tests_hil` in a checkout."""

from rig.hil.test_user_binary import (  # noqa: F401
    pytestmark,
    test_user_binary,
)
