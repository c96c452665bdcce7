"""What the indicator service modules share: the instance's STIX identity, a case's reference
object, loading a case to change its indicators, its collection, and reading a stored object's JSON."""

from __future__ import annotations

import json
import uuid
from functools import cache
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.indicators import stix
from casemgr.indicators.models import IndicatorCollection, StixObject


@cache
def _identity(name: str) -> dict[str, Any]:
    return stix.organization_identity(name)


def identity_of(session: Session) -> dict[str, Any]:
    """The organization's identity SDO (a fresh copy)."""
    return dict(_identity(collaborators.settings(session).organization_name))


def case_ref(session: Session, case: Case) -> stix.CaseRef:
    """The case as STIX sees it. The stable id is the organization's identity and the case reference, so
    that the same organization's IR-2026-0001 is the same incident in every export and on every instance."""
    return stix.CaseRef(id=f"{identity_of(session)['id']}:{case.reference}", reference=case.reference,
                        title=case.title)


def case_for_change(session: Session, actor: Actor, case_id: int) -> Case:
    """The case, locked, if the actor may change it. Raises NotFound or Forbidden."""
    case = access.get_case_or_404(session, actor, case_id, for_update=True)
    _require_import(actor, case)
    return case


def _require_import(actor: Actor, case: Case) -> None:
    access.require_edit(actor, case)
    require(actor, Permission.INDICATOR_IMPORT, "only analysts and managers record indicators")


def may_import(actor: Actor, case: Case) -> bool:
    """Whether `actor` may record and correct indicators on `case`, which they see (the tab's forms)."""
    return access.can_edit(actor, case) and allowed(actor, Permission.INDICATOR_IMPORT)


def ensure_collection(session: Session, case: Case) -> None:
    """Give the case its TAXII collection id, once."""
    table = cast(Table, IndicatorCollection.__table__)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(table).values(case_id=case.id, collection_id=uuid.uuid4(), created_at=clock(session).now())
                    .on_conflict_do_nothing(index_elements=["case_id"]))


def user_id(actor: Actor) -> int | None:
    return actor.user.id if actor.user is not None else None


def loads(obj: StixObject) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(obj.stix_json)
    return result
