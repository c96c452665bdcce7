"""Indicators on a case: capture, free-text extraction, listing, object detail, correlation and search.

The one import surface for the indicators service (`from casemgr.indicators import service`); the
code is in capture.py (capture, free text), reading.py (lists, object detail), search.py (search by
value) and _helpers.py (what they share).

Every function takes (session, actor, ...) and flushes, never commits. Case access is decided by
casemgr/cases/access.py only: a case the actor may not see does not exist (NotFound), also in correlation
and search results, where it is left out without a trace (not even a count). TLP:RED objects are visible only
to the case's members and managers (casemgr/indicators/red.py), and every read goes through that rule,
counts included. Changes need edit rights on the
case (auditors read only, admins see no case content) and write one audit record each; the audit record names
the indicator type and STIX id but not the value, which is case content.

Import is in casemgr/indicators/imports.py, export and TAXII reads in casemgr/indicators/sharing.py.
"""

from casemgr.indicators._helpers import (
    case_for_change,
    case_ref,
    ensure_collection,
    identity_of,
    loads,
    may_import,
    user_id,
)
from casemgr.indicators.capture import Candidate, Captured, add_candidates, add_indicator, extract_candidates, sight
from casemgr.indicators.reading import (
    IndicatorView,
    ObjectDetail,
    ObjectPage,
    also_seen_in,
    correction_refused,
    get_object,
    list_indicators,
    list_objects,
    sighting_counts,
)
from casemgr.indicators.search import (
    CASE_BRIEF_COLUMNS,
    HIT_COLUMNS,
    CaseBrief,
    FoundIndicator,
    SearchHit,
    SearchResult,
    search,
)

__all__ = [
    "identity_of", "case_ref", "case_for_change", "may_import", "ensure_collection", "user_id", "loads",
    "IndicatorView", "list_indicators", "also_seen_in", "sighting_counts", "ObjectPage", "list_objects",
    "ObjectDetail", "get_object", "correction_refused", "Captured", "add_indicator", "sight", "Candidate",
    "extract_candidates", "add_candidates", "FoundIndicator", "CaseBrief", "SearchHit", "SearchResult",
    "HIT_COLUMNS", "CASE_BRIEF_COLUMNS", "search",
]
