"""Write docs/configuration.md from the config schema, so the reference cannot drift.

Run: python -m simplefailover.ops.configdoc > docs/configuration.md
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..config import CommandPolling, Config, DnsPolling, HttpPolling, SipPolling, TcpPolling

INTRO = """\
# Configuration reference

Generated from the schemas by `python -m simplefailover.ops.configdoc > docs/configuration.md`;
a test fails when it is stale. simplefailover's sections are in `simplefailover/config/`
(one module per section, the pollings in `pollings.py`); the `cluster` section is clustersync's own, in
`clustersync/config.py` (simplefailover reaches it through `clustersync.api`); the sections
both read, `monitoring` and `service`, are in `habase/settings.py`.

One file, `config.yaml`, configures both SimpleFailover and clustersync. Loading validates
everything and reports every problem at once, each with its key path and line, for example
`pollings[1].port: required for method telnet (config.yaml, line 23)`. Unknown keys are
errors. Relative paths are relative to the config file's folder. An invalid file never
starts a service; on reload (SIGHUP) an invalid file is rejected and the running
configuration is kept.

The repository's `config.yaml` is a complete, commented example that runs the demo.
"""

SECTIONS: list[tuple[str, type[BaseModel], str]] = []
METHOD_OF: dict[type[BaseModel], str] = {
    HttpPolling: "http",
    TcpPolling: "telnet",
    SipPolling: "sip",
    DnsPolling: "dns",
    CommandPolling: "command",
}


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        if {"IPv4Address", "IPv6Address"} <= set(parts):
            parts = [p for p in parts if p not in ("IPv4Address", "IPv6Address")] + ["IP address"]
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    name = getattr(annotation, "__name__", str(annotation))
    return {
        "str": "string",
        "int": "integer",
        "float": "number",
        "bool": "boolean",
        "PosixPath": "path",
        "Path": "path",
    }.get(name, name)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(see below)"
        if field.default_factory.__name__ == "gethostname":
            return "the host name"
        return f"`{value}`"
    if field.default is PydanticUndefined or field.default is None:
        return "none"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


def _constraints(field: FieldInfo) -> str:
    out = []
    for item in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >=")):
            value = getattr(item, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return ", ".join(out)


def _table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | notes |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        limits = _constraints(field)
        notes = " ".join(x for x in (field.description or "", f"({limits})" if limits else "") if x)
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {notes} |")
    return rows


def _models(
    model: type[BaseModel], path: str, seen: set[type[BaseModel]]
) -> list[tuple[str, type[BaseModel]]]:
    out = [(path, model)]
    seen.add(model)
    for name, field in model.model_fields.items():
        for candidate in _nested(field.annotation):
            if candidate not in seen:
                sub = f"{path}.{name}" if path else name
                if get_origin(field.annotation) is list or "list" in _type_name(field.annotation):
                    sub += "[]"
                out += _models(candidate, sub, seen)
    return out


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _nested(arg)
    return found


def render() -> str:
    """The whole reference as Markdown."""
    lines = [INTRO]
    for path, model in _models(Config, "", set()):
        if model in METHOD_OF:
            title = f"`{path}` with `method: {METHOD_OF[model]}`"
        else:
            title = f"`{path}`" if path else "Top level"
        lines += [f"## {title}", ""]
        doc = inspect.cleandoc(model.__doc__ or "")
        if doc and not doc.startswith(("Usage docs", "A base class")):
            lines += [doc, ""]
        lines += [*_table(model), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
