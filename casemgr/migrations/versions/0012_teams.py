"""teams: team records (name, description, lead, members, contact address); a case's team and a functional
escalation's team refer to them

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01 16:10:00.000000

Every distinct free-text team of the existing cases and functional escalations becomes a team (trimmed;
values that differ only in letter case or surrounding blanks are one team, named as most cases spelled
it). What was created is reported: through alembic's logger, and to whoever ran the upgrade through
`casemgr.migrate.upgrade`'s return value (`casemgr init` prints it).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

REPORTS = "casemgr.migration_reports"  # the key of the report lines in the Alembic config's attributes
log = logging.getLogger("alembic.runtime.migration")

# SQLite alters `cases` by copying it into a new table, which loses the table's triggers: the full-text
# search triggers of migration 0002 on `cases` are made again afterwards (the same statements).
SQLITE_CASE_TRIGGERS = [
    """CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
         INSERT INTO cases_fts(rowid, title, description, notes) VALUES (new.id, new.title, new.description, '');
       END""",
    """CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, description ON cases BEGIN
         UPDATE cases_fts SET title = new.title, description = new.description WHERE rowid = new.id;
       END""",
    """CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
         DELETE FROM cases_fts WHERE rowid = old.id;
       END""",
]


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _after_copying_cases() -> None:
    if _sqlite():
        for statement in SQLITE_CASE_TRIGGERS:
            op.execute(statement.split(" AFTER ")[0].replace("CREATE TRIGGER", "DROP TRIGGER IF EXISTS"))
            op.execute(statement)


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('created_at', casemgr.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['users.id'], name=op.f('fk_teams_lead_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name_key', name=op.f('uq_teams_name_key'))
    )
    op.create_table('team_members',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_members_team_id_teams'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'user_id', name=op.f('pk_team_members'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index('ix_team_members_user_id_team_id', ['user_id', 'team_id'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cases_team_id_teams'), 'teams', ['team_id'], ['id'])
    with op.batch_alter_table('case_escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('to_team_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_case_escalations_to_team_id_teams'), 'teams', ['to_team_id'],
                                    ['id'])

    _teams_from_free_text()

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_team_id')
        batch_op.drop_column('team')
        batch_op.create_index('ix_cases_team_id_id', ['team_id', 'id'], unique=False)
    _after_copying_cases()


def _teams_from_free_text() -> None:
    conn = op.get_bind()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('team', sa.String),
                     sa.column('team_id', sa.Integer))
    escalations = sa.table('case_escalations', sa.column('to_team', sa.String), sa.column('to_team_id', sa.Integer))
    teams = sa.table('teams', sa.column('id', sa.Integer), sa.column('name', sa.String),
                     sa.column('name_key', sa.String), sa.column('description', sa.Text),
                     sa.column('created_at', casemgr.db.UTCDateTime(timezone=True)))
    spellings: dict[str, Counter[str]] = defaultdict(Counter)  # name key -> raw value -> cases with it
    for value, count in conn.execute(sa.select(cases.c.team, sa.func.count()).where(cases.c.team.is_not(None))
                                     .group_by(cases.c.team)):
        if value.strip():
            spellings[value.strip().casefold()][value] += count
    for (value,) in conn.execute(sa.select(escalations.c.to_team).where(escalations.c.to_team.is_not(None))
                                 .distinct()):
        if value.strip():
            spellings[value.strip().casefold()][value] += 0  # named by an escalation only: still a team
    now = dt.datetime.now(dt.UTC)
    for key in sorted(spellings):
        variants = spellings[key]
        # The name most cases spelled it with (trimmed); a tie goes to the first in sorted order.
        name = min(variants, key=lambda v: (-variants[v], v.strip())).strip()
        team_id = conn.execute(sa.insert(teams).values(name=name, name_key=key, description="", created_at=now)
                               .returning(teams.c.id)).scalar_one()
        raw = list(variants)
        conn.execute(sa.update(cases).where(cases.c.team.in_(raw)).values(team_id=team_id))
        conn.execute(sa.update(escalations).where(escalations.c.to_team.in_(raw)).values(to_team_id=team_id))
        count = sum(variants.values())
        shown = ", ".join(repr(v) for v in sorted(variants))
        _report(f"created team {name!r} from {count} case{'' if count == 1 else 's'} (written {shown})")


def _report(line: str) -> None:
    log.info("%s", line)
    config = op.get_context().config
    if config is not None:
        config.attributes.setdefault(REPORTS, []).append(line)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team', sa.String(length=64), nullable=True))
    op.execute("UPDATE cases SET team = (SELECT name FROM teams WHERE teams.id = cases.team_id)")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_team_id_id')
        batch_op.drop_constraint(batch_op.f('fk_cases_team_id_teams'), type_='foreignkey')
        batch_op.drop_column('team_id')
        batch_op.create_index('ix_cases_team_id', ['team', 'id'], unique=False)
    _after_copying_cases()
    with op.batch_alter_table('case_escalations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_case_escalations_to_team_id_teams'), type_='foreignkey')
        batch_op.drop_column('to_team_id')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index('ix_team_members_user_id_team_id')
    op.drop_table('team_members')
    op.drop_table('teams')
