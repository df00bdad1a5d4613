"""The `rig` command."""

from rig.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
