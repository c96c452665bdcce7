"""CACAO 2.0 interoperability: our playbooks as OASIS CACAO v2.0 JSON playbooks, and back.

- `validate(doc)`: the OASIS CACAO 2.0 JSON schemas (draft-07), resolved offline from their folder through a
  `referencing.Registry` (their `$id`s are URLs; nothing is fetched), plus the references between steps.
- `to_cacao(pb)`: a CACAO playbook whose workflow is a plain CACAO graph other tools can run, and whose
  steps carry our full step record in a casemgr extension, so that ours -> CACAO -> ours is exact.
- `from_cacao(doc)`: a CACAO playbook as ours. With our extension, the exact playbook; without it, the
  workflow graph translated (docs/cacao.md gives the mapping both ways and what is refused).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from casemgr.playbooks import definition
from casemgr.playbooks.definition import Phase

SPEC_VERSION = "cacao-2.0"
# uuid5 namespace of every id we write: the same playbook always gives the same CACAO ids.
NAMESPACE = uuid.UUID("6f6b1a52-3c1e-5d0a-9a57-8f0c2f2b7e10")
EXTENSION_ID = f"extension-definition--{uuid.uuid5(NAMESPACE, 'casemgr-step')}"
IDENTITY_ID = f"identity--{uuid.uuid5(NAMESPACE, 'casemgr')}"
AGENT_ID = f"group--{uuid.uuid5(NAMESPACE, 'casemgr-analysts')}"  # who runs our manual commands: the analysts
DEFAULT_TIME = "2000-01-01T00:00:00.000Z"  # created / modified when the caller gives none: deterministic
POINTERS = ("on_completion", "on_success", "on_failure", "on_true", "on_false")
MAX_CONDITION = 2000

# Our phases as CACAO playbook types (playbook-type-ov), and back for steps without our extension.
PHASE_TYPES = {Phase.IDENTIFICATION: "investigation", Phase.CONTAINMENT: "mitigation",
               Phase.ERADICATION: "remediation", Phase.RECOVERY: "remediation",
               Phase.POST_INCIDENT: "notification"}
TYPE_PHASES = {"investigation": Phase.IDENTIFICATION, "detection": Phase.IDENTIFICATION,
               "mitigation": Phase.CONTAINMENT, "prevention": Phase.CONTAINMENT,
               "remediation": Phase.ERADICATION, "notification": Phase.POST_INCIDENT}


class CacaoRefused(ValueError):
    """A CACAO document we cannot take: each problem names the JSON path or the step."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _schema_folder() -> Path:
    """The OASIS CACAO 2.0 JSON schemas, vendored in the package (data/cacao-schemas, with their Apache 2.0
    LICENSE; the same files as ../shared/data/cacao-schemas, which tests/playbooks/test_cacao.py checks)."""
    return Path(__file__).parent / "data" / "cacao-schemas"


@cache
def _validator() -> Any:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    folder = _schema_folder()
    resources = []
    root: dict[str, Any] = {}
    for path in sorted(folder.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
        if path == folder / "playbook.json":
            root = schema
    registry: Registry[Any] = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(root, registry=registry)


def json_path(parts: Iterable[Any]) -> str:
    """["workflow", "action--1", "commands", 0, "type"] -> "workflow.action--1.commands[0].type"."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the document)"


def _deepest(error: Any) -> Any:
    # anyOf / allOf errors say only "is not valid under any of the given schemas": the best sub-error says why
    from jsonschema.exceptions import best_match

    while error.context:
        error = best_match(error.context)
    return error


def validate(doc: Any) -> list[str]:
    """Every schema error of `doc` (with its JSON path), then every step pointer that leads nowhere."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    problems = []
    for found in errors:
        error = _deepest(found)
        problems.append(f"{json_path(error.absolute_path)}: {error.message}")
    if problems or not isinstance(doc, dict):
        return problems
    workflow = doc.get("workflow", {})
    if doc.get("workflow_start") not in workflow:
        problems.append(f"workflow_start: {doc.get('workflow_start')!r} is not a step of the workflow")
    for step_id, step in workflow.items():
        for field in POINTERS:
            if field in step and step[field] not in workflow:
                problems.append(f"workflow.{step_id}.{field}: {step[field]!r} is not a step of the workflow")
        for i, target in enumerate(step.get("next_steps", [])):
            if target not in workflow:
                problems.append(f"workflow.{step_id}.next_steps[{i}]: {target!r} is not a step of the workflow")
        for key, target in step.get("cases", {}).items():
            if target not in workflow:
                problems.append(f"workflow.{step_id}.cases.{key}: {target!r} is not a step of the workflow")
    return problems


# ---------------------------------------------------------------- ours -> CACAO


def _cacao_id(kind: str, *names: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '/'.join(names))}"


def to_cacao(pb: definition.Playbook, *, created: str = DEFAULT_TIME, modified: str | None = None) -> dict[str, Any]:
    """`pb` as a CACAO v2.0 playbook. Deterministic: the same playbook and times give the same document."""
    dependents: dict[str, list[str]] = {s.id: [] for s in pb.steps}
    for s in pb.steps:
        for d in s.depends_on:
            dependents[d].append(s.id)
    end_id = _cacao_id("end", pb.id, "end")

    def entry(step: definition.Step) -> str:
        return _cacao_id("if-condition" if step.condition else "action", pb.id, step.id)

    by_id = {s.id: s for s in pb.steps}
    workflow: dict[str, Any] = {}

    def following(key: str, nexts: list[str]) -> str:
        """Where the workflow goes after `key`: the end, the one next step, or a parallel step to all."""
        if not nexts:
            return end_id
        if len(nexts) == 1:
            return entry(by_id[nexts[0]])
        parallel_id = _cacao_id("parallel", pb.id, key, "next")
        workflow[parallel_id] = {"type": "parallel", "name": f"After {key}: {len(nexts)} steps at once",
                                 "next_steps": [entry(by_id[n]) for n in nexts], "on_completion": end_id}
        return parallel_id

    start_id = _cacao_id("start", pb.id, "start")
    workflow[start_id] = {"type": "start", "name": "Start"}
    workflow[start_id]["on_completion"] = following("start", [s.id for s in pb.steps if not s.depends_on])
    for step in pb.steps:
        action_id = _cacao_id("action", pb.id, step.id)
        after = following(step.id, dependents[step.id])
        if step.condition:
            workflow[entry(step)] = {"type": "if-condition", "name": f"Does {step.id} apply?",
                                     "condition": step.condition, "on_true": action_id, "on_false": after,
                                     "on_completion": after}
        workflow[action_id] = {
            "type": "action", "name": step.title,
            "description": f"casemgr step {step.id} ({step.phase.value})",
            "commands": [{"type": "manual", "command": step.instructions or step.title}],
            "agent": AGENT_ID, "on_completion": after,
            "step_extensions": {EXTENSION_ID: {"casemgr_step": step.model_dump(mode="json", exclude_defaults=True)}},
        }
    workflow[end_id] = {"type": "end", "name": "End"}
    header = pb.model_dump(mode="json", exclude_defaults=True, exclude={"steps"})
    types = sorted({PHASE_TYPES[s.phase] for s in pb.steps})
    doc: dict[str, Any] = {
        "type": "playbook", "spec_version": SPEC_VERSION, "id": _cacao_id("playbook", pb.id),
        "name": pb.title, "description": pb.description or pb.title, "playbook_types": types,
        "created_by": IDENTITY_ID, "created": created, "modified": modified or created, "revoked": False,
        "labels": [f"casemgr:{pb.id}", f"version:{pb.version}"],
        "workflow_start": start_id, "workflow": workflow,
        "agent_definitions": {AGENT_ID: {"type": "group", "name": "The analysts running the playbook on a case"}},
        "playbook_extensions": {EXTENSION_ID: {"casemgr_playbook": header}},
        "extension_definitions": {EXTENSION_ID: {
            "type": "extension-definition", "name": "casemgr playbook",
            "description": "The casemgr playbook (on the playbook) and step record (on each action step), "
                           "exactly as casemgr stores them, so that casemgr reads its own export back unchanged.",
            "created_by": IDENTITY_ID, "schema": "casemgr docs/cacao.md and docs/playbook-format.md",
            "version": "1.0.0"}},
    }
    return doc


# ---------------------------------------------------------------- CACAO -> ours


def from_cacao(doc: Any) -> definition.Playbook:
    """A CACAO 2.0 playbook (a dict, or its JSON text) as ours. Raises CacaoRefused naming the path or step."""
    if isinstance(doc, bytes | str):
        try:
            doc = json.loads(doc)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CacaoRefused([f"not JSON: {exc}"]) from None
    problems = validate(doc)
    if problems:
        raise CacaoRefused(problems)
    ours = _from_extension(doc)
    pb = ours if ours is not None else _Translation(doc).playbook()
    _check_loads(pb)
    return pb


def _from_extension(doc: Mapping[str, Any]) -> definition.Playbook | None:
    header = doc.get("playbook_extensions", {}).get(EXTENSION_ID, {}).get("casemgr_playbook")
    if not isinstance(header, dict):
        return None
    steps = []
    for step_id, step in doc["workflow"].items():
        record = step.get("step_extensions", {}).get(EXTENSION_ID, {}).get("casemgr_step")
        if step.get("type") == "action" and record is not None:
            steps.append(record)
        elif step.get("type") == "action":
            raise CacaoRefused([f"step {step_id} has no casemgr step record although the playbook has the "
                                "casemgr extension: edit the casemgr playbook itself, or remove the extension"])
    try:
        return definition.Playbook.model_validate({**header, "steps": steps})
    except ValueError as exc:
        raise CacaoRefused([f"playbook_extensions.{EXTENSION_ID}: not a casemgr playbook: {exc}"]) from None


def _check_loads(pb: definition.Playbook) -> None:
    """The loader's checks (references, cycles, conditions' names) on the converted playbook."""
    from casemgr.playbooks import loader

    loaded, problems = loader.load_text(json.dumps(pb.canonical()), "CACAO playbook", {})
    if loaded is None:
        raise CacaoRefused([f"the converted playbook is not valid: {p.field}: {p.message}" for p in problems])


def snake_id(text: str, taken: set[str], fallback: str = "step") -> str:
    """A snake_case step id from a CACAO name, unique among `taken` (added to it)."""
    base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:56] or fallback
    if not base[0].isalpha():
        base = f"{fallback}_{base}"[:56]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _and(condition: str | None, more: str) -> str:
    return more if condition is None else f"({condition}) and {more}"


def _any(conditions: list[str | None]) -> str | None:
    if not conditions or any(c is None for c in conditions):
        return None
    unique = list(dict.fromkeys(c for c in conditions if c is not None))
    return unique[0] if len(unique) == 1 else " or ".join(f"({c})" for c in unique)


class _Translation:
    """A CACAO workflow (no casemgr extension) as our steps, in the workflow's topological order.

    What reaches a CACAO step is (the steps of ours it follows, the branch condition it is on); a step
    reached by several paths depends on all their steps and applies when any of their conditions holds."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.workflow: Mapping[str, Any] = doc["workflow"]
        self.taken: set[str] = set()
        self.steps: list[dict[str, Any]] = []
        self.incoming: dict[str, list[tuple[frozenset[str], str | None]]] = {}
        types = doc.get("playbook_types", [])
        self.phase = next((TYPE_PHASES[t] for t in types if t in TYPE_PHASES), Phase.CONTAINMENT)

    def playbook(self) -> definition.Playbook:
        for cacao_id in self._order():
            self._visit(cacao_id)
        if not self.steps:
            raise CacaoRefused(["the workflow has no action, condition or playbook-action step: nothing to do"])
        name = self.doc.get("name", "")
        pb_id = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-") or "cacao-playbook"
        if not pb_id[0].isalnum():
            pb_id = "cacao-playbook"
        try:
            return definition.Playbook.model_validate({
                "id": pb_id, "title": (name.strip() or pb_id)[:200], "version": "1.0.0",
                "description": self.doc.get("description", "")[:20_000], "steps": self.steps})
        except ValueError as exc:
            raise CacaoRefused([f"cannot be a casemgr playbook: {exc}"]) from None

    def _nexts(self, cacao_id: str) -> list[str]:
        step = self.workflow[cacao_id]
        found = [step[f] for f in ("on_completion", "on_success", "on_true", "on_false") if f in step]
        return found + list(step.get("next_steps", [])) + list(step.get("cases", {}).values())

    def _order(self) -> list[str]:
        """The steps reachable from workflow_start, each after every step leading to it. Refuses loops."""
        for cacao_id, step in self.workflow.items():
            if step.get("type") == "while-condition":
                raise CacaoRefused([f"step {cacao_id} loops; a casemgr playbook is a directed acyclic graph"])
            target = step.get("on_failure")
            if target is not None and self.workflow[target].get("type") != "end":
                raise CacaoRefused([f"step {cacao_id}: its on_failure path ({target}) cannot be represented; "
                                    "a casemgr step that fails stops its branch"])
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        stack: list[tuple[str, int]] = [(self.doc["workflow_start"], 0)]
        while stack:  # iterative depth-first search: a long workflow never hits the recursion limit
            cacao_id, i = stack.pop()
            nexts = self._nexts(cacao_id)
            if i == 0:
                if state.get(cacao_id) == 2:
                    continue
                state[cacao_id] = 1
            if i < len(nexts):
                stack.append((cacao_id, i + 1))
                target = nexts[i]
                if state.get(target) == 1:
                    raise CacaoRefused([f"step {target} loops (it is reached again from {cacao_id}); a casemgr "
                                        "playbook is a directed acyclic graph"])
                if state.get(target) != 2:
                    stack.append((target, 0))
            else:
                state[cacao_id] = 2
                order.append(cacao_id)
        return order[::-1]

    def _send(self, target: str | None, deps: frozenset[str], condition: str | None) -> None:
        if target is not None:
            self.incoming.setdefault(target, []).append((deps, condition))

    def _add(self, cacao_id: str, title: str, instructions: str, deps: frozenset[str], condition: str | None, *,
             inputs: list[dict[str, Any]] | None = None) -> str:
        step_id = snake_id(title or cacao_id.split("--", maxsplit=1)[0], self.taken)
        if condition is not None and len(condition) > MAX_CONDITION:
            raise CacaoRefused([f"step {cacao_id}: its branch conditions are nested too deep for a casemgr "
                                f"condition (at most {MAX_CONDITION} characters)"])
        record: dict[str, Any] = {"id": step_id, "title": (title.strip() or step_id)[:200], "phase": self.phase,
                                  "instructions": instructions[:20_000], "depends_on": sorted(deps)}
        if condition is not None:
            record["condition"] = condition
        if inputs:
            record["inputs"] = inputs
        self.steps.append(record)
        return step_id

    def _visit(self, cacao_id: str) -> None:
        step = self.workflow[cacao_id]
        kind = step["type"]
        arriving = self.incoming.get(cacao_id, [(frozenset(), None)])
        deps = frozenset().union(*(d for d, _ in arriving))
        condition = _any([c for _, c in arriving])
        name = step.get("name", "")
        text = step.get("description", "")
        if kind in ("start", "parallel"):
            for target in self._nexts(cacao_id):
                self._send(target, deps, condition)
        elif kind == "action":
            instructions = "\n\n".join(part for part in [text, *_commands(step.get("commands", []))] if part)
            made = self._add(cacao_id, name or "action", instructions, deps, condition)
            self._send(step.get("on_completion", step.get("on_success")), frozenset({made}), condition)
        elif kind == "playbook-action":
            version = f" (version {step['playbook_version']})" if step.get("playbook_version") else ""
            instructions = f"Run the playbook {step.get('playbook_id', '')}{version}.\n\n{text}".strip()
            made = self._add(cacao_id, name or "run another playbook", instructions, deps, condition)
            self._send(step.get("on_completion", step.get("on_success")), frozenset({made}), condition)
        elif kind == "if-condition":
            question = step.get("condition", "")
            made = self._add(cacao_id, name or "decide", f"{text}\n\nCACAO condition: `{question}`".strip(), deps,
                             condition, inputs=[{"id": "holds", "label": f"Does it hold? {question}"[:200],
                                          "type": "boolean"}])
            self._send(step.get("on_true"), frozenset({made}), _and(condition, f"{made}.holds == true"))
            self._send(step.get("on_false"), frozenset({made}), _and(condition, f"{made}.holds == false"))
            if "on_false" not in step:  # no else: the completion path is taken when the condition is false
                self._send(step.get("on_completion"), frozenset({made}), _and(condition, f"{made}.holds == false"))
        elif kind == "switch-condition":
            cases = step.get("cases", {})
            switch = step.get("switch", "")
            made = self._add(cacao_id, name or "choose", f"{text}\n\nCACAO switch: `{switch}`".strip(), deps,
                             condition, inputs=[{"id": "choice", "label": f"Which? {switch}"[:200],
                                                 "type": "choice", "choices": list(cases)}])
            for key, target in cases.items():
                self._send(target, frozenset({made}), _and(condition, f"{made}.choice == {json.dumps(key)}"))
        # end: nothing follows; while-condition was refused by _order


def _commands(commands: list[Mapping[str, Any]]) -> list[str]:
    """The text of an action's commands, for our step's instructions."""
    texts = []
    for command in commands:
        body = command.get("command")
        if body is None and "command_b64" in command:
            try:
                body = base64.b64decode(command["command_b64"], validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                body = "(a base64 command that does not decode)"
        kind = command.get("type", "")
        lines = [command.get("description", "")]
        if kind == "manual":
            lines.append(body or "")
        elif body:
            lines.append(f"{kind} command:\n\n```\n{body}\n```")
        elif kind:
            lines.append(f"A {kind} command (see the CACAO playbook).")
        texts.append("\n\n".join(line for line in lines if line))
    return texts
