"""Per-path results of a run: results.json, one log file per path, and an appended trend history."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FLAKY = "flaky"  # failed, then passed when tried again (--rig-retries): never counted as a pass
OUTCOMES = ("pass", "completed-over-the-air", FLAKY, "fail", "refused", "skipped", "interrupted", "not-run")
UNFINISHED = ("interrupted", "not-run")  # the run stopped before the path ended, or before it started
FINAL = ("pass", "completed-over-the-air", FLAKY, "fail", "refused")  # a resumed run does not run these again
PASSED = ("pass", "completed-over-the-air")  # what counts as a pass (flaky never does)
FAILED = ("fail", "interrupted")  # the failures a report lists first (flaky paths get a list of their own)


@dataclass
class PathResult:
    """One path of the matrix, as reported."""

    id: str
    platform: str
    from_version: str
    to_version: str
    method: str
    outcome: str
    error: str | None = None
    board: str | None = None
    final_versions: dict[str, int] = field(default_factory=dict)
    modelled_seconds: float = 0.0
    wall_seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    log: str = ""
    board_state: str = ""  # what the board was left in after the path
    setup_modelled_seconds: float = 0.0  # bringing the board to `from` first; 0 when it ran `from` already
    host: str = ""  # the host whose board ran the path ("" in records made before it was kept)

    @property
    def bench_seconds(self) -> float:
        """The path's modelled bench time: its set-up (the board brought to `from`) and the path itself."""
        return self.setup_modelled_seconds + self.modelled_seconds

    def bench_time(self) -> str:
        """The path's modelled bench time as text, set-up and path apart."""
        return (
            f"{self.bench_seconds:.0f} s modelled (set-up {self.setup_modelled_seconds:.0f} s"
            f" + path {self.modelled_seconds:.0f} s)"
        )

    def public(self) -> dict[str, Any]:
        """The keys of `rig matrix --json-out`."""
        return {
            "platform": self.platform,
            "from": self.from_version,
            "to": self.to_version,
            "method": self.method,
            "outcome": self.outcome,
            "error": self.error,
            "board_state": self.board_state,
            "final_versions": self.final_versions,
            "modelled_seconds": round(self.modelled_seconds, 2),
            "setup_modelled_seconds": round(self.setup_modelled_seconds, 2),
            "wall_seconds": round(self.wall_seconds, 3),
            "host": self.host,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PathResult:
        """Inverse of asdict()."""
        return cls(**data)


def ordered(results: list[PathResult]) -> list[PathResult]:
    """Results in report order (platform, method, from, to)."""
    return sorted(results, key=lambda r: (r.platform, r.method, r.from_version, r.to_version))


def history_entry(results: list[PathResult], meta: dict[str, Any]) -> dict[str, Any]:
    """A run's line in history.jsonl: its selection, counts, and its real wall time (start to end,
    `run_wall_seconds`; lines written before it have only `wall_seconds`, the sum of path times).
    """
    counts = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    wall = meta.get("wall_seconds")
    return {
        "time": meta.get("time", time.strftime("%Y-%m-%dT%H:%M:%S")),
        "started": meta.get("started"),
        "run": meta.get("run"),
        "selection": meta.get("selection", {}),
        "bench": meta.get("bench"),
        "paths": len(results),
        **counts,
        "modelled_seconds": round(sum(r.modelled_seconds for r in results), 1),  # the paths, without set-ups
        "setup_modelled_seconds": round(sum(r.setup_modelled_seconds for r in results), 1),
        "paths_wall_seconds": round(sum(r.wall_seconds for r in results), 1),
        "run_wall_seconds": round(float(wall), 1) if isinstance(wall, (int, float)) else None,
        "simulated": meta.get("simulated"),
    }


def results_json(results: list[PathResult], meta: dict[str, Any]) -> str:
    """The text of results.json."""
    return json.dumps({"meta": meta, "results": [asdict(r) for r in ordered(results)]}, indent=1)


def read(report_dir: Path) -> tuple[dict[str, Any], list[PathResult]]:
    """(meta, results) of results.json."""
    data = json.loads((report_dir / "results.json").read_text())
    return data["meta"], [PathResult.from_json(r) for r in data["results"]]


def _step(s: Any) -> dict[str, Any]:
    """A step of a run as results.json keeps it; a failed one also names the step it failed in."""
    out: dict[str, Any] = {"step": s.step, "wall": s.wall_seconds, "clock": s.clock_seconds}
    if not s.ok and s.note:
        out["failing"] = s.note
    return out


def from_run(
    path_id: str, platform: str, from_version: str, to_version: str, method: str, board: str | None, run: Any
) -> PathResult:
    """A PathResult from a rig.runner RunResult."""
    finals = {f"{_FUNCTION_NAMES.get(m.function, m.function)} {m.index}": m.version for m in run.final_modules}
    log = "\n".join(run.log) + ("\n--- console ---\n" + run.serial_log if run.serial_log else "")
    if run.cloud_events:
        log += "\n--- cloud events ---\n" + "\n".join(run.cloud_events)
    return PathResult(
        path_id,
        platform,
        from_version,
        to_version,
        method,
        run.outcome,
        run.error,
        board,
        finals,
        run.clock_seconds,
        run.wall_seconds,
        [_step(s) for s in run.steps],
        log,
        run.board_state,
    )


_FUNCTION_NAMES = {2: "bootloader", 4: "system part", 5: "user part", 7: "NCP firmware", 8: "radio stack"}
