"""The package's own HIL tests (rig/hil/test_scenarios.py): `pytest tests_hil` in a checkout."""

from rig.hil.test_scenarios import (  # noqa: F401
    pytestmark,
    test_cloud_finishes_a_serial_upgrade,
    test_hex_restore_image_over_swd,
    test_particle_update_of_a_cli_version,
    test_serial_downgrade_goes_in_reverse_order,
)
