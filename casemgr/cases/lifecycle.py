"""The case lifecycle, written once as data: which state may follow which, and what each needs.

docs/case-lifecycle.md explains the edges; a test checks that the document and this table agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from casemgr.cases.models import CaseStatus as S

# Forward along the incident-response phases, skipping forward only where listed; resolving is
# possible from every open state (a false positive or duplicate is often known at triage);
# reopening goes from resolved or closed back to investigating.
EDGES: dict[S, tuple[S, ...]] = {
    S.NEW: (S.TRIAGE, S.INVESTIGATING, S.RESOLVED),
    S.TRIAGE: (S.INVESTIGATING, S.CONTAINMENT, S.RESOLVED),
    S.INVESTIGATING: (S.CONTAINMENT, S.ERADICATION, S.RESOLVED),
    S.CONTAINMENT: (S.ERADICATION, S.RECOVERY, S.RESOLVED),
    S.ERADICATION: (S.RECOVERY, S.RESOLVED),
    S.RECOVERY: (S.RESOLVED,),
    S.RESOLVED: (S.CLOSED, S.INVESTIGATING),
    S.CLOSED: (S.INVESTIGATING,),
}

REOPEN_FROM = frozenset({S.RESOLVED, S.CLOSED})


@dataclass(frozen=True)
class Requirement:
    """What a transition into a state needs from the person making it."""

    fields: tuple[str, ...]
    manager_only: bool = False


# Fields the transition command must carry for the target state.
REQUIRES: dict[S, Requirement] = {
    S.RESOLVED: Requirement(("resolution", "summary")),
    S.CLOSED: Requirement(("root_cause",), manager_only=True),
}
REOPEN = Requirement(("reason",))


def allowed_next(status: S) -> tuple[S, ...]:
    return EDGES[status]


def requirement(from_status: S, to_status: S) -> Requirement:
    if from_status in REOPEN_FROM and to_status == S.INVESTIGATING:
        return REOPEN
    return REQUIRES.get(to_status, Requirement(()))


def is_reopen(from_status: S, to_status: S) -> bool:
    return from_status in REOPEN_FROM and to_status not in REOPEN_FROM
