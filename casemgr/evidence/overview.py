"""The auditor's view of evidence integrity across the cases they see: failures first, then the
items longest without a verification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from casemgr.auth.actor import Actor
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.evidence.models import EvidenceItem, EvidenceState, Integrity


@dataclass
class IntegrityOverview:
    failed: list[EvidenceItem]
    failed_total: int
    unverified: list[EvidenceItem]  # not verified since intake, oldest intake first
    unverified_total: int


def integrity_overview(session: Session, actor: Actor, *, limit: int = 10) -> IntegrityOverview:
    """Evidence items that failed their integrity check, and those never verified since intake,
    on the cases `actor` may see (disposed items left out: there is nothing left to check)."""
    base = (select(EvidenceItem).join(Case, Case.id == EvidenceItem.case_id)
            .where(access.visible_filter(actor), EvidenceItem.state != EvidenceState.DISPOSED))

    def part(integrity: Integrity, order: Any) -> tuple[list[EvidenceItem], int]:
        query = base.where(EvidenceItem.integrity == integrity)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        items = session.scalars(query.order_by(order).limit(limit).options(selectinload(EvidenceItem.case))).all()
        return list(items), total

    failed, failed_total = part(Integrity.FAILED, EvidenceItem.verified_at.desc())
    unverified, unverified_total = part(Integrity.UNVERIFIED, EvidenceItem.received_at.asc())
    return IntegrityOverview(failed, failed_total, unverified, unverified_total)
