"""evidence: encrypted evidence items and their hash-chained custody log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:51:10.203190
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evidence_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.String(length=32), nullable=True),
    sa.Column('key_id', sa.String(length=32), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('sha1', sa.String(length=40), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('collected_by', sa.String(length=200), nullable=True),
    sa.Column('collected_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=500), nullable=True),
    sa.Column('acquisition_method', sa.String(length=500), nullable=True),
    sa.Column('state', sa.Enum('active', 'sealed', 'disposed', name='evidencestate', native_enum=False, length=16), nullable=False),
    sa.Column('custodian', sa.String(length=150), nullable=False),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.Column('received_by', sa.String(length=150), nullable=False),
    sa.Column('received_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('integrity', sa.Enum('unverified', 'ok', 'failed', name='integrity', native_enum=False, length=16), nullable=False),
    sa.Column('verified_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('integrity_detail', sa.Text(), nullable=True),
    sa.Column('disposed_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('custody_count', sa.Integer(), nullable=False),
    sa.Column('custody_head', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_evidence_items_case_id_cases')),
    sa.ForeignKeyConstraint(['received_by_id'], ['users.id'], name=op.f('fk_evidence_items_received_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_items')),
    sa.UniqueConstraint('object_id', name=op.f('uq_evidence_items_object_id'))
    )
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_items_case_id_id', ['case_id', 'id'], unique=False)
        batch_op.create_index('ix_evidence_items_key_id', ['key_id'], unique=False)
        batch_op.create_index('ix_evidence_items_sha256', ['sha256'], unique=False)

    op.create_table('evidence_custody',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('acquired', 'received', 'viewed', 'downloaded', 'transferred', 'verified', 'exported', 'sealed', 'released', 'disposed', name='custodykind', native_enum=False, length=16), nullable=False),
    sa.Column('occurred_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=150), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('alarm', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence_items.id'], name=op.f('fk_evidence_custody_evidence_id_evidence_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_custody')),
    sa.UniqueConstraint('evidence_id', 'seq', name='uq_evidence_custody_evidence_id_seq')
    )


def downgrade() -> None:
    op.drop_table('evidence_custody')
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_items_sha256')
        batch_op.drop_index('ix_evidence_items_key_id')
        batch_op.drop_index('ix_evidence_items_case_id_id')

    op.drop_table('evidence_items')
