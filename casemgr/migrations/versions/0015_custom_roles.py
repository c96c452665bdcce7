"""custom roles: roles admins define as sets of registered permissions; an account's role is a code

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01 18:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'custom_roles',
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('description', sa.String(length=2000), nullable=False),
        sa.Column('permissions', sa.JSON(), nullable=False),
        sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_custom_roles')),
    )
    # The role was one of four values (a VARCHAR(16), no constraint): now any role's code.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('role', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    custom = bind.execute(sa.text("SELECT count(*) FROM users WHERE role NOT IN "
                                  "('analyst', 'manager', 'auditor', 'admin')")).scalar()
    if custom:
        raise RuntimeError(f"{custom} account(s) have a custom role: give them a built-in role before downgrading")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('role', existing_type=sa.String(length=32),
                              type_=sa.Enum('analyst', 'manager', 'auditor', 'admin', name='role', native_enum=False,
                                            length=16), existing_nullable=False)
    op.drop_table('custom_roles')
