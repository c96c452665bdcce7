"""search indexes (PostgreSQL): open and unassigned cases counted from one index; a case's search words
written once per statement, not once per timeline row

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:00:00.000000

PostgreSQL kept `case_search` (migration 0002) with a row trigger on `case_timeline`: inserting a case's
four notes in one statement rewrote its search row four times, leaving four dead copies of a row of about
1 kB per case. After a bulk insert (the benchmark's seed, an import) the table was 2.5 times its live
size, larger than the server's shared buffers, and a search matching many cases read it from disk on
every count. A statement trigger with the statement's new rows (a transition table) appends each case's
new words once. Same words, same results; SQLite (FTS5 triggers) is unchanged.
"""
from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Made here rather than in the models, on PostgreSQL only: on SQLite the same index made the page of
# these cases sort every match instead of walking (owner_id, id) newest first. The count of open,
# unassigned cases (the home page, the triage filter) reads it alone: `restricted` is included for the
# visibility filter, so no heap page per case.
UNMANAGED = ("ix_cases_owner_id_status_id",)

# The words of a note or event, as casemgr_case_notes() (migration 0002) appends them one row at a time.
PG_NOTES_ADDED = """CREATE FUNCTION casemgr_case_notes_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE case_search s SET document = strip(s.document || added.words)
    FROM (SELECT case_id,
                 strip(to_tsvector('simple'::regconfig, regexp_replace(
                   string_agg(CASE WHEN kind = 'event' THEN summary ELSE '' END || ' ' || coalesce(body, ''), ' '),
                   '[^[:alnum:]]+', ' ', 'g'))) AS words
            FROM new_entries WHERE kind IN ('note', 'event') GROUP BY case_id) AS added
   WHERE s.case_id = added.case_id;
  RETURN NULL;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index('ix_cases_owner_id_status_id', 'cases', ['owner_id', 'status', 'id'], unique=False,
                        postgresql_include=['restricted'])
        op.execute("DROP TRIGGER case_timeline_search_insert ON case_timeline")
        op.execute(PG_NOTES_ADDED)
        op.execute("CREATE TRIGGER case_timeline_search_insert AFTER INSERT ON case_timeline "
                   "REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION casemgr_case_notes_added()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER case_timeline_search_insert ON case_timeline")
        op.execute("DROP FUNCTION casemgr_case_notes_added()")
        op.execute("CREATE TRIGGER case_timeline_search_insert AFTER INSERT ON case_timeline "
                   "FOR EACH ROW EXECUTE FUNCTION casemgr_case_notes()")
        op.drop_index('ix_cases_owner_id_status_id', table_name='cases')
