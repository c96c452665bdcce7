"""indicator corrections: STIX objects are revoked or re-marked (a new version, the reason kept)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TLP_LEVELS = ('clear', 'green', 'amber', 'amber+strict', 'red')


def upgrade() -> None:
    with op.batch_alter_table('stix_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('stix_object_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_tlp', sa.Enum(*TLP_LEVELS, name='tlp', native_enum=False, length=16), nullable=True),
    sa.Column('to_tlp', sa.Enum(*TLP_LEVELS, name='tlp', native_enum=False, length=16), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('modified', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_stix_object_corrections_actor_id_users')),
    sa.ForeignKeyConstraint(['object_id'], ['stix_objects.id'],
                            name=op.f('fk_stix_object_corrections_object_id_stix_objects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stix_object_corrections'))
    )
    with op.batch_alter_table('stix_object_corrections', schema=None) as batch_op:
        batch_op.create_index('ix_stix_object_corrections_object_id', ['object_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stix_object_corrections', schema=None) as batch_op:
        batch_op.drop_index('ix_stix_object_corrections_object_id')
    op.drop_table('stix_object_corrections')
    with op.batch_alter_table('stix_objects', schema=None) as batch_op:
        batch_op.drop_column('revoked')
