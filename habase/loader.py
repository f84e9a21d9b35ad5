"""config.yaml to a validated model, or a ConfigError listing every problem with file and line."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError
from .yamlsource import YamlSource, format_path, load_yaml

M = TypeVar("M", bound=BaseModel)
Where = tuple[str | int, ...]
Problem = tuple[Where, str]  # (path in the file, what is wrong there)
Describe = Callable[[Any], Problem]
CrossChecks = Callable[[YamlSource], list[Problem]]

# A model validator names the key it is about as a prefix ("dsn: required for strategy shared").
_KEY_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*): ")


def describe(error: Any, loc: Where | None = None) -> Problem:
    """Turn one pydantic error into (path, message a person can act on)."""
    path = tuple(error["loc"]) if loc is None else loc
    kind = error["type"]
    if kind == "missing":
        return path, "required"
    if kind == "extra_forbidden":
        return path, "unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    prefix = _KEY_PREFIX.match(message) if kind == "value_error" else None
    if prefix is not None:
        return (*path, prefix.group(1)), message[prefix.end() :]
    return path, message


def read_text(path: str | os.PathLike[str]) -> tuple[str, str, Path]:
    """The file's text, its name for messages and its folder (relative paths start there)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror or exc}"]) from exc
    return text, str(file), file.resolve().parent


def parse_model(
    text: str,
    model: type[M],
    filename: str = "<memory>",
    base_dir: Path | None = None,
    *,
    explain: Describe = describe,
    cross_checks: CrossChecks | None = None,
) -> M:
    """Validate YAML text as model (its `source` field set to filename); raise ConfigError
    listing every problem, each with its path and line, in file order."""
    where = Path(filename).name
    try:
        source = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"not valid YAML: {problem} ({where}{line})"]) from exc
    if not isinstance(source.data, dict):
        raise ConfigError([f"(top level): expected a mapping of sections ({where}, line 1)"])

    problems: list[tuple[int, str]] = []

    def add(path: Where, message: str) -> None:
        line = source.line_of(path)
        suffix = f"{where}, line {line}" if line else where
        problems.append((line or 0, f"{format_path(path)}: {message} ({suffix})"))

    for path, _, message in source.problems:
        add(path, message)
    result: M | None = None
    try:
        result = model.model_validate({**source.data, "source": filename}, context={"base_dir": base_dir})
    except ValidationError as exc:
        for error in exc.errors():
            add(*explain(error))
    for path, message in cross_checks(source) if cross_checks is not None else ():
        add(path, message)
    if problems or result is None:
        problems.sort(key=lambda item: item[0])
        raise ConfigError([message for _, message in dict.fromkeys(problems)])
    return result
