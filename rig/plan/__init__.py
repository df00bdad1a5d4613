"""Planning: (installed modules, target release, method, user binary) -> ordered steps."""

from rig.plan.model import METHODS, InstalledModule, Plan, PlanRefused, Step, Target
from rig.plan.planner import plan

__all__ = ["METHODS", "InstalledModule", "Plan", "PlanRefused", "Step", "Target", "plan"]
