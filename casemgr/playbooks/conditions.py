"""Step conditions: a small, safe expression language, parsed once and evaluated without `eval`.

A condition decides whether a step applies to the case (false: the step is `not_applicable`). It reads
like Python, and Python's own parser (`ast`) reads it; only the node kinds listed below are accepted,
and evaluation walks the tree itself, so nothing in a condition can call, import or reach an attribute
of a Python object.

    case.category == 'malware' and triage.ransom_note_found
    case.severity in ['critical', 'high'] or not scope.single_host
    assess.hosts_affected >= 10

- Names are dotted: `case.<attribute>` (the `CASE_NAMES` below), `case.fields.<code>` (a custom field),
  and `<step_id>.<input_id>` (an input recorded on an earlier step). Which names exist is decided by the
  validator (casemgr/playbooks/loader.py) from the playbook: an unknown name is a validation error.
- Values: strings ('...' or "..."), numbers, true / false / null (Python's True / False / None too), and
  lists of those for `in`.
- Operators: ==, !=, <, <=, >, >=, in, not in, and, or, not. A comparison whose sides cannot be compared
  (a number with a text, anything ordered against null) is false, never an error at run time.
- A name with no value yet (an input that was not given, a step skipped) is null.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 2000
MAX_NODES = 200

# What `case.<attribute>` may name; the engine reads these from the case.
CASE_NAMES = frozenset({"status", "severity", "priority", "impact", "urgency", "category", "subcategory",
                        "tlp", "pap", "source", "restricted", "team", "reference"})

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_WORDS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


class ConditionError(ValueError):
    """A condition that is not in the language. `column` is where (1-based), when known."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message if column is None else f"{message} (at character {column})")
        self.column = column


@dataclass(frozen=True)
class Condition:
    """A parsed condition: its text, the dotted names it reads, and `evaluate(values)`."""

    text: str
    names: frozenset[str]
    _tree: ast.expr

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """True when the condition holds, reading each name from `values` (missing names are null)."""
        return bool(_evaluate(self._tree, values))


def parse(text: str) -> Condition:
    """Parse a condition. Raises ConditionError saying what is not allowed, and where."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"not a condition: {exc.msg}", exc.offset) from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ConditionError(f"a condition is at most {MAX_NODES} parts; split the step instead")
    names: set[str] = set()
    _check(tree.body, names)
    return Condition(text, frozenset(names), tree.body)


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` -> "a.b.c"; None when `node` is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _check(node: ast.expr, names: set[str]) -> None:
    where = getattr(node, "col_offset", None)
    column = where + 1 if where is not None else None
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, names)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ConditionError(f"the comparison {type(op).__name__!r} is not allowed; use ==, !=, <, <=, "
                                     ">, >=, in or not in", column)
        for part in (node.left, *node.comparators):
            _check(part, names)
    elif isinstance(node, ast.Name | ast.Attribute):
        name = dotted(node)
        if name is None:
            raise ConditionError("only names such as case.severity or triage.hosts_affected may be read", column)
        if name not in _WORDS:
            if "." not in name:
                raise ConditionError(f"{name!r} names nothing: write case.<field> or <step>.<input>", column)
            names.add(name)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool) and node.value is not None:
            raise ConditionError("only texts, numbers, true, false and null may be written", column)
    elif isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            if not isinstance(item, ast.Constant):
                raise ConditionError("a list holds only texts, numbers, true, false and null", column)
            _check(item, names)
    else:
        raise ConditionError(f"{_describe(node)} is not allowed in a condition; use comparisons, and, or, not "
                             "and in", column)


def _describe(node: ast.expr) -> str:
    kinds = {ast.Call: "calling a function", ast.Subscript: "indexing", ast.BinOp: "arithmetic",
             ast.Lambda: "a lambda", ast.IfExp: "an if-expression", ast.Dict: "a mapping",
             ast.ListComp: "a comprehension", ast.NamedExpr: "an assignment"}
    return kinds.get(type(node), type(node).__name__)


def _evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_evaluate(v, values) for v in node.values)
        return any(_evaluate(v, values) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return not _evaluate(node.operand, values)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, values)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:  # 3 < "a", None < 1, 1 in None: false, not an error during a run
                return False
            left = right
        return True
    if isinstance(node, ast.Name | ast.Attribute):
        name = dotted(node) or ""
        if name in _WORDS:
            return _WORDS[name]
        return values.get(name)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_evaluate(item, values) for item in node.elts]
    raise ConditionError(f"{_describe(node)} is not allowed in a condition")  # parse() let nothing else through
