"""corrections: notes and events are edited (earlier text kept) or retracted, never deleted

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_timeline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edited_at', casemgr.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('edited_by_name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('retracted_at', casemgr.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retracted_by_name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('retraction_reason', sa.Text(), nullable=True))
    op.create_table('case_timeline_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('occurred_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('written_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('written_by_name', sa.String(length=128), nullable=False),
    sa.Column('replaced_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('replaced_by_name', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['case_timeline.id'],
                            name=op.f('fk_case_timeline_revisions_entry_id_case_timeline')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_timeline_revisions'))
    )
    with op.batch_alter_table('case_timeline_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_timeline_revisions_entry_id'), ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_timeline_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_timeline_revisions_entry_id'))
    op.drop_table('case_timeline_revisions')
    with op.batch_alter_table('case_timeline', schema=None) as batch_op:
        batch_op.drop_column('retraction_reason')
        batch_op.drop_column('retracted_by_name')
        batch_op.drop_column('retracted_at')
        batch_op.drop_column('edited_by_name')
        batch_op.drop_column('edited_at')
