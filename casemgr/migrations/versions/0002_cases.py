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
UNMANAGED = ("cases_fts", "case_search")
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
# As on SQLite, one document per case, in a narrow table of its own so that lists and counts over
# `cases` never read it: the words of the title, description, notes and events, positions stripped
# so that a long timeline stays small, kept by triggers (a new note appends its words; any other
# change rebuilds the case's document) under one GIN index.
PG_WORDS = "strip(to_tsvector('simple'::regconfig, regexp_replace({text}, '[^[:alnum:]]+', ' ', 'g')))"
PG_DOCUMENT_OF_CASE = (
    "SELECT " + PG_WORDS.format(text="coalesce(c.title, '') || ' ' || coalesce(c.description, '')") + " || "
    "coalesce((SELECT " + PG_WORDS.format(text="string_agg(CASE WHEN t.kind = 'event' THEN t.summary ELSE '' END "
                                               "|| ' ' || coalesce(t.body, ''), ' ')")
    + " FROM case_timeline t WHERE t.case_id = c.id AND t.kind IN ('note', 'event')), ''::tsvector) "
    "FROM cases c WHERE c.id = {case}")
PG_SEARCH = [
    """CREATE TABLE case_search (
         case_id integer PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
         document tsvector NOT NULL)""",
    "CREATE INDEX ix_case_search_document ON case_search USING gin (document)",
    f"""CREATE FUNCTION casemgr_case_words() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO case_search (case_id, document)
        VALUES (NEW.id, {PG_WORDS.format(text="coalesce(NEW.title, '') || ' ' || coalesce(NEW.description, '')")});
      ELSE
        UPDATE case_search SET document = ({PG_DOCUMENT_OF_CASE.format(case="NEW.id")}) WHERE case_id = NEW.id;
      END IF;
      RETURN NULL;
    END $$""",
    "CREATE TRIGGER cases_search_insert AFTER INSERT ON cases FOR EACH ROW EXECUTE FUNCTION casemgr_case_words()",
    "CREATE TRIGGER cases_search_update AFTER UPDATE OF title, description ON cases "
    "FOR EACH ROW EXECUTE FUNCTION casemgr_case_words()",
    f"""CREATE FUNCTION casemgr_case_notes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF NEW.kind IN ('note', 'event') THEN
          UPDATE case_search SET document = strip(document || {PG_WORDS.format(
              text="CASE WHEN NEW.kind = 'event' THEN NEW.summary ELSE '' END || ' ' || coalesce(NEW.body, '')")})
           WHERE case_id = NEW.case_id;
        END IF;
        RETURN NULL;
      END IF;
      UPDATE case_search SET document = ({PG_DOCUMENT_OF_CASE.format(case="OLD.case_id")})
       WHERE case_id = OLD.case_id;
      IF TG_OP = 'UPDATE' AND NEW.case_id <> OLD.case_id THEN
        UPDATE case_search SET document = ({PG_DOCUMENT_OF_CASE.format(case="NEW.case_id")})
         WHERE case_id = NEW.case_id;
      END IF;
      RETURN NULL;
    END $$""",
    "CREATE TRIGGER case_timeline_search_insert AFTER INSERT ON case_timeline "
    "FOR EACH ROW EXECUTE FUNCTION casemgr_case_notes()",
    "CREATE TRIGGER case_timeline_search_change AFTER UPDATE OF kind, summary, body, case_id OR DELETE "
    "ON case_timeline FOR EACH ROW EXECUTE FUNCTION casemgr_case_notes()",
]
PG_SEARCH_DROP = ["DROP TRIGGER IF EXISTS case_timeline_search_change ON case_timeline",
                  "DROP TRIGGER IF EXISTS case_timeline_search_insert ON case_timeline",
                  "DROP TRIGGER IF EXISTS cases_search_update ON cases",
                  "DROP TRIGGER IF EXISTS cases_search_insert ON cases",
                  "DROP FUNCTION IF EXISTS casemgr_case_notes()",
                  "DROP FUNCTION IF EXISTS casemgr_case_words()",
                  "DROP TABLE IF EXISTS case_search"]


def _create_search(dialect: str) -> None:
    for statement in SQLITE_SEARCH if dialect == "sqlite" else PG_SEARCH if dialect == "postgresql" else []:
        op.execute(statement)


def _drop_search(dialect: str) -> None:
    for statement in SQLITE_SEARCH_DROP if dialect == "sqlite" else PG_SEARCH_DROP if dialect == "postgresql" else []:
        op.execute(statement)
