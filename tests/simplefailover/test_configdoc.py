"""docs/configuration.md is generated from the schema: it must match what the code accepts."""

from __future__ import annotations

from pathlib import Path

from clustersync.config import Cluster
from simplefailover.config import Config
from simplefailover.ops.configdoc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_reference_is_up_to_date() -> None:
    assert DOC.read_text() == render(), (
        "docs/configuration.md is stale: run `python -m simplefailover.ops.configdoc > docs/configuration.md`"
    )


def test_every_key_is_documented() -> None:
    text = render()
    for model in (Config, Cluster):
        for name, field in model.model_fields.items():
            if field.exclude:
                continue  # internal (where the config came from), not a key of the file
            assert f"| `{name}` |" in text, name
