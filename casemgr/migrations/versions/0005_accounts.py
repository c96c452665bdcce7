"""accounts: sign-in throttling in the database, recovery codes, forced password changes, token issuers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('window_start', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('locked_until', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_window_start'), ['window_start'], unique=False)
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)

    # Existing rows get a value through a temporary server default, dropped again: the models keep defaults in Python.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('must_change_password', server_default=None)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('personal', 'operator', name='tokenkind', native_enum=False,
                                                      length=16), nullable=False, server_default='personal'))
        batch_op.add_column(sa.Column('issued_by', sa.String(length=128), nullable=False, server_default=''))
    # A token someone made for another user (an admin, or the CLI) was issued by them, not by its owner.
    op.execute("UPDATE api_tokens SET kind = 'operator' WHERE created_by_id IS NULL OR created_by_id <> user_id")
    op.execute("UPDATE api_tokens SET issued_by = COALESCE((SELECT username FROM users"
               " WHERE users.id = api_tokens.created_by_id), 'cli')")
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None)
        batch_op.alter_column('issued_by', server_default=None)

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_issued_by', sa.String(length=128), nullable=True))
    with op.batch_alter_table('evidence_custody', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_issued_by', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evidence_custody', schema=None) as batch_op:
        batch_op.drop_column('token_issued_by')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_column('token_issued_by')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('issued_by')
        batch_op.drop_column('kind')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_window_start'))
    op.drop_table('login_throttle')
