"""devices.yaml texts of small simulated benches the end-to-end tests share."""

from __future__ import annotations

FAULTY_BENCH = """devices:
  - name: photon-1
    platform: photon
    device_id: 3a0027000547343233323032
    hub: {location: "1-1", port: 3}
    sim: {device_os: 1.5.2, faults: {dfu_error_status: 3}}
"""  # one Photon whose next DFU write fails (errWRITE)
