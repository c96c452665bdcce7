"""indicators: STIX objects, versions, TAXII collections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:48:01.156864
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indicator_collections',
    sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('collection_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_indicator_collections_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_indicator_collections')),
    sa.UniqueConstraint('collection_id', name=op.f('uq_indicator_collections_collection_id'))
    )
    op.create_table('stix_objects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('stix_id', sa.String(length=300), nullable=False),
    sa.Column('type', sa.String(length=250), nullable=False),
    sa.Column('created', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('modified', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stix_json', sa.Text(), nullable=False),
    sa.Column('value_type', sa.String(length=32), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('value_digest', sa.String(length=64), nullable=True),
    sa.Column('ip_start', sa.String(length=32), nullable=True),
    sa.Column('ip_end', sa.String(length=32), nullable=True),
    sa.Column('pattern', sa.Text(), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('valid_from', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confidence', sa.Integer(), nullable=True),
    sa.Column('tlp', sa.Enum('clear', 'green', 'amber', 'amber+strict', 'red', name='tlp', native_enum=False, length=16), nullable=True),
    sa.Column('source_ref', sa.String(length=300), nullable=True),
    sa.Column('target_ref', sa.String(length=300), nullable=True),
    sa.Column('added_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_stix_objects_added_by_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_stix_objects_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stix_objects')),
    sa.UniqueConstraint('stix_id', 'case_id', name='uq_stix_objects_stix_id_case_id')
    )
    with op.batch_alter_table('stix_objects', schema=None) as batch_op:
        batch_op.create_index('ix_stix_objects_case_id_added_at_id', ['case_id', 'added_at', 'id'], unique=False)
        batch_op.create_index('ix_stix_objects_case_id_source_ref', ['case_id', 'source_ref'], unique=False)
        batch_op.create_index('ix_stix_objects_case_id_target_ref', ['case_id', 'target_ref'], unique=False)
        batch_op.create_index('ix_stix_objects_case_id_type_id', ['case_id', 'type', 'id'], unique=False)
        batch_op.create_index('ix_stix_objects_ip_start_ip_end', ['ip_start', 'ip_end'], unique=False)
        batch_op.create_index('ix_stix_objects_type_tlp_added_at_id', ['type', 'tlp', 'added_at', 'id'], unique=False)
        batch_op.create_index('ix_stix_objects_value_digest', ['value_digest'], unique=False)

    op.create_table('stix_object_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('modified', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stix_json', sa.Text(), nullable=False),
    sa.Column('added_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['object_id'], ['stix_objects.id'], name=op.f('fk_stix_object_versions_object_id_stix_objects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stix_object_versions')),
    sa.UniqueConstraint('object_id', 'modified', name='uq_stix_object_versions_object_id_modified')
    )


def downgrade() -> None:
    op.drop_table('stix_object_versions')
    with op.batch_alter_table('stix_objects', schema=None) as batch_op:
        batch_op.drop_index('ix_stix_objects_value_digest')
        batch_op.drop_index('ix_stix_objects_type_tlp_added_at_id')
        batch_op.drop_index('ix_stix_objects_ip_start_ip_end')
        batch_op.drop_index('ix_stix_objects_case_id_type_id')
        batch_op.drop_index('ix_stix_objects_case_id_target_ref')
        batch_op.drop_index('ix_stix_objects_case_id_source_ref')
        batch_op.drop_index('ix_stix_objects_case_id_added_at_id')

    op.drop_table('stix_objects')
    op.drop_table('indicator_collections')
