"""The rig's own error types: every error a user can cause is one of these, with one sentence."""

from __future__ import annotations

from typing import ClassVar

# Exit codes of every `rig` command (README "Exit codes"): one owner for what a failure means.
EXIT_PASSED = 0
EXIT_FAILED = 1  # the bench failed: a board, a hub, a tool or the cloud did not do what was asked
EXIT_USER_ERROR = 2  # the input is wrong: an option, a file, devices.yaml, the set-up (permissions)
EXIT_INTERRUPTED = 3  # stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) before it ended
EXIT_QUARANTINED = 4  # `rig path run`: the record is printed, and the board was quarantined on this host


class RigError(Exception):
    """Base of every error the rig raises on purpose; str() is one sentence for the user."""

    exit_code: ClassVar[int] = EXIT_USER_ERROR


class ConfigError(RigError):
    """A configuration value (option, file, environment) is wrong."""
