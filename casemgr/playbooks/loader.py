"""Reading playbook files: YAML into `definition.Playbook`, with every problem found (file, line, field).

- `load_text` reads one playbook file: the YAML with the line of every value (casemgr/configfiles/yamlfile.py:
  duplicate keys, alias bombs and depth are refused there), the schema (definition.py's models; an unknown
  key is a problem naming the keys allowed), the `use:` of shared steps resolved with their `${param}`
  substitution, then the checks across steps: unique ids, dependencies that exist and form no cycle, steps
  that can never become ready, conditions in the language and naming what exists before the step,
  actions naming what exists, and who may complete a step.
- `read_shared_steps` reads playbooks/steps/*.yaml, `load_folder` a folder of playbooks and its steps/.
- A `Registry` (teams, incident-role kinds, taxonomy categories, custom fields of an instance) lets the
  references to them be checked too; without one they are not (the files are valid for some instance).

Nothing here raises on bad input: the problems are returned, every one, sorted by file and line. A
playbook is returned only when there is none. The format is documented in docs/playbook-format.md.
"""

from __future__ import annotations

import hashlib
import re
import string
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from pydantic import BaseModel, Field, ValidationError

from casemgr import fields
from casemgr.auth.permissions import NAMES as PERMISSION_NAMES
from casemgr.cases.models import Level, Pap, Severity, Source, Tlp
from casemgr.configfiles import yamlfile
from casemgr.configfiles.yamlfile import Document, Problem, field_name
from casemgr.playbooks import conditions
from casemgr.playbooks.definition import MAX_STEPS, Action, InputType, Playbook, SharedStep, Step, StepUse

if typing.TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["MAX_FILE_BYTES", "SET_FIELDS", "SHIPPED", "Problem", "Registry", "content_hash", "load_folder",
           "load_text", "read_shared_steps"]

SHIPPED = Path(__file__).resolve().parent.parent.parent / "playbooks"  # the repository's playbooks/ folder
MAX_FILE_BYTES = 1024 * 1024  # a playbook of 500 long steps is well under this

# The built-in case fields an action may set, with the values each takes (None: any text). The status is
# not here: a playbook moves a case through its lifecycle with `transition`, which applies the lifecycle's
# rules. Any other name is a custom field's code.
SET_FIELDS: dict[str, frozenset[str] | None] = {
    "severity": frozenset(Severity), "impact": frozenset(Level), "urgency": frozenset(Level),
    "tlp": frozenset(Tlp), "pap": frozenset(Pap), "source": frozenset(Source),
    "category": None, "subcategory": None, "root_cause": None,
}
_PLACEHOLDER = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))")

Where = tuple[int | str, ...]


@dataclass(frozen=True)
class Registry:
    """What an instance has that a playbook may name; a reference to anything else is a problem.
    Teams by name (compared case-folded), incident-role kinds, taxonomy categories and custom fields by code."""

    teams: frozenset[str] = frozenset()
    incident_roles: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    custom_fields: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "teams", frozenset(t.strip().casefold() for t in self.teams))

    @classmethod
    def from_db(cls, session: Session) -> Registry:
        """The instance's teams, incident-role kinds, categories and custom fields that are not retired."""
        from sqlalchemy import select

        from casemgr.cases.field_models import CaseFieldDefinition
        from casemgr.cases.role_models import IncidentRoleKind
        from casemgr.cases.taxonomy_models import TaxonomyCategory
        from casemgr.teams.models import Team

        def active(column: Any, model: Any) -> frozenset[str]:
            return frozenset(session.scalars(select(column).where(model.retired_at.is_(None))))

        return cls(teams=active(Team.name, Team), incident_roles=active(IncidentRoleKind.code, IncidentRoleKind),
                   categories=active(TaxonomyCategory.code, TaxonomyCategory),
                   custom_fields=active(CaseFieldDefinition.code, CaseFieldDefinition))


def content_hash(pb: Playbook) -> str:
    """The sha256 (hex) of the playbook's canonical JSON (RFC 8785): the same content, the same hash,
    whatever the order or layout of the file."""
    return hashlib.sha256(rfc8785.dumps(pb.canonical())).hexdigest()


def display_name(path: Path) -> str:
    """A file as problems name it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- files and folders


def _read_file(path: Path, file: str) -> tuple[Document | None, list[Problem]]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [Problem(file, 0, "", f"cannot be read: {exc.strerror}")]
    if size > MAX_FILE_BYTES:
        return None, [Problem(file, 0, "", f"larger than {MAX_FILE_BYTES // 1024} KiB; split the playbook")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, 0, "", f"not UTF-8 text (byte {exc.start})")]
    except OSError as exc:
        return None, [Problem(file, 0, "", f"cannot be read: {exc.strerror}")]
    return _read_text(text, file)


def _read_text(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, [Problem(file, 0, "", f"larger than {MAX_FILE_BYTES // 1024} KiB; split the playbook")]
    document, problems = yamlfile.read(file, text)
    if document is None:
        return None, problems
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else "not a mapping of keys such as id:, title: and steps:"
        return None, [*problems, document.problem((), f"the file is {what}")]
    return document, problems


def read_shared_steps(folder: Path) -> tuple[dict[str, SharedStep], list[Problem]]:
    """The shared steps in `folder` (*.yaml, one each, named after its id), and the problems of their files.
    A missing folder has none."""
    shared: dict[str, SharedStep] = {}
    problems: list[Problem] = []
    if not folder.is_dir():
        return shared, problems
    for path in sorted(folder.glob("*.yaml")):
        file = display_name(path)
        document, found = _read_file(path, file)
        problems += found
        if document is None:
            continue
        step, found = _shared_step(document, path.stem)
        problems += found
        if step is not None and not found:
            shared[step.id] = step
    return shared, sorted(problems)


def _shared_step(document: Document, stem: str) -> tuple[SharedStep | None, list[Problem]]:
    try:
        step = SharedStep.model_validate(document.data)
    except ValidationError as exc:
        return None, [document.problem(tuple(e["loc"]), _words(SharedStep, e)) for e in exc.errors()]
    problems = []
    if step.id != stem:
        problems.append(document.problem(("id",), f"{step.id!r} should be the file's name ({stem}.yaml has "
                                                  f"id {stem}), so that a `use:` finds its file"))
    declared = {p.name for p in step.parameters}
    seen: set[str] = set()
    for i, parameter in enumerate(step.parameters):
        if parameter.name in seen:
            problems.append(document.problem(("parameters", i, "name"), f"{parameter.name!r} is given twice"))
        seen.add(parameter.name)
    for where, text in _strings(document.data.get("step"), ("step",)):
        for name, malformed in _placeholders(text):
            if malformed is not None:
                problems.append(document.problem(where, malformed))
            elif name not in declared:
                problems.append(document.problem(where, f"${{{name}}} is not a parameter of this step; the "
                                                        f"parameters are {_listing(sorted(declared)) or 'none'}"))
    problems += _input_problems(document, ("step",), step.step.inputs)
    problems += _actions_problems(document, ("step",), step.step.actions, step.step.inputs, None)
    problems += _who_problems(document, ("step", "who"), step.step.who, None)
    return step, problems


def load_folder(folder: Path, *, registry: Registry | None = None) -> tuple[list[Playbook], list[Problem]]:
    """The playbooks in `folder` (*.yaml), their shared steps from folder/steps, and every problem found.
    Only playbooks without problems are returned; two files with one id are both a problem."""
    if not folder.is_dir():
        return [], [Problem(display_name(folder), 0, "", "no such folder")]
    shared, problems = read_shared_steps(folder / "steps")
    playbooks: list[Playbook] = []
    first: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        file = display_name(path)
        document, found = _read_file(path, file)
        if document is not None:
            pb, more = _load_document(document, shared, registry)
            found += more
            if pb is not None and not found:
                if pb.id in first:
                    found.append(document.problem(("id",), f"{pb.id!r} is the id of {first[pb.id]} too; "
                                                           "each playbook has its own id"))
                else:
                    first[pb.id] = file
                    playbooks.append(pb)
        problems += found
    return playbooks, sorted(problems)


def load_text(text: str, file: str, shared: Mapping[str, SharedStep], *,
              registry: Registry | None = None) -> tuple[Playbook | None, list[Problem]]:
    """Read a playbook from `text` (the content of `file`, for the problems' sake), resolving its `use:`
    of `shared` steps. Returns the playbook and no problem, or None and every problem found."""
    document, problems = _read_text(text, file)
    if document is None:
        return None, problems
    pb, more = _load_document(document, shared, registry)
    problems = sorted(problems + more)
    return (pb, []) if pb is not None and not problems else (None, problems)


# ---------------------------------------------------------------- one playbook


def _load_document(document: Document, shared: Mapping[str, SharedStep],
                   registry: Registry | None) -> tuple[Playbook | None, list[Problem]]:
    data: dict[str, Any] = document.data
    problems: list[Problem] = []
    raw_steps = data.get("steps")
    steps: list[tuple[int, Step]] = []
    step_problems = False
    if isinstance(raw_steps, list):
        for i, raw in enumerate(raw_steps):
            step, found = _step(document, i, raw, shared)
            problems += found
            step_problems = step_problems or bool(found)
            if step is not None:
                steps.append((i, step))
    given = {**data, "steps": [s for _, s in steps]} if isinstance(raw_steps, list) and steps else data
    try:
        pb: Playbook | None = Playbook.model_validate(given)
    except ValidationError as exc:
        pb = None
        for error in exc.errors():
            loc = tuple(error["loc"])
            if loc[:1] == ("steps",) and (step_problems or len(loc) > 2):
                continue  # the steps were checked one by one, against the file's own indexes
            problems.append(document.problem(loc, _words(Playbook, error)))
    written = {r["id"] for r in raw_steps if isinstance(r, dict) and isinstance(r.get("id"), str)} \
        if isinstance(raw_steps, list) else set()
    problems += _graph_problems(document, steps, written, registry)
    if registry is not None and isinstance(data.get("categories"), list):
        for i, code in enumerate(data["categories"]):
            if isinstance(code, str) and code not in registry.categories:
                problems.append(document.problem(("categories", i), f"no category {code!r} in the taxonomy; the "
                                                 f"categories are {_listing(sorted(registry.categories))}"))
    return (pb if not problems else None), problems


def _step(document: Document, i: int, raw: Any, shared: Mapping[str, SharedStep]) -> tuple[Step | None, list[Problem]]:
    at: Where = ("steps", i)
    if not isinstance(raw, dict):
        return None, [document.problem(at, "a step is a mapping of keys such as id:, title: and phase:")]
    if "use" not in raw:
        try:
            return Step.model_validate(raw), []
        except ValidationError as exc:
            return None, [document.problem((*at, *e["loc"]), _words(Step, e)) for e in exc.errors()]
    try:
        use = StepUse.model_validate(raw)
    except ValidationError as exc:
        return None, [document.problem((*at, *e["loc"]), _words(StepUse, e)) for e in exc.errors()]
    return _resolve(document, at, use, shared)


def _resolve(document: Document, at: Where, use: StepUse,
             shared: Mapping[str, SharedStep]) -> tuple[Step | None, list[Problem]]:
    """A `use:` of a shared step made into a complete step: its text with the parameters substituted, then
    the using step's own id, dependencies and condition, and its title, phase and who when given."""
    target = shared.get(use.use)
    if target is None:
        known = _listing(sorted(shared)) if shared else "none (no files in playbooks/steps)"
        return None, [document.problem((*at, "use"), f"no shared step {use.use!r}; the shared steps are {known}")]
    problems = []
    declared = {p.name: p for p in target.parameters}
    for name in use.with_:
        if name not in declared:
            problems.append(document.problem((*at, "with", name), f"{use.use} has no parameter {name!r}; its "
                                             f"parameters are {_listing(sorted(declared))}"))
    values = {}
    for parameter in target.parameters:
        value = use.with_.get(parameter.name, parameter.default)
        if value is None:
            problems.append(document.problem((*at, "with"), f"{use.use} needs the parameter {parameter.name!r}"
                                             + (f" ({parameter.description})" if parameter.description else "")))
        else:
            values[parameter.name] = value
    if problems:
        return None, problems
    body = _substitute(target.step.model_dump(mode="json", exclude_defaults=True), values)
    body.update(id=use.id, depends_on=use.depends_on, used=target.id)
    if use.condition is not None:
        body["condition"] = use.condition
    for key in ("title", "phase", "who"):
        if getattr(use, key) is not None:
            body[key] = getattr(use, key).model_dump(mode="json", exclude_none=True) \
                if isinstance(getattr(use, key), BaseModel) else str(getattr(use, key))
    try:
        return Step.model_validate(body), []
    except ValidationError as exc:  # a parameter's value made the shared step's text too long, say
        return None, [document.problem((*at, "with"), f"{use.use} with these parameters: {field_name(tuple(e['loc']))}"
                                       f" {_words(Step, e)}") for e in exc.errors()]


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return string.Template(value).substitute(values)  # every placeholder was checked by _shared_step
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


def _strings(value: Any, where: Where) -> Iterable[tuple[Where, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*where, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*where, key))


def _placeholders(text: str) -> Iterable[tuple[str, str | None]]:
    """Each `${name}` in `text` as (name, None), and each malformed `$...` as ("", what is wrong)."""
    for match in _PLACEHOLDER.finditer(text):
        braced, bare, escaped = match.groups()
        if escaped:
            continue
        name = braced if braced is not None else bare
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name or ""):
            yield "", f"{match[0]!r} is not a parameter: write ${{name}} (lower case), or $$ for a dollar sign"
        else:
            yield name, None
    rest = _PLACEHOLDER.sub("", text)
    if "$" in rest:
        yield "", "a lone $ is not a parameter: write ${name}, or $$ for a dollar sign"


# ---------------------------------------------------------------- across steps


def _graph_problems(document: Document, steps: list[tuple[int, Step]], written: set[str],
                    registry: Registry | None) -> list[Problem]:
    """The checks across steps. `written`: the ids of every step in the file, the ones with problems of their
    own too (a reference to such a step is not a second problem)."""
    problems: list[Problem] = []
    by_id: dict[str, tuple[int, Step]] = {}
    for i, step in steps:
        if step.id in by_id:
            j = by_id[step.id][0]
            problems.append(document.problem(("steps", i, "id"), f"{step.id!r} is the id of steps[{j}] too (line "
                                             f"{document.line(('steps', j))}); each step has its own id"))
        else:
            by_id[step.id] = (i, step)
    broken: dict[str, str] = {}  # step id -> why it can never become ready
    for i, step in steps:
        seen: set[str] = set()
        for k, dep in enumerate(step.depends_on):
            where = ("steps", i, "depends_on", k)
            if dep == step.id:
                problems.append(document.problem(where, "a step cannot depend on itself"))
                broken[step.id] = "depends on itself"
            elif dep not in written:
                problems.append(document.problem(where, f"no step {dep!r} in this playbook; the steps are "
                                                 f"{_listing(sorted(written))}"))
                broken[step.id] = f"depends on {dep!r}, which is not in this playbook"
            elif dep in seen:
                problems.append(document.problem(where, f"{dep!r} is listed twice"))
            seen.add(dep)
    graph = {sid: [d for d in s.depends_on if d in by_id and d != sid] for sid, (_, s) in by_id.items()}
    for cycle in _cycles(graph):
        i = by_id[cycle[0]][0]
        circle = " → ".join([*cycle, cycle[0]])
        problems.append(document.problem(("steps", i, "depends_on"),
                                         f"these steps depend on each other in a circle: {circle}; none of "
                                         "them can ever become ready"))
        for sid in cycle:
            broken[sid] = "is in a circle of dependencies"
    ancestors = _ancestors(graph)
    for sid, (i, _) in by_id.items():
        if sid in broken:
            continue
        cause = next((a for a in graph_order(by_id, ancestors[sid]) if a in broken), None)
        if cause is not None:
            problems.append(document.problem(("steps", i, "depends_on"), f"can never become ready: it waits for "
                                             f"{cause!r}, which {broken[cause]}"))
    for i, step in steps:
        if by_id.get(step.id, (None,))[0] != i:
            continue  # a duplicate id: its checks would compare against the other step
        at: Where = ("steps", i)
        problems += _input_problems(document, at, step.inputs) if step.used is None else []
        if set(step.depends_on) <= set(by_id) | {step.id}:  # else its ancestors are not all known
            problems += _condition_problems(document, at, step, by_id, before=ancestors.get(step.id, set()),
                                            registry=registry)
        problems += _actions_problems(document, at, step.actions, step.inputs, registry)
        problems += _who_problems(document, (*at, "who"), step.who, registry)
    return problems


def graph_order(by_id: Mapping[str, Any], ids: Iterable[str]) -> list[str]:
    """`ids` in the order their steps are written."""
    order = {sid: n for n, sid in enumerate(by_id)}
    return sorted(ids, key=order.__getitem__)


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """The circles of dependencies (Tarjan's strongly connected components of more than one step), each
    as a path in dependency order starting with the first step written; iterative, so depth is no limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    order = {sid: n for n, sid in enumerate(graph)}
    cycles = []
    for component in sorted(found, key=lambda c: min(order[s] for s in c)):
        start = min(component, key=order.__getitem__)
        path = [start]  # walk dependencies inside the component back to the start: one circle to show
        while True:
            nxt = min((d for d in graph[path[-1]] if d in component), key=lambda d: (d != start, order[d]))
            if nxt == start or nxt in path:
                break
            path.append(nxt)
        cycles.append(path)
    return cycles


def _ancestors(graph: Mapping[str, list[str]]) -> dict[str, set[str]]:
    """Every step's transitive dependencies (cycles included, without looping)."""
    result: dict[str, set[str]] = {}
    for sid in graph:
        seen: set[str] = set()
        todo = list(graph[sid])
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(graph[dep])
        result[sid] = seen
    return result


def _input_problems(document: Document, at: Where, inputs: list[Any]) -> list[Problem]:
    problems = []
    first: dict[str, int] = {}
    for k, one in enumerate(inputs):
        if one.id in first:
            problems.append(document.problem((*at, "inputs", k, "id"), f"{one.id!r} is the id of inputs"
                                             f"[{first[one.id]}] of this step too; each input has its own id"))
        first.setdefault(one.id, k)
    return problems


def _condition_problems(document: Document, at: Where, step: Step, by_id: Mapping[str, tuple[int, Step]], *,
                        before: set[str], registry: Registry | None) -> list[Problem]:
    if step.condition is None:
        return []
    where = (*at, "condition")
    try:
        parsed = conditions.parse(step.condition)
    except conditions.ConditionError as exc:
        return [document.problem(where, str(exc))]
    problems = []
    for name in sorted(parsed.names):
        message = _name_problem(name, step, by_id, before, registry)
        if message is not None:
            problems.append(document.problem(where, message))
    return problems


def _name_problem(name: str, step: Step, by_id: Mapping[str, tuple[int, Step]], before: set[str],
                  registry: Registry | None) -> str | None:
    parts = name.split(".")
    if parts[0] == "case":
        if len(parts) == 3 and parts[1] == "fields":
            if registry is not None and parts[2] not in registry.custom_fields:
                return f"{name!r}: no custom field {parts[2]!r}; the custom fields are " \
                       f"{_listing(sorted(registry.custom_fields))}"
            return None
        if len(parts) == 2 and parts[1] in conditions.CASE_NAMES:
            return None
        return f"{name!r} names nothing: a case is read as case.<name> (one of " \
               f"{_listing(sorted(conditions.CASE_NAMES))}) or case.fields.<code>"
    if len(parts) != 2:
        return f"{name!r} names nothing: write case.<name>, case.fields.<code> or <step>.<input>"
    step_id, input_id = parts
    other = by_id.get(step_id)
    if other is None:
        return f"{name!r} names nothing: there is no step {step_id!r} (nor is it case.<name>)"
    if other[1].input(input_id) is None:
        inputs = [i.id for i in other[1].inputs]
        return f"{name!r} names nothing: step {step_id!r} has no input {input_id!r}; its inputs are " \
               f"{_listing(inputs) if inputs else 'none'}"
    if step_id == step.id:
        return f"{name!r} is an input of this step, recorded only when it is completed: a condition reads " \
               "inputs of the steps before it"
    if step_id not in before:
        return f"{name!r} names an input of a step that is not before this one: add {step_id!r} to depends_on " \
               "(directly or through a step that depends on it)"
    return None


def _actions_problems(document: Document, at: Where, actions: list[Action], inputs: list[Any],
                      registry: Registry | None) -> list[Problem]:
    problems = []
    for k, action in enumerate(actions):
        where = (*at, "actions", k)
        if action.add_indicators is not None:
            named = next((i for i in inputs if i.id == action.add_indicators), None)
            indicator_inputs = [i.id for i in inputs if i.type is InputType.INDICATORS]
            if named is None or named.type is not InputType.INDICATORS:
                what = "no input" if named is None else f"a {named.type} input, not an indicators input"
                problems.append(document.problem((*where, "add_indicators"), f"{action.add_indicators!r} is "
                                                 f"{what} of this step; its indicators inputs are "
                                                 f"{_listing(indicator_inputs) if indicator_inputs else 'none'}"))
        if action.set_field is not None:
            message = _set_field_problem(action.set_field.field, action.set_field.value, registry)
            if message is not None:
                problems.append(document.problem((*where, "set_field", message[0]), message[1]))
    return problems


def _set_field_problem(name: str, value: Any, registry: Registry | None) -> tuple[str, str] | None:
    if name == "status":
        return "field", "the status changes through the lifecycle: use `transition: <state>` instead"
    if name in SET_FIELDS:
        allowed = SET_FIELDS[name]
        if allowed is not None and value not in allowed:
            return "value", f"{value!r} is not a {name}; it is one of {_listing(sorted(allowed))}"
        if allowed is None and name != "subcategory" and not (isinstance(value, str) and value.strip()):
            return "value", f"the {name} is a text"
        return None
    if registry is None:
        return None  # a custom field's code: checked when the instance's fields are known
    if name not in registry.custom_fields:
        return "field", f"{name!r} is not a case field: the built-in ones are {_listing(list(SET_FIELDS))}, " \
                        f"the custom ones {_listing(sorted(registry.custom_fields)) or 'none'}"
    return None


def _who_problems(document: Document, at: Where, who: Any, registry: Registry | None) -> list[Problem]:
    if who is None:
        return []
    if who.permission is not None and who.permission not in PERMISSION_NAMES:
        return [document.problem((*at, "permission"), f"no permission {who.permission!r}; the permissions are "
                                 "listed in docs/permissions.md (e.g. playbook.run, case.edit)")]
    if registry is None:
        return []
    if who.team is not None and who.team.strip().casefold() not in registry.teams:
        return [document.problem((*at, "team"), f"no team {who.team!r}; the teams are "
                                 f"{_listing(sorted(registry.teams)) or 'none yet'}")]
    if who.incident_role is not None and who.incident_role not in registry.incident_roles:
        return [document.problem((*at, "incident_role"), f"no incident role {who.incident_role!r}; the roles are "
                                 f"{_listing(sorted(registry.incident_roles)) or 'none yet'}")]
    return []


# ---------------------------------------------------------------- the published JSON Schema


class PlaybookFile(Playbook):
    """A playbook as its file is written: a step may be a `use:` of a shared step."""

    steps: list[Step | StepUse] = Field(min_length=1, max_length=MAX_STEPS)  # type: ignore[assignment]


SCHEMA_FILES: dict[str, tuple[type[BaseModel], str]] = {
    "playbook.schema.json": (PlaybookFile, "A casemgr playbook file (playbooks/*.yaml)"),
    "shared-step.schema.json": (SharedStep, "A casemgr shared step file (playbooks/steps/*.yaml)")}
SCHEMA_FOLDER = Path(__file__).resolve().parent / "data"


def json_schemas() -> dict[str, str]:
    """The JSON Schemas (draft 2020-12) of the two file formats, as committed in casemgr/playbooks/data/.
    Regenerate: python -c "from casemgr.playbooks import loader; loader.write_json_schemas()" """
    import json

    texts = {}
    for name, (model, title) in SCHEMA_FILES.items():
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"casemgr:{name}",
                  **model.model_json_schema(by_alias=True), "title": title,
                  "description": "The format is documented in docs/playbook-format.md; casemgr playbook validate "
                                 "checks what a schema cannot (ids, dependencies, conditions)."}
        texts[name] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return texts


def write_json_schemas() -> None:
    for name, text in json_schemas().items():
        (SCHEMA_FOLDER / name).write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- words


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items)


def _words(model: type[BaseModel], error: Any) -> str:
    """A pydantic error in plain words: unknown keys with the keys allowed there, patterns explained."""
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "extra_forbidden":
        inner = _model_at(model, loc[:-1])
        keys = [f.alias or name for name, f in inner.model_fields.items()]
        return f"unknown key; the keys here are {_listing(keys)}"
    if kind == "missing":
        return "missing; it is required here"
    if kind == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        hint = _PATTERNS.get(pattern)
        if hint:
            return f"{error['input']!r} is not {hint}"
    if kind == "string_type" and isinstance(error["input"], int | float) and not isinstance(error["input"], bool):
        return f"should be a text: write it in quotes (YAML reads {error['input']!r} as a number)"
    if kind in {"string_type", "int_type", "bool_type", "list_type", "dict_type", "model_type", "float_type"}:
        wanted = {"string_type": "a text", "int_type": "a whole number", "bool_type": "true or false",
                  "list_type": "a list (items each starting with -)", "dict_type": "a mapping of keys",
                  "model_type": "a mapping of keys", "float_type": "a number"}[kind]
        return f"should be {wanted}"
    message = fields.problem(model, {**error, "loc": ()})[1]
    return message.removeprefix("Value error, ")


_PATTERNS = {
    r"^[a-z0-9][a-z0-9-]{0,63}$": "a playbook id: lower-case letters, digits and hyphens (e.g. cloud-credential-leak)",
    r"^[a-z][a-z0-9_]{0,63}$": "an id: a lower-case letter, then lower-case letters, digits and _ "
                               "(e.g. reset_credentials)",
    r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$": "a semantic version such as 1.2.0",
}


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model of the mapping at `loc` inside `model` (steps[0].inputs[1] -> StepInput)."""
    for part in loc:
        if not isinstance(part, str):
            continue
        declared = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None)
        if declared is None:
            continue
        inner = _models_in(declared.annotation)
        if inner:
            model = inner[0]
    return model


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found
