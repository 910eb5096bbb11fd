"""YAML that people write: strict loading with a source location for every value.

PyYAML's constructors forget where a value came from and silently keep the last of two
duplicate keys. Here the node tree is walked by hand: duplicate keys are an error, and every
path into the document (``("segments", 0, "cidrs")``) remembers its line and column so a
validation error can name them.

Every file is bounded before it is believed: a regular file (a FIFO or a device is refused
before it is opened, so nothing blocks or reads forever), at most ``MAX_BYTES``, nesting at
most ``MAX_DEPTH`` (counted on the parser's events, before libyaml's recursive composer could
overflow the stack), at most ``MAX_ALIASES`` aliases and ``MAX_VALUES`` values once aliases are
expanded (a 519-byte "billion laughs" would otherwise grow without end).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sentinel.errors import InputError, SourceLocation

PathKey = tuple[str | int, ...]

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 1_000
MAX_VALUES = 500_000
M = TypeVar("M", bound=BaseModel)


@dataclass
class LocatedDocument:
    """A loaded YAML document and the (line, column) of each path inside it."""

    file: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    values: int = 0

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


def _scalar(node: yaml.ScalarNode, constructor: yaml.constructor.SafeConstructor,
            error: type[InputError], name: str) -> Any:
    """The value of a scalar; one its tag cannot make (``2020-13-45``, ``!!binary xx``, an
    unknown ``!tag``) is a located error that does not quote it (the file may hold secrets)."""
    try:
        return constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        tag = node.tag.rsplit(":", 1)[-1] if node.tag.startswith("tag:yaml.org,2002:") else (
            node.tag)
        where = SourceLocation(name, node.start_mark.line + 1, node.start_mark.column + 1)
        raise error(f"not a valid {tag} value", where) from None


def _walk(node: yaml.Node, path: PathKey, doc: LocatedDocument, error: type[InputError],
          constructor: yaml.constructor.SafeConstructor) -> Any:
    doc.values += 1
    if doc.values > MAX_VALUES or len(path) > MAX_DEPTH:
        where = SourceLocation(doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
        raise error(f"too large once its aliases are expanded (more than {MAX_VALUES} values "
                    f"or {MAX_DEPTH} levels)", where)
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (_scalar(key_node, constructor, error, doc.file)
                   if isinstance(key_node, yaml.ScalarNode) else None)
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
    return _scalar(node, constructor, error, doc.file)  # type: ignore[arg-type]  # by elimination


def read_bounded(source: Path | Traversable, error: type[InputError],
                 limit: int = MAX_BYTES) -> str:
    """The text of a person's file: a regular file of at most ``limit`` bytes, UTF-8."""
    name = str(source)
    try:
        if isinstance(source, Path):
            info = source.stat()
            if not stat.S_ISREG(info.st_mode):
                raise error("not a regular file", SourceLocation(name))
            with source.open("rb") as handle:
                raw = handle.read(limit + 1)
        else:
            raw = source.read_bytes()
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror or exc}", SourceLocation(name)) from None
    if len(raw) > limit:
        raise error(f"larger than {limit} bytes", SourceLocation(name))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", SourceLocation(name)) from None


def _at(name: str, event: yaml.Event) -> SourceLocation:
    mark = event.start_mark
    return SourceLocation(name, mark.line + 1, mark.column + 1) if mark else SourceLocation(name)


def _check_shape(content: str, name: str, error: type[InputError]) -> None:
    """Depth and aliases counted on the event stream (libyaml's parser keeps its own stack;
    its composer recurses, and 100k nested brackets would overflow the C stack)."""
    depth = aliases = 0
    for event in yaml.parse(content, Loader=_Composer):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise error(f"nested more than {MAX_DEPTH} levels deep", _at(name, event))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise error(f"more than {MAX_ALIASES} aliases", _at(name, event))


def load_yaml(
    source: Path | Traversable, error: type[InputError] = InputError, text: str | None = None
) -> LocatedDocument:
    """Read one YAML file strictly and within bounds: syntax errors, duplicate keys, size,
    depth and alias expansion carry the location."""
    name = str(source)
    content = text if text is not None else read_bounded(source, error)
    (node,) = _compose_checked(content, name, error, single=True)
    doc = LocatedDocument(name, None)
    if node is not None:
        doc.data = _walk(node, (), doc, error, yaml.constructor.SafeConstructor())
    return doc


def check_text(content: str, name: str, error: type[InputError] = InputError) -> None:
    """Hold YAML text to the same bounds as :func:`load_yaml` (size, syntax, depth, aliases,
    values once aliases are expanded, no alias inside its own value) before it is handed to
    a parser that knows no bounds (pySigma, ``yaml.safe_load``). Several documents
    (``---``) are allowed, as pySigma reads them; ``name`` is the file the errors name."""
    _compose_checked(content, name, error, single=False)


def _compose_checked(content: str, name: str, error: type[InputError],
                     single: bool) -> list[yaml.Node | None]:
    """The node tree of each document of ``content`` (exactly one when ``single``), once the
    text passed every bound; errors name ``name``."""
    if len(content) > MAX_BYTES:
        raise error(f"larger than {MAX_BYTES} bytes", SourceLocation(name))
    try:
        _check_shape(content, name, error)
        nodes: list[yaml.Node | None] = (
            [yaml.compose(content, Loader=_Composer)] if single
            else list(yaml.compose_all(content, Loader=_Composer)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = (
            SourceLocation(name, mark.line + 1, mark.column + 1) if mark else SourceLocation(name)
        )
        # The parser's own words only, on one line (libyaml appends a second mark to some),
        # never a snippet of the file: a config file's line may hold a key.
        problem = (exc.problem or type(exc).__name__).splitlines()[0].strip()
        context = (exc.context or "").splitlines()[0].strip() if exc.context else ""
        said = f"{context}: {problem}" if context and context != problem else problem
        raise error(f"not valid YAML: {said}", where) from None
    except yaml.YAMLError as exc:
        raise error(f"not valid YAML: {type(exc).__name__}", SourceLocation(name)) from None
    sizes: dict[int, int] = {}
    total = 0
    for node in nodes:
        if node is not None:
            total += _expanded(node, sizes, set(), error, name)
        if total > MAX_VALUES:
            raise error(f"more than {MAX_VALUES} values once its aliases are expanded",
                        SourceLocation(name))
    return nodes


def _expanded(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int],
              error: type[InputError], name: str) -> int:
    """How many values the node stands for with every alias expanded (each node is counted
    once; a node that contains itself is refused)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        mark = node.start_mark
        raise error("an alias refers to a value that contains it",
                    SourceLocation(name, mark.line + 1, mark.column + 1))
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            total += _expanded(key_node, sizes, open_nodes, error, name)
            total += _expanded(value_node, sizes, open_nodes, error, name)
            if total > MAX_VALUES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded(item, sizes, open_nodes, error, name)
            if total > MAX_VALUES:
                break
    open_nodes.discard(key)
    sizes[key] = total
    return total


def validate(doc: LocatedDocument, model: type[M], error: type[InputError], *,
             quote: bool = True) -> M:
    """Validate a located document against a pydantic model; the first error is located.

    ``quote`` adds the offending value to the message (``(got 'x')``); a file that holds
    secrets passes False, and then no value from the file is in the message.
    """
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        first = exc.errors(include_input=quote, include_url=False)[0]
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
        elif quote:
            given = first.get("input")
            if isinstance(given, str | int | float) and not isinstance(given, bool):
                message = f"{message} (got {given!r})"
        field_name = ".".join(str(p) for p in loc) or None
        raise error(message, doc.locate(loc, field_name)) from None
