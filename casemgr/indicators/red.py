"""The one place that decides who sees TLP:RED STIX objects (indicators, observables, sightings, any type).

- An object marked TLP:RED (the highest TLP among its markings, `StixObject.tlp`; the TLP:RED marking
  definition itself counts as RED) is visible only to the managers and the members of its case. The CLI
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

from sqlalchemy import ColumnElement, or_, select, true

from casemgr.auth.actor import Actor
from casemgr.cases import access
from casemgr.cases.models import Case, case_members
from casemgr.indicators import stix
from casemgr.indicators.models import StixObject, StixObjectVersion


def not_red() -> ColumnElement[bool]:
    """A WHERE clause on `StixObject` keeping the objects that are not TLP:RED."""
    return or_(StixObject.tlp.is_(None), StixObject.tlp != stix.Tlp.RED)


def sees_all_red(actor: Actor) -> bool:
    """Managers and the CLI operator: every RED object of every case they see."""
    return access.is_manager(actor)


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
    return true() if may_see_red(actor, case) else not_red()


def is_red(obj: StixObject) -> bool:
    return obj.tlp == stix.Tlp.RED


def can_see(actor: Actor, obj: StixObject, case: Case) -> bool:
    """Whether `actor` may see `obj`, an object of `case` (which they can already see)."""
    return not is_red(obj) or may_see_red(actor, case)


def version_is_red(stix_json: str) -> bool:
    """Whether a stored version (its JSON text) is marked TLP:RED."""
    try:
        obj = json.loads(stix_json)
    except ValueError:
        return True  # cannot tell: treat it as the most restricted
    if not isinstance(obj, dict):
        return True
    refs = obj.get("object_marking_refs")
    level = stix.tlp_of(refs) if isinstance(refs, list) else None
    if obj.get("type") == "marking-definition":
        level = stix.tlp_defined_by(str(obj.get("id"))) or level
    return level == stix.Tlp.RED


def visible_versions(actor: Actor, case: Case, versions: Iterable[StixObjectVersion]) -> list[StixObjectVersion]:
    """The versions `actor` may see of an object of `case` (RED ones only for those allowed)."""
    if may_see_red(actor, case):
        return list(versions)
    return [v for v in versions if not version_is_red(v.stix_json)]
