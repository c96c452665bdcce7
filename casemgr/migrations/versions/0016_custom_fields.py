"""custom case fields: their definitions (per category) and the values cases hold

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-01 18:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TYPES = ('text', 'long_text', 'number', 'choice', 'multi_choice', 'datetime', 'yes_no', 'user', 'url')
STATES = ('new', 'triage', 'investigating', 'containment', 'eradication', 'recovery', 'resolved', 'closed')


def upgrade() -> None:
    op.create_table(
        'case_fields',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=False),
        sa.Column('help_text', sa.Text(), nullable=False),
        sa.Column('type', sa.Enum(*TYPES, name='fieldtype', native_enum=False, length=20), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=True),
        sa.Column('required', sa.Boolean(), nullable=False),
        sa.Column('required_from', sa.Enum(*STATES, name='casestatus', native_enum=False, length=20),
                  nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('max_length', sa.Integer(), nullable=True),
        sa.Column('pattern', sa.String(length=500), nullable=True),
        sa.Column('min_value', sa.Float(), nullable=True),
        sa.Column('max_value', sa.Float(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('retired_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_fields')),
        sa.UniqueConstraint('code', name=op.f('uq_case_fields_code')),
    )
    op.create_index(op.f('ix_case_fields_category'), 'case_fields', ['category'], unique=False)
    op.create_table(
        'case_field_values',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('field_id', sa.Integer(), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('search_text', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_field_values_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['field_id'], ['case_fields.id'],
                                name=op.f('fk_case_field_values_field_id_case_fields')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_field_values')),
        sa.UniqueConstraint('case_id', 'field_id', name=op.f('uq_case_field_values_case_id')),
    )
    op.create_index('ix_case_field_values_field_key', 'case_field_values', ['field_id', 'key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_field_values_field_key', table_name='case_field_values')
    op.drop_table('case_field_values')
    op.drop_index(op.f('ix_case_fields_category'), table_name='case_fields')
    op.drop_table('case_fields')
