"""What every config model shares: the strict frozen base and path resolution."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationInfo


# A config section: unknown keys are errors, values never change after loading. (No
# docstring: the config reference would print it for every section without one.)
class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def resolve_path(value: Path | None, info: ValidationInfo) -> Path | None:
    """Make a relative path relative to the config file's folder."""
    if value is None or value.is_absolute():
        return value
    base = (info.context or {}).get("base_dir")
    return Path(base) / value if base else value
