"""incident roles: role kinds (six built in) and who held each on a case

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01 16:45:00.000000
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# Frozen here: the codes are stable (playbook steps name them); casemgr.cases.role_models.BUILTIN_KINDS matches.
BUILTIN = (
    ("incident_commander", "Incident commander", "Leads the response and makes the decisions."),
    ("deputy", "Deputy", "Stands in for the incident commander."),
    ("technical_lead", "Technical lead", "Leads the investigation and the technical work."),
    ("scribe", "Scribe", "Keeps the timeline and the record of decisions."),
    ("communications_lead", "Communications lead", "Writes the status updates, inside and outside."),
    ("legal_liaison", "Legal/privacy liaison", "Brings in legal and privacy advice and notifications."),
)


def upgrade() -> None:
    kinds = op.create_table(
        'incident_role_kinds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('builtin', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('retired_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_role_kinds')),
        sa.UniqueConstraint('code', name=op.f('uq_incident_role_kinds_code')),
    )
    op.create_table(
        'incident_role_assignments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('assigned_by_id', sa.Integer(), nullable=True),
        sa.Column('assigned_by_name', sa.String(length=128), nullable=False),
        sa.Column('started_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['assigned_by_id'], ['users.id'],
                                name=op.f('fk_incident_role_assignments_assigned_by_id_users')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_incident_role_assignments_case_id_cases')),
        sa.ForeignKeyConstraint(['kind_id'], ['incident_role_kinds.id'],
                                name=op.f('fk_incident_role_assignments_kind_id_incident_role_kinds')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_incident_role_assignments_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_role_assignments')),
    )
    op.create_index('ix_incident_role_assignments_case_kind', 'incident_role_assignments',
                    ['case_id', 'kind_id', 'ended_at'], unique=False)
    op.create_index('ix_incident_role_assignments_user_id', 'incident_role_assignments', ['user_id'], unique=False)
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(kinds, [{"code": c, "label": label, "description": d, "builtin": True, "position": i,
                            "retired_at": None, "created_at": now} for i, (c, label, d) in enumerate(BUILTIN)])


def downgrade() -> None:
    op.drop_index('ix_incident_role_assignments_user_id', table_name='incident_role_assignments')
    op.drop_index('ix_incident_role_assignments_case_kind', table_name='incident_role_assignments')
    op.drop_table('incident_role_assignments')
    op.drop_table('incident_role_kinds')
