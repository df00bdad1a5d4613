"""How a matrix run orders its paths: the choice itself, for the command line (which stays light to
start) and the pytest plugin; rig/schedule.py does the ordering.
"""

from __future__ import annotations

from enum import StrEnum


class Schedule(StrEnum):
    """How the paths of a run are ordered."""

    CIRCUIT = "circuit"  # chains: only the first path of each needs a set-up flash
    NAIVE = "naive"  # sorted, round-robin over platforms (each path sets its board up)
