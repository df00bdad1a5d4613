"""Wall time of the rig's calls to the simulated cloud over loopback: one device-info GET, and a
whole `wait_online` for a board that never connects (300 modelled seconds, one GET per modelled
second, at time scale 0), with the load average.

Every OTA path polls the cloud this way (rig.transport.cloud.CloudClient.wait_online). Before the
simulated cloud's handler sent with TCP_NODELAY, a GET took about 43 ms here (its body waited for
the client's delayed ACK), so a 300 s wait cost 13 s of wall time.

    .venv/bin/python bench/cloud_calls.py [GETS]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.board_settings import BoardSettings
from rig.sim.lab import Lab
from rig.transport.cloud import CloudClient
from rig.transport.errors import TimeoutError_


def main() -> None:
    """Print the figures."""
    gets = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    before = os.getloadavg()
    with Lab(time_scale=0) as lab:
        board = lab.add_board("p1", "photon", settings=BoardSettings(online=False))
        cloud = CloudClient()
        cloud.device(board.device_id)  # warm: the connection
        start = time.monotonic()
        for _ in range(gets):
            cloud.device(board.device_id)
        per_get = (time.monotonic() - start) / gets
        start = time.monotonic()
        with contextlib.suppress(TimeoutError_):  # expected: the board stays offline
            cloud.wait_online(board.device_id, lab.clock, timeout=300)
        wait = time.monotonic() - start
        cloud.close()
    print(f"device-info GET over loopback: {per_get * 1000:.2f} ms wall (mean of {gets})")
    print(f"wait_online for a board that never connects, 300 modelled s: {wait:.2f} s wall")
    after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {' / '.join(f'{x:.2f}' for x in before)}, "
          f"after {' / '.join(f'{x:.2f}' for x in after)}; {os.cpu_count()} CPUs")  # fmt: skip


if __name__ == "__main__":
    main()
