"""The one place that decides who sees TLP:RED STIX objects (indicators, observables, sightings, any type).

- An object's TLP is the highest TLP among its markings (`StixObject.tlp`; the TLP:RED marking definition
  itself counts as RED), or, where it carries no TLP marking, its case's: `effective_tlp` decides it for
  every list, page, export and API answer, and the SQL filters below follow the same rule.
- An object whose TLP is RED is visible only to the managers and the members of its case. The CLI
  operator (the system actor) counts as a manager, as in casemgr/cases/access.py: they run the instance and
  have its database. Auditors see every case, but its RED objects only where they are members (only analysts and
  managers can be members, so in effect never); admins see no case content at all; analysts who are not
  members see the case without its RED objects.
- On top of this, the case itself must be visible (casemgr/cases/access.py): this rule only ever hides more.
- To anyone who may not see it, a RED object does not exist: it is left out of lists, totals, type counts,
  relationships, correlation ("also seen in") and search results and their case lists, and loading it by id is
  NotFound (404), exactly as for an object that does not exist.
- Use `visible_filter` in every query over `StixObject` that may cross cases (joined or not), `case_filter`
  in a query over one case the actor already sees, `may_see_red` / `can_see` for one case or object, and
  `visible_versions` for the older versions of an object (a version's markings may differ from the current).
- Sharing channels are stricter: the STIX export leaves RED out unless asked for (and then only for those
  allowed here), and TAXII never serves RED (casemgr/indicators/sharing.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select, true

from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed
from casemgr.cases import access
from casemgr.cases.models import Case, case_members
from casemgr.indicators import stix
from casemgr.indicators.models import StixObject, StixObjectVersion


@dataclass(frozen=True)
class Marking:
    """An object's effective TLP, and whether it comes from its case (the object carries no TLP marking)."""

    level: stix.Tlp
    from_case: bool

    @property
    def label(self) -> str:
        return f"TLP:{self.level.value.upper()}"


def effective_tlp(tlp: stix.Tlp | None, case_tlp: stix.Tlp) -> Marking:
    """The TLP an object is handled at: the highest TLP marking it carries, or its case's where it has none."""
    return Marking(tlp, False) if tlp is not None else Marking(case_tlp, True)


def marking_of(obj: StixObject, case: Case) -> Marking:
    return effective_tlp(obj.tlp, case.tlp)


def not_red(case: Case | None = None) -> ColumnElement[bool]:
    """A WHERE clause on `StixObject` keeping the objects whose effective TLP is not RED: those of `case`, or
    (no case given) of any case (an unmarked object of a TLP:RED case is RED)."""
    marked_lower = and_(StixObject.tlp.is_not(None), StixObject.tlp != stix.Tlp.RED)
    if case is not None:
        return marked_lower if case.tlp == stix.Tlp.RED else or_(StixObject.tlp.is_(None), marked_lower)
    red_cases = select(Case.id).where(Case.tlp == stix.Tlp.RED)
    return or_(marked_lower, and_(StixObject.tlp.is_(None), StixObject.case_id.not_in(red_cases)))


def sees_all_red(actor: Actor) -> bool:
    """Managers and the CLI operator (`indicator.view_red`): every RED object of every case they see."""
    return allowed(actor, Permission.INDICATOR_VIEW_RED)


def may_see_red(actor: Actor, case: Case) -> bool:
    """Whether `actor` sees the RED objects of `case` (which they can already see)."""
    return sees_all_red(actor) or access.is_member(actor, case)


def visible_filter(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on `StixObject` keeping what `actor` may see of the RED rule (combine it with the case
    filter, `access.visible_filter`, which decides the rest)."""
    if sees_all_red(actor):
        return true()
    if actor.user is None:
        return not_red()
    member_of = select(case_members.c.case_id).where(case_members.c.user_id == actor.user.id)
    return or_(not_red(), StixObject.case_id.in_(member_of))


def case_filter(actor: Actor, case: Case) -> ColumnElement[bool]:
    """A WHERE clause on the objects of `case` keeping what `actor` may see (no subquery: the case is known)."""
    return true() if may_see_red(actor, case) else not_red(case)


def is_red(obj: StixObject, case: Case) -> bool:
    return marking_of(obj, case).level == stix.Tlp.RED


def can_see(actor: Actor, obj: StixObject, case: Case) -> bool:
    """Whether `actor` may see `obj`, an object of `case` (which they can already see)."""
    return not is_red(obj, case) or may_see_red(actor, case)


def version_tlp(stix_json: str) -> stix.Tlp | None:
    """The TLP marking a stored version (its JSON text) carries, RED if it cannot be read."""
    try:
        obj = json.loads(stix_json)
    except ValueError:
        return stix.Tlp.RED  # cannot tell: treat it as the most restricted
    if not isinstance(obj, dict):
        return stix.Tlp.RED
    refs = obj.get("object_marking_refs")
    level = stix.tlp_of(refs) if isinstance(refs, list) else None
    if obj.get("type") == "marking-definition":
        level = stix.tlp_defined_by(str(obj.get("id"))) or level
    return level


def version_is_red(stix_json: str, case_tlp: stix.Tlp) -> bool:
    """Whether a stored version (its JSON text) of an object of a case at `case_tlp` is TLP:RED."""
    return effective_tlp(version_tlp(stix_json), case_tlp).level == stix.Tlp.RED


def visible_versions(actor: Actor, case: Case, versions: Iterable[StixObjectVersion]) -> list[StixObjectVersion]:
    """The versions `actor` may see of an object of `case` (RED ones only for those allowed)."""
    if may_see_red(actor, case):
        return list(versions)
    return [v for v in versions if not version_is_red(v.stix_json, case.tlp)]
