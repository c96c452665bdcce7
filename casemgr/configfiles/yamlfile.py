"""Reading a configuration file with the line of every value, and the problems found in it.

PyYAML's composer gives nodes that carry their position (`start_mark`); we build the plain data
from them ourselves, so that we know, for every path (`("teams", 3, "members", 2)`), the line it is
written on, and so that a key given twice in one mapping is a problem (PyYAML's own loader keeps
the last one silently). Only the safe YAML types are built (no Python objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[int | str, ...]
MAX_NODES = 200_000  # anchors and aliases could make a small file expand into a huge document
MAX_DEPTH = 32


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a configuration file: where (file, line, field) and what, in plain words."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def field_name(path: Path) -> str:
    """("teams", 3, "members", 2) -> "teams[3].members[2]"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class Document:
    """A file's data and the line of each path in it."""

    def __init__(self, file: str, data: Any, lines: dict[Path, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line(self, path: Path) -> int:
        """The line of `path`, or of the nearest enclosing value written in the file (a missing key's item)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.file, self.line(path), field_name(path), message)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = yaml.SafeLoader("")  # builds scalars by their resolved tag: int, bool, null, str...

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _TooLarge(node.start_mark.line + 1)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                key = self.constructor.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    self.problems.append(Problem(self.file, line, field_name(path),
                                                 "a key must be a word such as name or members"))
                    continue
                if key in seen:
                    self.problems.append(Problem(self.file, line, field_name((*path, key)),
                                                 f"given twice in this item (first on line {seen[key]})"))
                    continue
                seen[key] = line
                self.lines[(*path, key)] = line
                result[key] = self.build(value_node, (*path, key), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)


class _TooLarge(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def read(file: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Parse `text` (the content of `file`). Returns the document (None when it is not YAML at all) and
    the problems found while reading it (malformed YAML, duplicate keys, keys that are not words)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = ": ".join(p for p in (exc.context, exc.problem) if p)
        return None, [Problem(file, line, "", f"not valid YAML: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, "", f"not valid YAML: {exc}")]
    if node is None:
        return Document(file, None, {}), []
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except _TooLarge as exc:
        return None, [Problem(file, exc.line, "", f"nested or repeated too deeply (more than {MAX_NODES:,} values "
                                                  f"or {MAX_DEPTH} levels)")]
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        return None, [Problem(file, line, "", f"a value casemgr cannot read: {exc.problem}")]
    return Document(file, data, builder.lines), builder.problems


def dump(header: str, data: Any) -> str:
    """The text of a configuration file: `header` as comment lines, then the data in block style."""
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return comments + body
