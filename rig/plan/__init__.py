"""Planning: (installed modules, target release, method, user binary) -> ordered steps."""

from rig.methods import METHODS
from rig.plan.model import InstalledModule, Plan, PlanRefused, Step, StepKind, Target
from rig.plan.planner import installed_release, plan

__all__ = [
    "METHODS",
    "InstalledModule",
    "Plan",
    "PlanRefused",
    "Step",
    "StepKind",
    "Target",
    "installed_release",
    "plan",
]
