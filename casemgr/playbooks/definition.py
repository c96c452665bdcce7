"""The playbook format: what a playbook file says, as typed models.

A playbook file (YAML, in playbooks/) is read by casemgr/playbooks/loader.py into `Playbook`: its shared
steps (`use:`, from playbooks/steps/) are resolved there, so a stored version holds complete steps and never
changes when a shared step's file does (the change reaches a playbook at its next version). The format is
documented field by field in docs/playbook-format.md; the published JSON Schema is generated from these models.

Ids: a playbook id is kebab-case (`phishing`, `cloud-credential-leak`); step and input ids are snake_case,
because conditions name them (`triage.ransom_note_found`), and a hyphen there would read as a minus.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from casemgr.cases.models import CaseStatus

PLAYBOOK_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
STEP_ID = r"^[a-z][a-z0-9_]{0,63}$"
SEMVER = r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$"

PlaybookId = Annotated[str, StringConstraints(pattern=PLAYBOOK_ID)]
StepId = Annotated[str, StringConstraints(pattern=STEP_ID)]
InputId = Annotated[str, StringConstraints(pattern=STEP_ID)]
SemVer = Annotated[str, StringConstraints(pattern=SEMVER)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]

MAX_STEPS = 500
MAX_INPUTS = 30


def version_key(version: str) -> tuple[int, int, int]:
    """"1.10.0" -> (1, 10, 0): semantic versions compared as numbers."""
    match = re.match(SEMVER, version)
    if match is None:
        raise ValueError(f"{version!r} is not a version such as 1.2.0")
    return int(match[1]), int(match[2]), int(match[3])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phase(enum.StrEnum):
    """The NIST SP 800-61 phase a step belongs to (the run page groups steps by it, in this order)."""

    IDENTIFICATION = "identification"
    CONTAINMENT = "containment"
    ERADICATION = "eradication"
    RECOVERY = "recovery"
    POST_INCIDENT = "post-incident"


class InputType(enum.StrEnum):
    TEXT = "text"
    BOOLEAN = "boolean"  # yes / no
    CHOICE = "choice"  # one of `choices`
    NUMBER = "number"
    DATETIME = "datetime"  # an ISO 8601 date and time (UTC when no offset is given)
    EVIDENCE = "evidence"  # a file uploaded into the evidence vault; the value is the evidence item's id
    INDICATORS = "indicators"  # values (one per line) recorded as STIX indicators; the value is their ids


class StepInput(_Strict):
    """Something the analyst records to complete a step."""

    id: InputId
    label: Title
    type: InputType
    required: bool = True
    help: Text = ""
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = None

    @model_validator(mode="after")
    def _choices_for_choice(self) -> StepInput:
        if self.type is InputType.CHOICE and not self.choices:
            raise ValueError("a choice input needs its choices")
        if self.type is not InputType.CHOICE and self.choices is not None:
            raise ValueError("only a choice input has choices")
        if self.choices is not None and len(set(self.choices)) != len(self.choices):
            raise ValueError("a choice is listed twice")
        return self


class Who(_Strict):
    """Who may complete a step: holders of a permission, members of a team (by name), or the case's holder of
    an incident role (by kind code). Exactly one. Without it, anyone who may run playbooks on the case."""

    permission: str | None = None
    team: str | None = None
    incident_role: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Who:
        given = [k for k in ("permission", "team", "incident_role") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of permission, team or incident_role")
        return self


class Trigger(enum.StrEnum):
    READY = "ready"  # when the step becomes ready
    COMPLETED = "completed"  # when the step is completed (done)


class SetField(_Strict):
    """Set a case field: a built-in one (severity, impact, urgency, tlp, ...) or a custom field by its code."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    value: str | int | float | bool | None


class Action(_Strict):
    """An automated action the app performs on a trigger (`at`). Exactly one of the action keys.

    - transition: move the case to this lifecycle state (through the cases service and its rules);
    - set_field: set a case field;
    - timeline: add a timeline event with this text;
    - add_indicators: record the values of this step's `indicators` input as indicators on the case;
    - require_approval: completing the step asks a manager (`playbook.approve`) to approve before the steps
      that depend on it open; the text is what the approver is asked. Only `at: completed`.
    """

    at: Trigger = Trigger.COMPLETED
    transition: CaseStatus | None = None
    set_field: SetField | None = None
    timeline: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    add_indicators: InputId | None = None
    require_approval: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None

    @property
    def kind(self) -> str:
        return next(k for k in ACTION_KINDS if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in ACTION_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(ACTION_KINDS)}")
        if self.require_approval is not None and self.at is not Trigger.COMPLETED:
            raise ValueError("require_approval happens when the step is completed (at: completed)")
        return self


ACTION_KINDS = ("transition", "set_field", "timeline", "add_indicators", "require_approval")


class Step(_Strict):
    """One step of a playbook, complete (a `use:` of a shared step is resolved into this by the loader)."""

    id: StepId
    title: Title
    phase: Phase
    instructions: Text = ""  # Markdown, rendered with casemgr/markdown.py
    who: Who | None = None
    depends_on: list[StepId] = Field(default_factory=list)
    condition: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    inputs: list[StepInput] = Field(default_factory=list, max_length=MAX_INPUTS)
    actions: list[Action] = Field(default_factory=list, max_length=20)
    used: str | None = None  # the shared step this one was made from (its id), for display and diffs

    def input(self, input_id: str) -> StepInput | None:
        return next((i for i in self.inputs if i.id == input_id), None)


class Playbook(_Strict):
    """A playbook version: id, title, semantic version, description, the taxonomy categories it applies to
    (codes; empty means every category), and its steps (a directed acyclic graph through depends_on)."""

    id: PlaybookId
    title: Title
    version: SemVer
    description: Text = ""
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def canonical(self) -> dict[str, Any]:
        """The version as plain JSON data, the form stored and hashed (casemgr/playbooks/models.py)."""
        return self.model_dump(mode="json", exclude_defaults=True)


class Parameter(_Strict):
    """A parameter of a shared step, substituted where its text says `${name}`."""

    name: InputId
    description: Text = ""
    default: str | None = None  # without a default, a playbook using the step must give it


class SharedStepBody(_Strict):
    """The step a shared step file describes: a Step without the fields a using playbook decides."""

    title: Title
    phase: Phase
    instructions: Text = ""
    who: Who | None = None
    inputs: list[StepInput] = Field(default_factory=list, max_length=MAX_INPUTS)
    actions: list[Action] = Field(default_factory=list, max_length=20)


class SharedStep(_Strict):
    """A file in playbooks/steps/: a procedure written once and used by many playbooks (`use: <id>`)."""

    id: StepId
    description: Text = ""
    parameters: list[Parameter] = Field(default_factory=list)
    step: SharedStepBody


class StepUse(_Strict):
    """A step in a playbook file that uses a shared step. Its own id, dependencies and condition; the title,
    phase and who may be overridden; `with` gives the parameters."""

    id: StepId
    use: StepId
    with_: dict[InputId, str] = Field(default_factory=dict, alias="with")
    depends_on: list[StepId] = Field(default_factory=list)
    condition: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    title: Title | None = None
    phase: Phase | None = None
    who: Who | None = None
