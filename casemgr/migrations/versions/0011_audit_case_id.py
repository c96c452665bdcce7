"""audit entries: the case each is about, in an indexed column, for the case filter

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01 15:40:00.000000

The case filter (the audit page, GET /api/v1/audit, `casemgr audit export --case`) read every entry's JSON
summary. `case_id` holds the case the entry is about, by the rule record() now applies when it appends
(casemgr.audit.service.case_named): its object is the case, or its summary names the case by `case_id`
(an integer or its decimal text) or by `case` or `reference` (a case's reference), the first that names
one. Older entries are filled in here by the same rule, in SQL, one statement per part, each part only
where an earlier one named no case. The column is outside the hashed content: no hash changes.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None

MAX_CASE_ID = 2**31 - 1


def _is_case_number(dialect: str, text: str) -> str:
    """SQL: `text` is a case id written as str() writes it (1 to MAX_CASE_ID, no sign, no leading zero)."""
    if dialect == "postgresql":  # CASE: the cast only where the pattern holds (a bad cast would abort)
        return (f"CASE WHEN {text} ~ '^[1-9][0-9]{{0,9}}$' THEN CAST({text} AS BIGINT) <= {MAX_CASE_ID}"
                " ELSE false END")
    return (f"({text} GLOB '[1-9]*' AND {text} NOT GLOB '*[^0-9]*' AND length({text}) <= 10"
            f" AND CAST({text} AS INTEGER) <= {MAX_CASE_ID})")


def _backfill(dialect: str) -> None:
    pg = dialect == "postgresql"

    # A summary member as text (a string unquoted), and its JSON type; named in full (cases has a summary too).
    def member(key: str) -> str:
        return f"(audit_entries.summary ->> '{key}')" if pg else f"json_extract(audit_entries.summary, '$.{key}')"

    def kind(key: str) -> str:
        return f"json_typeof(audit_entries.summary -> '{key}')" if pg else f"json_type(audit_entries.summary, '$.{key}')"

    # 1. The object is the case.
    op.execute(f"UPDATE audit_entries SET case_id = CAST(object_id AS INTEGER)"
               f" WHERE object_type = 'case' AND {_is_case_number(dialect, 'object_id')}")
    # 2. The summary names the case by id: a JSON integer, or a string of its digits (not JSON true).
    number_kinds = "('number', 'string')" if pg else "('integer', 'text')"
    op.execute(f"UPDATE audit_entries SET case_id = CAST({member('case_id')} AS INTEGER)"
               f" WHERE case_id IS NULL AND {kind('case_id')} IN {number_kinds}"
               f" AND {_is_case_number(dialect, member('case_id'))}")
    # 3. and 4. The summary names the case by reference, `case` before `reference`.
    string = "'string'" if pg else "'text'"
    for key in ("case", "reference"):
        op.execute(f"UPDATE audit_entries SET case_id = cases.id FROM cases"
                   f" WHERE audit_entries.case_id IS NULL AND {kind(key)} = {string}"
                   f" AND cases.reference = {member(key)}")


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_id', sa.Integer(), nullable=True))
    _backfill(op.get_bind().dialect.name)
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_case_id_seq', ['case_id', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_case_id_seq')
        batch_op.drop_column('case_id')
