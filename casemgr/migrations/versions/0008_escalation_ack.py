"""escalation acknowledgement: who took an escalation in, and when

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:40:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', casemgr.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by_name', sa.String(length=128), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_case_escalations_acknowledged_by_id_users'), 'users',
                                    ['acknowledged_by_id'], ['id'])
        batch_op.create_index('ix_case_escalations_to_user_id_acknowledged_at', ['to_user_id', 'acknowledged_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_escalations', schema=None) as batch_op:
        batch_op.drop_index('ix_case_escalations_to_user_id_acknowledged_at')
        batch_op.drop_constraint(batch_op.f('fk_case_escalations_acknowledged_by_id_users'), type_='foreignkey')
        batch_op.drop_column('acknowledged_by_name')
        batch_op.drop_column('acknowledged_by_id')
        batch_op.drop_column('acknowledged_at')
