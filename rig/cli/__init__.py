"""The `rig` command."""

from rig.cli.app import main
from rig.cli.parser import build_parser

__all__ = ["build_parser", "main"]
