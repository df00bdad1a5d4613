"""The rig's own error types: every error a user can cause is one of these, with one sentence."""

from __future__ import annotations


class RigError(Exception):
    """Base of every error the rig raises on purpose; str() is one sentence for the user."""


class ConfigError(RigError):
    """A configuration value (option, file, environment) is wrong."""
