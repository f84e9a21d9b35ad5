"""The project's exceptions."""

from __future__ import annotations


class SimpleFailoverError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SimpleFailoverError):
    """The configuration is invalid; .problems lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class BindError(SimpleFailoverError):
    """A listening socket could not be opened; the message says how to fix it."""
