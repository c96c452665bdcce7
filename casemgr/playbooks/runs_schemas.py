"""Input for the playbook run use cases (casemgr/playbooks/runs.py), shared by the API, the pages and the CLI."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from casemgr.fields import Input, strip

Reason = Annotated[str, BeforeValidator(strip), Field(min_length=1, max_length=2000)]
Note = Annotated[str, Field(max_length=20_000)]


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StartRun(Command):
    """Start a playbook on a case: its current version, or the version named."""

    playbook: str = Field(min_length=1, max_length=64, description="the playbook's id, e.g. phishing")
    version: str | None = Field(default=None, max_length=32, description="e.g. 1.2.0; default: the current one")


class StepActionKind(enum.StrEnum):
    START = "start"  # ready -> in_progress
    COMPLETE = "complete"  # ready or in_progress -> done (or blocked, waiting for an approval)
    SKIP = "skip"  # -> skipped, with a reason
    FAIL = "fail"  # -> failed, with a reason
    BLOCK = "block"  # -> blocked, with a reason
    ASSIGN = "assign"  # name who works on it
    APPROVE = "approve"  # a step waiting for an approval -> done
    REJECT = "reject"  # a step waiting for an approval -> in_progress, with the note


class StepAction(Command):
    """An action on one step of a run, based on the step's `version` (a stale one is refused with 409)."""

    action: StepActionKind
    version: int = Field(ge=1, le=2**31 - 1, description="the step's version, as last read")
    inputs: dict[str, Any] = Field(default_factory=dict, description="complete: input id -> value")
    note: Note | None = None
    reason: Reason | None = Field(default=None, description="required to skip, fail, block or reject")
    assignee: str | None = Field(default=None, max_length=128, description="assign: a username (blank: no one)")


class RunActionKind(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"


class RunChange(Command):
    """Pause, resume or abort a run (abort needs a reason), based on the run's `version`."""

    action: RunActionKind
    version: int = Field(ge=1, le=2**31 - 1, description="the run's version, as last read")
    reason: Reason | None = Field(default=None, description="required to abort")
