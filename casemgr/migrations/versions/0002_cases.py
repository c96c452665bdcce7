"""cases: the case record, tags, members, timeline, escalations, links; full-text search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:41:18.821383
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0002'
down_revision = '0001'

# Full-text search objects written by hand below; Alembic leaves them alone (see casemgr.migrate).
UNMANAGED = ("cases_fts", "ix_cases_search", "ix_case_timeline_search", "search_vector")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_reference_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_case_reference_counters'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=24), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('subcategory', sa.String(length=64), nullable=True),
    sa.Column('source', sa.Enum('user_report', 'monitoring_alert', 'staff_observation', 'threat_intelligence', 'third_party', name='source', native_enum=False, length=32), nullable=True),
    sa.Column('occurred_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('detected_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reported_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('contained_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('impact', sa.Enum('high', 'medium', 'low', name='level', native_enum=False, length=8), nullable=False),
    sa.Column('urgency', sa.Enum('high', 'medium', 'low', name='level', native_enum=False, length=8), nullable=False),
    sa.Column('priority', sa.Enum('P1', 'P2', 'P3', 'P4', 'P5', name='priority', native_enum=False, length=4), nullable=False),
    sa.Column('priority_overridden', sa.Boolean(), nullable=False),
    sa.Column('priority_reason', sa.Text(), nullable=True),
    sa.Column('severity', sa.Enum('critical', 'high', 'medium', 'low', 'informational', name='severity', native_enum=False, length=16), nullable=False),
    sa.Column('severity_overridden', sa.Boolean(), nullable=False),
    sa.Column('severity_reason', sa.Text(), nullable=True),
    sa.Column('tlp', sa.Enum('clear', 'green', 'amber', 'amber+strict', 'red', name='tlp', native_enum=False, length=16), nullable=False),
    sa.Column('pap', sa.Enum('clear', 'green', 'amber', 'red', name='pap', native_enum=False, length=16), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('new', 'triage', 'investigating', 'containment', 'eradication', 'recovery', 'resolved', 'closed', name='casestatus', native_enum=False, length=16), nullable=False),
    sa.Column('resolution', sa.Enum('remediated', 'false_positive', 'duplicate', 'risk_accepted', 'other', name='resolution', native_enum=False, length=16), nullable=True),
    sa.Column('resolution_summary', sa.Text(), nullable=True),
    sa.Column('root_cause', sa.Text(), nullable=True),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('team', sa.String(length=64), nullable=True),
    sa.Column('last_escalated_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_cases_created_by_id_users')),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['cases.id'], name=op.f('fk_cases_duplicate_of_id_cases')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_cases_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('reference', name=op.f('uq_cases_reference'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_category_id', ['category', 'id'], unique=False)
        batch_op.create_index('ix_cases_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_cases_detected_at', ['detected_at'], unique=False)
        batch_op.create_index('ix_cases_last_escalated_at', ['last_escalated_at'], unique=False)
        batch_op.create_index('ix_cases_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_cases_owner_id_id', ['owner_id', 'id'], unique=False)
        batch_op.create_index('ix_cases_priority_id', ['priority', 'id'], unique=False)
        batch_op.create_index('ix_cases_restricted_id', ['restricted', 'id'], unique=False)
        batch_op.create_index('ix_cases_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_cases_team_id', ['team', 'id'], unique=False)
        batch_op.create_index('ix_cases_tlp_id', ['tlp', 'id'], unique=False)
        batch_op.create_index('ix_cases_updated_at', ['updated_at'], unique=False)

    op.create_table('case_escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('functional', 'hierarchical', name='escalationkind', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('to_team', sa.String(length=64), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_name', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_escalations_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_case_escalations_created_by_id_users')),
    sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_case_escalations_to_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_escalations'))
    )
    with op.batch_alter_table('case_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_escalations_case_id'), ['case_id'], unique=False)

    op.create_table('case_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('other_case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('related', 'duplicate_of', name='linkkind', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_links_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_case_links_created_by_id_users')),
    sa.ForeignKeyConstraint(['other_case_id'], ['cases.id'], name=op.f('fk_case_links_other_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_links')),
    sa.UniqueConstraint('case_id', 'other_case_id', 'kind', name='uq_case_links_pair')
    )
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_links_other_case_id'), ['other_case_id'], unique=False)

    op.create_table('case_members',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_members_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_members_user_id_users')),
    sa.PrimaryKeyConstraint('case_id', 'user_id', name=op.f('pk_case_members'))
    )
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.create_index('ix_case_members_user_id_case_id', ['user_id', 'case_id'], unique=False)

    op.create_table('case_tags',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_tags_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', 'tag', name=op.f('pk_case_tags'))
    )
    with op.batch_alter_table('case_tags', schema=None) as batch_op:
        batch_op.create_index('ix_case_tags_tag_case_id', ['tag', 'case_id'], unique=False)

    op.create_table('case_timeline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('created', 'updated', 'transition', 'escalation', 'link', 'note', 'event', name='entrykind', native_enum=False, length=16), nullable=False),
    sa.Column('occurred_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=128), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_case_timeline_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_timeline_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_timeline'))
    )
    with op.batch_alter_table('case_timeline', schema=None) as batch_op:
        batch_op.create_index('ix_case_timeline_case_id_occurred_at', ['case_id', 'occurred_at', 'id'], unique=False)
    _create_search(op.get_bind().dialect.name)


def downgrade() -> None:
    _drop_search(op.get_bind().dialect.name)
    with op.batch_alter_table('case_timeline', schema=None) as batch_op:
        batch_op.drop_index('ix_case_timeline_case_id_occurred_at')

    op.drop_table('case_timeline')
    with op.batch_alter_table('case_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_case_tags_tag_case_id')

    op.drop_table('case_tags')
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.drop_index('ix_case_members_user_id_case_id')

    op.drop_table('case_members')
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_links_other_case_id'))

    op.drop_table('case_links')
    with op.batch_alter_table('case_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_escalations_case_id'))

    op.drop_table('case_escalations')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_updated_at')
        batch_op.drop_index('ix_cases_tlp_id')
        batch_op.drop_index('ix_cases_team_id')
        batch_op.drop_index('ix_cases_status_id')
        batch_op.drop_index('ix_cases_restricted_id')
        batch_op.drop_index('ix_cases_priority_id')
        batch_op.drop_index('ix_cases_owner_id_id')
        batch_op.drop_index('ix_cases_occurred_at')
        batch_op.drop_index('ix_cases_last_escalated_at')
        batch_op.drop_index('ix_cases_detected_at')
        batch_op.drop_index('ix_cases_created_at')
        batch_op.drop_index('ix_cases_category_id')

    op.drop_table('cases')
    op.drop_table('case_reference_counters')


# Full-text search (see casemgr/cases/search.py, whose PostgreSQL expressions must match these).
# SQLite: one FTS5 row per case (rowid = case id) holding its title, description and the text of
# its notes and manual events, kept in step by triggers; a search is one FTS lookup, no join.
# PostgreSQL: GIN indexes on the same tsvector expressions the search query uses.
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE cases_fts USING fts5(title, description, notes)",
    """CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
         INSERT INTO cases_fts(rowid, title, description, notes) VALUES (new.id, new.title, new.description, '');
       END""",
    """CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, description ON cases BEGIN
         UPDATE cases_fts SET title = new.title, description = new.description WHERE rowid = new.id;
       END""",
    """CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
         DELETE FROM cases_fts WHERE rowid = old.id;
       END""",
    # A note or event appends its text to its case's row; a change or removal rebuilds the row's notes.
    """CREATE TRIGGER case_timeline_fts_insert AFTER INSERT ON case_timeline
       WHEN new.kind IN ('note', 'event') BEGIN
         UPDATE cases_fts SET notes = notes || ' ' || CASE WHEN new.kind = 'event' THEN new.summary ELSE '' END || ' ' || coalesce(new.body, '')
         WHERE rowid = new.case_id;
       END""",
    """CREATE TRIGGER case_timeline_fts_delete AFTER DELETE ON case_timeline
       WHEN old.kind IN ('note', 'event') BEGIN
         UPDATE cases_fts SET notes = (SELECT coalesce(group_concat(CASE WHEN t.kind = 'event' THEN t.summary ELSE '' END || ' ' || coalesce(t.body, ''), ' '), '')
                              FROM case_timeline t WHERE t.case_id = old.case_id AND t.kind IN ('note', 'event'))
         WHERE rowid = old.case_id;
       END""",
    """CREATE TRIGGER case_timeline_fts_update AFTER UPDATE OF kind, summary, body, case_id ON case_timeline BEGIN
         UPDATE cases_fts SET notes = (SELECT coalesce(group_concat(CASE WHEN t.kind = 'event' THEN t.summary ELSE '' END || ' ' || coalesce(t.body, ''), ' '), '')
                              FROM case_timeline t WHERE t.case_id = old.case_id AND t.kind IN ('note', 'event'))
         WHERE rowid = old.case_id;
         UPDATE cases_fts SET notes = (SELECT coalesce(group_concat(CASE WHEN t.kind = 'event' THEN t.summary ELSE '' END || ' ' || coalesce(t.body, ''), ' '), '')
                              FROM case_timeline t WHERE t.case_id = new.case_id AND t.kind IN ('note', 'event'))
         WHERE rowid = new.case_id;
       END""",
]
SQLITE_SEARCH_DROP = [
    "DROP TRIGGER IF EXISTS case_timeline_fts_update", "DROP TRIGGER IF EXISTS case_timeline_fts_delete",
    "DROP TRIGGER IF EXISTS case_timeline_fts_insert",
    "DROP TRIGGER IF EXISTS cases_fts_update", "DROP TRIGGER IF EXISTS cases_fts_delete",
    "DROP TRIGGER IF EXISTS cases_fts_insert", "DROP TABLE IF EXISTS cases_fts",
]
PG_CASE_DOCUMENT = ("to_tsvector('simple'::regconfig, regexp_replace(coalesce(title, '') || ' ' || "
                    "coalesce(description, ''), '[^[:alnum:]]+', ' ', 'g'))")
PG_ENTRY_DOCUMENT = ("to_tsvector('simple'::regconfig, regexp_replace(CASE WHEN kind = 'event' THEN summary "
                     "ELSE '' END || ' ' || coalesce(body, ''), '[^[:alnum:]]+', ' ', 'g'))")
# Stored generated tsvector columns: PostgreSQL reads them from the GIN index and never recomputes
# the (costly) expression per row, which it otherwise misjudges and does on a sequential scan.
PG_SEARCH = [
    f"ALTER TABLE cases ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({PG_CASE_DOCUMENT}) STORED",
    "CREATE INDEX ix_cases_search ON cases USING gin (search_vector)",
    f"ALTER TABLE case_timeline ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({PG_ENTRY_DOCUMENT}) STORED",
    "CREATE INDEX ix_case_timeline_search ON case_timeline USING gin (search_vector) "
    "WHERE kind IN ('note', 'event')",
]
PG_SEARCH_DROP = ["DROP INDEX IF EXISTS ix_case_timeline_search", "DROP INDEX IF EXISTS ix_cases_search",
                  "ALTER TABLE case_timeline DROP COLUMN IF EXISTS search_vector",
                  "ALTER TABLE cases DROP COLUMN IF EXISTS search_vector"]


def _create_search(dialect: str) -> None:
    for statement in SQLITE_SEARCH if dialect == "sqlite" else PG_SEARCH if dialect == "postgresql" else []:
        op.execute(statement)


def _drop_search(dialect: str) -> None:
    for statement in SQLITE_SEARCH_DROP if dialect == "sqlite" else PG_SEARCH_DROP if dialect == "postgresql" else []:
        op.execute(statement)
