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

from casemgr.cases._helpers import CLOCK_SKEW, DETAIL_OPTIONS, LIFECYCLE_TIMES, LIST_OPTIONS
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
from casemgr.cases.changes import add_event, add_note, create_case, edit_entry, retract_entry, update_case
from casemgr.cases.export import CaseExport, export_chunks, start_export
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

__all__ = [
    "DETAIL_OPTIONS", "LIST_OPTIONS", "LIFECYCLE_TIMES", "CLOCK_SKEW", "taxonomy", "get_case",
    "get_case_by_reference", "RelatedCase", "CaseDetail", "case_detail", "allowed_transitions", "related_cases",
    "timeline", "render_entry", "may_correct", "SORTS", "DATE_FIELDS", "list_cases", "list_notice",
    "PRIORITY_TARGETS", "Section", "PendingEscalation", "Dashboard", "dashboard", "pending_escalations",
    "assignable_users", "can_assign", "team_choices", "create_case", "update_case", "add_note", "add_event",
    "edit_entry",
    "retract_entry", "transition", "escalate", "acknowledge_escalation", "link_cases", "BulkOutcome", "BulkResult",
    "can_bulk", "bulk_apply", "matching_cases", "CaseExport", "start_export", "export_chunks",
]
