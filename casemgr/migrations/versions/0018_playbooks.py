"""playbooks: stored playbook versions, their runs on cases and the runs' steps

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 21:44:31.921901
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('playbooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('current_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playbooks')),
    sa.UniqueConstraint('code', name=op.f('uq_playbooks_code'))
    )
    op.create_table('playbook_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('playbook_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('major', sa.Integer(), nullable=False),
    sa.Column('minor', sa.Integer(), nullable=False),
    sa.Column('patch', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('source_format', sa.Enum('yaml', 'cacao', name='sourceformat', native_enum=False, length=8), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('imported_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('imported_by_name', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['imported_by_id'], ['users.id'], name=op.f('fk_playbook_versions_imported_by_id_users')),
    sa.ForeignKeyConstraint(['playbook_id'], ['playbooks.id'], name=op.f('fk_playbook_versions_playbook_id_playbooks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playbook_versions')),
    sa.UniqueConstraint('playbook_id', 'version', name=op.f('uq_playbook_versions_playbook_id'))
    )
    # playbooks and playbook_versions point at each other: the current version's key is added once both exist.
    with op.batch_alter_table('playbooks', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_playbooks_current_version_id', 'playbook_versions', ['current_version_id'], ['id'])
    op.create_table('playbook_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('active', 'paused', 'aborted', 'completed', name='runstatus', native_enum=False, length=16), nullable=False),
    sa.Column('started_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('started_by_name', sa.String(length=128), nullable=False),
    sa.Column('finished_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_playbook_runs_case_id_cases')),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_playbook_runs_started_by_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['playbook_versions.id'], name=op.f('fk_playbook_runs_version_id_playbook_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playbook_runs'))
    )
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.create_index('ix_playbook_runs_case_id', ['case_id', 'id'], unique=False)
        batch_op.create_index('ix_playbook_runs_version_id', ['version_id'], unique=False)

    op.create_table('playbook_run_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'ready', 'in_progress', 'done', 'skipped', 'blocked', 'failed', 'not_applicable', name='stepstate', native_enum=False, length=16), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('started_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_by_name', sa.String(length=128), nullable=True),
    sa.Column('completed_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_by_name', sa.String(length=128), nullable=True),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('approval_asked', sa.String(length=500), nullable=True),
    sa.Column('approved_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approved_by_name', sa.String(length=128), nullable=True),
    sa.Column('updated_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_playbook_run_steps_assignee_id_users')),
    sa.ForeignKeyConstraint(['run_id'], ['playbook_runs.id'], name=op.f('fk_playbook_run_steps_run_id_playbook_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playbook_run_steps')),
    sa.UniqueConstraint('run_id', 'step_id', name=op.f('uq_playbook_run_steps_run_id'))
    )
    with op.batch_alter_table('playbook_run_steps', schema=None) as batch_op:
        batch_op.create_index('ix_playbook_run_steps_assignee_id', ['assignee_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('playbook_run_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_playbook_run_steps_assignee_id')

    op.drop_table('playbook_run_steps')
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_playbook_runs_version_id')
        batch_op.drop_index('ix_playbook_runs_case_id')

    op.drop_table('playbook_runs')
    with op.batch_alter_table('playbooks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_playbooks_current_version_id', type_='foreignkey')
    op.drop_table('playbook_versions')
    op.drop_table('playbooks')
