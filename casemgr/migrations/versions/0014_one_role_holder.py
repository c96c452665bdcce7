"""incident roles: at most one current holder per role per case (a partial unique index)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 18:45:00.000000
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
REPORTS = "casemgr.migration_reports"  # the key of the report lines in the Alembic config's attributes
INDEX = 'uq_incident_role_assignments_one_holder'
# Made here rather than in the models: a `postgresql_where` there would import SQLAlchemy's PostgreSQL
# dialect whenever the models load (`casemgr case list` on SQLite too). casemgr.cases.role_models names it.
UNMANAGED = (INDEX,)
OPEN = sa.text('ended_at IS NULL')


def upgrade() -> None:
    # Before the index, two assignments at the same moment could both stay open: keep the latest
    # (the highest id) as the holder and close each earlier one when the latest began, as a handover.
    rows = sa.table('incident_role_assignments', sa.column('id', sa.Integer()), sa.column('case_id', sa.Integer()),
                    sa.column('kind_id', sa.Integer()), sa.column('started_at', casemgr.db.UTCDateTime()),
                    sa.column('ended_at', casemgr.db.UTCDateTime()))
    conn = op.get_bind()
    open_rows = conn.execute(sa.select(rows.c.id, rows.c.case_id, rows.c.kind_id, rows.c.started_at)
                             .where(rows.c.ended_at.is_(None)).order_by(rows.c.id.desc())).all()
    latest: dict[tuple[int, int], object] = {}
    for row in open_rows:
        key = (row.case_id, row.kind_id)
        if key in latest:
            conn.execute(sa.update(rows).where(rows.c.id == row.id).values(ended_at=latest[key]))
            _report(f"closed incident role assignment {row.id} (case {row.case_id}): a later one held the role too")
        else:
            latest[key] = row.started_at
    op.create_index(INDEX, 'incident_role_assignments', ['case_id', 'kind_id'], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    op.drop_index(INDEX, table_name='incident_role_assignments', sqlite_where=OPEN, postgresql_where=OPEN)


def _report(line: str) -> None:
    log.info("%s", line)
    config = op.get_context().config
    if config is not None:
        config.attributes.setdefault(REPORTS, []).append(line)
