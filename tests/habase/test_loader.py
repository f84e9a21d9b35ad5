"""habase.loader: any model from YAML, every problem at once with its key path and line, in file order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, field_validator, model_validator

from habase.configbase import Model, resolve_path
from habase.errors import ConfigError
from habase.loader import parse_model


class Section(Model):
    port: int = Field(1, ge=1, le=65535)
    mode: str = "a"
    other: str | None = None
    file: Path | None = None

    _resolve = field_validator("file")(resolve_path)

    @model_validator(mode="after")
    def _other_for_b(self) -> Section:
        if self.mode == "b" and self.other is None:
            raise ValueError("other: required for mode b")
        return self


class Top(Model):
    section: Section = Field(default_factory=Section)
    names: list[str] = Field(default_factory=list)
    source: str = Field("<memory>", exclude=True)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_model(text, Top, "c.yaml")
    return caught.value.problems


def test_every_problem_with_its_line_in_file_order() -> None:
    text = "section:\n  colour: red\n  port: 0\nnames: [a, {b: 1}]\nnames: []\n"
    assert problems(text) == [
        "section.colour: unknown key (c.yaml, line 2)",
        "section.port: Input should be greater than or equal to 1 (c.yaml, line 3)",
        "names: duplicate key (first defined on line 4) (c.yaml, line 5)",
    ]


def test_a_model_check_names_the_key_it_is_about() -> None:
    expected = ["section.other: required for mode b (c.yaml, line 1)"]  # the line of its section
    assert problems("section:\n  port: 2\n  mode: b\n") == expected


def test_not_yaml_and_not_a_mapping() -> None:
    (problem,) = problems("section: [\n")
    assert problem.startswith("not valid YAML: ") and problem.endswith("(c.yaml, line 2)")
    assert problems("- a\n") == ["(top level): expected a mapping of sections (c.yaml, line 1)"]


def test_paths_are_relative_to_the_files_folder(tmp_path: Path) -> None:
    top = parse_model("section: {file: x/y}\n", Top, str(tmp_path / "c.yaml"), tmp_path)
    assert top.section.file == tmp_path / "x" / "y" and top.source == str(tmp_path / "c.yaml")
