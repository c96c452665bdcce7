"""Correcting a STIX object on a case: revoking it, or marking it with another TLP level.

Each correction is a new version of the object, the STIX way (section 3.6): the same id, a later `modified`,
`revoked: true` or the new TLP 2.0 marking in `object_marking_refs`; the earlier version goes to the history
(`StixObjectVersion`) and stays visible on the object's page. Revoking is final: STIX allows no version after
a revoked one, so a revoked object can be neither revoked again nor re-marked (409). Only versioned objects
(SDOs and SROs) can be corrected; observables (SCOs) and marking definitions have no versions.

Both need edit rights on the case (casemgr/cases/access.py) and a reason; each writes a timeline entry on the
case, a `StixObjectCorrection` (who, when, why, shown on the object's page) and an audit record that names
the object but not the reason (case content, casemgr/audit/content.py).

TLP:RED (casemgr/indicators/red.py): an object is corrected only by someone who sees it, so lowering it from
RED takes a member or a manager (to anyone else it does not exist: 404); raising it to RED hides it from
non-members at once, as the rule follows the stored TLP. The timeline, which every reader of the case sees,
names the object and the reason only when it was not RED before and is not RED after; otherwise it says a
TLP:RED-handled object was corrected, and the details are on the object's page for those who may see it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr.audit import service as audit
from casemgr.audit.content import without_content
from casemgr.auth.actor import Actor
from casemgr.cases.models import Case, EntryKind, TimelineEntry
from casemgr.collaborators import clock
from casemgr.errors import Conflict, NotFound
from casemgr.indicators import red, rows, stix
from casemgr.indicators.models import StixObject, StixObjectCorrection, StixObjectVersion
from casemgr.indicators.schemas import Revocation, TlpChange
from casemgr.indicators.service import case_for_change, correction_refused, user_id


@dataclass(frozen=True)
class Corrected:
    """The corrected object, its effective TLP now, and whether the actor still sees it (one who is not a member
    of the case no longer does once they have marked it TLP:RED)."""

    obj: StixObject
    marking: red.Marking
    visible: bool


def revoke(session: Session, actor: Actor, case_id: int, object_ref: str | int, cmd: Revocation) -> Corrected:
    """Revoke an object of the case (a new version with `revoked: true`). Raises NotFound (no such object, or
    one the actor may not see), Forbidden (no edit rights), Conflict (already revoked, or not versioned)."""
    case, obj = _for_correction(session, actor, case_id, object_ref)
    before = red.marking_of(obj, case)

    def change(new: dict[str, Any]) -> None:
        new["revoked"] = True

    _new_version(session, actor, case, obj, change)
    _record(session, actor, case, obj, kind="revoke", before=before.level, after=before.level, reason=cmd.reason,
            what="revoked", changes={"revoked": [False, True]})
    return Corrected(obj, before, True)


def change_tlp(session: Session, actor: Actor, case_id: int, object_ref: str | int, cmd: TlpChange) -> Corrected:
    """Mark an object of the case with another TLP level (its other TLP markings are replaced). Raises as
    `revoke`, and Conflict when the object is already marked at that level."""
    case, obj = _for_correction(session, actor, case_id, object_ref)
    before = red.marking_of(obj, case)
    if obj.tlp == cmd.tlp:
        raise Conflict(f"{obj.stix_id} is already marked TLP:{cmd.tlp.value.upper()}", field="tlp")
    target = stix.tlp_marking(cmd.tlp)["id"]

    def change(new: dict[str, Any]) -> None:
        refs = [ref for ref in new.get("object_marking_refs") or []
                if not (isinstance(ref, str) and stix.tlp_defined_by(ref) is not None)]
        new["object_marking_refs"] = [*refs, target]

    _new_version(session, actor, case, obj, change)
    _record(session, actor, case, obj, kind="tlp", before=before.level, after=cmd.tlp, reason=cmd.reason,
            what=f"marked TLP:{cmd.tlp.value.upper()}",
            changes={"tlp": [before.label + (" (the case's)" if before.from_case else ""),
                             f"TLP:{cmd.tlp.value.upper()}"]})
    return Corrected(obj, red.marking_of(obj, case), red.can_see(actor, obj, case))


def _for_correction(session: Session, actor: Actor, case_id: int, object_ref: str | int) -> tuple[Case, StixObject]:
    case = case_for_change(session, actor, case_id)
    key = StixObject.id == object_ref if isinstance(object_ref, int) else StixObject.stix_id == object_ref
    obj = session.scalars(select(StixObject).where(StixObject.case_id == case.id, key,
                                                   red.case_filter(actor, case))
                          .with_for_update()).one_or_none()
    if obj is None:
        raise NotFound(f"case {case.reference} has no STIX object {object_ref}", field="object_id")
    refused = correction_refused(obj)
    if refused is not None:
        raise Conflict(refused, field="object_id")
    return case, obj


def _new_version(session: Session, actor: Actor, case: Case, obj: StixObject, change: Any) -> None:
    """Make the next version of `obj` with `change` applied; the current one goes to the history."""
    now = clock(session).now()
    current = json.loads(obj.stix_json)
    new = dict(current)
    change(new)
    previous = obj.modified or now
    # `modified` must be later than the current version's, even when the clock is not (STIX 2.1 section 3.2).
    moment = max(now, previous + dt.timedelta(milliseconds=1))
    new["modified"] = stix.timestamp(moment)
    try:
        stix.check_object(new, pattern_prechecked=True)  # still a valid object (the pattern did not change)
    except stix.ObjectRejected as exc:
        raise Conflict(f"the new version of {obj.stix_id} would not be valid STIX: {exc}", field="object_id") from None
    session.add(StixObjectVersion(object_id=obj.id, modified=previous, stix_json=obj.stix_json,
                                  added_at=obj.added_at))
    row = rows.object_row(new, [])
    obj.stix_json, obj.modified, obj.tlp, obj.revoked = row["stix_json"], row["modified"], row["tlp"], row["revoked"]
    obj.added_at, obj.added_by_id = now, user_id(actor)  # TAXII's added_after finds the new version
    session.flush()


def _record(session: Session, actor: Actor, case: Case, obj: StixObject, *, kind: str, before: stix.Tlp,
            after: stix.Tlp, reason: str, what: str, changes: dict[str, list[Any]]) -> None:
    now = clock(session).now()
    assert obj.modified is not None
    session.add(StixObjectCorrection(object_id=obj.id, kind=kind, from_tlp=before, to_tlp=after, reason=reason,
                                     modified=obj.modified, at=now, actor_id=user_id(actor), actor_name=actor.name))
    if stix.Tlp.RED in (before, after):
        # Every reader of the case reads its timeline: a RED object is not named there, nor the reason.
        summary, entry_changes = "A STIX object handled as TLP:RED was corrected (see its page)", None
    else:
        summary = f"{_kind(obj)} {what}: {obj.name or obj.stix_id}"
        entry_changes = {**changes, "reason": [None, reason]}
    session.add(TimelineEntry(case_id=case.id, kind=EntryKind.UPDATED, occurred_at=now, recorded_at=now,
                              actor_id=user_id(actor), actor_name=actor.name, summary=summary[:500],
                              changes=entry_changes))
    audit.record(session, actor, "stix.revoke" if kind == "revoke" else "stix.tlp_change", "stix_object", obj.id,
                 without_content({"case": case.reference, "stix_id": obj.stix_id, "type": obj.type,
                                  "tlp": [before.value, after.value], "modified": stix.timestamp(obj.modified),
                                  "reason": reason}))
    session.flush()


def _kind(obj: StixObject) -> str:
    return "Indicator" if obj.type == "indicator" else f"STIX {obj.type}"
