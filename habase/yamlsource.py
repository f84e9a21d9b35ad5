"""Read YAML while remembering where every key and list item came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class YamlSource:
    """Parsed YAML data plus the line (1-based) of every key and item by path."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[Path, int, str]] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """Return the line of the longest known prefix of path."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def load_yaml(text: str) -> YamlSource:
    """Parse text; raise yaml.YAMLError (with its mark) when it is not YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlSource(data=None)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    source = YamlSource(data=data)
    _walk(node, (), source)
    return source


def _walk(node: yaml.Node, path: Path, source: YamlSource) -> None:
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                source.problems.append(
                    ((*path, key), line, f"duplicate key (first defined on line {seen[key]})")
                )
            seen[key] = line
            source.lines[(*path, key)] = line
            _walk(value_node, (*path, key), source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), source)


def format_path(path: Path) -> str:
    """Render ('pollings', 1, 'port') as pollings[1].port."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"
