"""The project's exceptions (the config error and the bind advice are habase's, shared with clustersync)."""

from __future__ import annotations

from habase.errors import ConfigError as ConfigError
from habase.errors import bind_fix as bind_fix


class SimpleFailoverError(Exception):
    """Base of every error this package raises on purpose (and ConfigError, from habase)."""


class BindError(SimpleFailoverError):
    """A listening socket could not be opened; the message says how to fix it."""
