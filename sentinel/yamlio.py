"""YAML that people write: strict loading with a source location for every value.

PyYAML's constructors forget where a value came from and silently keep the last of two
duplicate keys. Here the node tree is walked by hand: duplicate keys are an error, and every
path into the document (``("segments", 0, "cidrs")``) remembers its line and column so a
validation error can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sentinel.errors import InputError, SourceLocation

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class LocatedDocument:
    """A loaded YAML document and the (line, column) of each path inside it."""

    file: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: PathKey, field_name: str | None = None) -> SourceLocation:
        """The nearest known location of a path (walking up to its parents)."""
        probe = tuple(path)
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (1, 1))
        shown = field_name or ".".join(str(p) for p in path) or None
        return SourceLocation(self.file, line, column, shown)


# libyaml's composer is ~10x faster than PyYAML's pure-Python one and keeps the marks.
_Composer: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(node: yaml.ScalarNode, constructor: yaml.constructor.SafeConstructor) -> Any:
    return constructor.construct_object(node, deep=True)


def _walk(node: yaml.Node, path: PathKey, doc: LocatedDocument, error: type[InputError],
          constructor: yaml.constructor.SafeConstructor) -> Any:
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, constructor) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int):
                where = SourceLocation(doc.file, key_node.start_mark.line + 1)
                raise error("mapping keys must be plain strings", where)
            if key in result:
                where = SourceLocation(
                    doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1, str(key)
                )
                raise error(f"duplicate key {key!r}", where)
            result[key] = _walk(value_node, (*path, key), doc, error, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, index), doc, error, constructor)
                for index, item in enumerate(node.value)]
    return _scalar(node, constructor)  # type: ignore[arg-type]  # a ScalarNode by elimination


def load_yaml(
    source: Path | Traversable, error: type[InputError] = InputError, text: str | None = None
) -> LocatedDocument:
    """Read one YAML file strictly: syntax errors and duplicate keys carry the location."""
    name = str(source)
    try:
        content = text if text is not None else source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read file: {exc}", SourceLocation(name)) from exc
    try:
        node = yaml.compose(content, Loader=_Composer)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = (
            SourceLocation(name, mark.line + 1, mark.column + 1) if mark else SourceLocation(name)
        )
        raise error(f"not valid YAML: {exc.problem}", where) from exc
    except yaml.YAMLError as exc:
        raise error(f"not valid YAML: {exc}", SourceLocation(name)) from exc
    doc = LocatedDocument(name, None)
    if node is not None:
        doc.data = _walk(node, (), doc, error, yaml.constructor.SafeConstructor())
    return doc


def validate(doc: LocatedDocument, model: type[M], error: type[InputError]) -> M:
    """Validate a located document against a pydantic model; the first error is located."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc: PathKey = tuple(first["loc"])
        message = first["msg"]
        cause = first.get("ctx", {}).get("error")
        # A model-level validator can say which field it means by giving its error a `path`.
        cause_path = getattr(cause, "path", None)
        if isinstance(cause, Exception) and isinstance(cause_path, tuple):
            loc, message = (*loc, *cause_path), str(cause)
        if first["type"] == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
        elif first["type"] == "missing":
            message = f"missing required field {loc[-1]!r}"
        else:
            given = first.get("input")
            if isinstance(given, str | int | float) and not isinstance(given, bool):
                message = f"{message} (got {given!r})"
        field_name = ".".join(str(p) for p in loc) or None
        raise error(message, doc.locate(loc, field_name)) from None
