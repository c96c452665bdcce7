"""Cases: open, read, change, move through the lifecycle, escalate, annotate, link, find.

The one import surface for the cases service (`from casemgr.cases import service`); the code is in
queries.py (reading), changes.py (creating and changing), actions.py (transitions, escalations,
links, bulk actions) and _helpers.py (what they share).

Every function takes (session, actor, ...) and flushes, never commits. Every change writes a
timeline entry on the case (who, when, what from -> to) and an audit record in the same
transaction. Access rules are in casemgr/cases/access.py; the lifecycle's edges in
casemgr/cases/lifecycle.py (documented in docs/case-lifecycle.md).

Errors: NotFound (404) for a case the actor may not see or that does not exist; Forbidden (403)
for a visible case the actor may not change; Conflict (409) for a stale version (with
`current_version`) or an illegal transition (with `allowed`); Invalid (422) naming the field.
"""
# The facade loads a module of the service when one of its names is first used (PEP 562), so that
# `casemgr case list` imports the reading code only, not the changes, the actions and the export
# (and what they import). Importing a name from it, or reading it as an attribute, works as before.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casemgr.cases._helpers import (
        CLOCK_SKEW,
        LIFECYCLE_TIMES,
        detail_options,
        list_options,
    )
    from casemgr.cases.actions import (
        BulkOutcome,
        BulkResult,
        acknowledge_escalation,
        bulk_apply,
        can_bulk,
        escalate,
        link_cases,
        transition,
    )
    from casemgr.cases.changes import (
        add_event,
        add_note,
        create_case,
        edit_entry,
        retract_entry,
        update_case,
    )
    from casemgr.cases.export import (
        CaseExport,
        export_chunks,
        start_export,
    )
    from casemgr.cases.queries import (
        DATE_FIELDS,
        PRIORITY_TARGETS,
        SORTS,
        CaseDetail,
        Dashboard,
        PendingEscalation,
        RelatedCase,
        Section,
        allowed_transitions,
        assignable_users,
        can_assign,
        case_detail,
        dashboard,
        get_case,
        get_case_by_reference,
        list_cases,
        list_notice,
        matching_cases,
        may_correct,
        pending_escalations,
        related_cases,
        render_entry,
        taxonomy,
        team_choices,
        timeline,
    )

# Where each name of the facade lives.
_NAMES = {
    "_helpers": ("CLOCK_SKEW", "LIFECYCLE_TIMES", "detail_options", "list_options"),
    "queries": ("DATE_FIELDS", "PRIORITY_TARGETS", "SORTS", "CaseDetail", "Dashboard", "PendingEscalation",
                "RelatedCase", "Section", "allowed_transitions", "assignable_users", "can_assign", "case_detail",
                "dashboard", "get_case", "get_case_by_reference", "list_cases", "list_notice", "matching_cases",
                "may_correct", "pending_escalations", "related_cases", "render_entry", "taxonomy", "team_choices",
                "timeline"),
    "changes": ("add_event", "add_note", "create_case", "edit_entry", "retract_entry", "update_case"),
    "actions": ("BulkOutcome", "BulkResult", "acknowledge_escalation", "bulk_apply", "can_bulk", "escalate",
                "link_cases", "transition"),
    "export": ("CaseExport", "export_chunks", "start_export"),
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}

__all__ = [
    "CLOCK_SKEW", "LIFECYCLE_TIMES", "detail_options", "list_options", "DATE_FIELDS", "PRIORITY_TARGETS", "SORTS",
    "CaseDetail", "Dashboard", "PendingEscalation", "RelatedCase", "Section", "allowed_transitions",
    "assignable_users", "can_assign", "case_detail", "dashboard", "get_case", "get_case_by_reference", "list_cases",
    "list_notice", "matching_cases", "may_correct", "pending_escalations", "related_cases", "render_entry",
    "taxonomy", "team_choices", "timeline", "add_event", "add_note", "create_case", "edit_entry", "retract_entry",
    "update_case", "BulkOutcome", "BulkResult", "acknowledge_escalation", "bulk_apply", "can_bulk", "escalate",
    "link_cases", "transition", "CaseExport", "export_chunks", "start_export",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"casemgr.cases.{module}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
