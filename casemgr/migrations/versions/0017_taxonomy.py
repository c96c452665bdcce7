"""taxonomy: the incident categories and subcategories in tables, seeded from the package's taxonomy.json

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-01 18:45:00.000000
"""
from __future__ import annotations

import json
from importlib import resources

import sqlalchemy as sa
from alembic import op

import casemgr.db

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    categories = op.create_table(
        'taxonomy_categories',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('retired_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_taxonomy_categories')),
        sa.UniqueConstraint('code', name=op.f('uq_taxonomy_categories_code')),
    )
    subcategories = op.create_table(
        'taxonomy_subcategories',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('retired_at', casemgr.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['category_id'], ['taxonomy_categories.id'],
                                name=op.f('fk_taxonomy_subcategories_category_id_taxonomy_categories')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_taxonomy_subcategories')),
        sa.UniqueConstraint('category_id', 'code', name=op.f('uq_taxonomy_subcategories_category_id')),
    )
    # The taxonomy a fresh install had until now (the package's JSON file): same codes, names and order.
    raw = json.loads(resources.files("casemgr.cases").joinpath("data/taxonomy.json").read_text("utf-8"))
    op.bulk_insert(categories, [{"id": i + 1, "code": c["code"], "name": c["name"], "description": c["description"],
                                 "position": i, "retired_at": None} for i, c in enumerate(raw["categories"])])
    rows = [{"category_id": i + 1, "code": s["code"], "name": s["name"], "description": s["description"],
             "position": j, "retired_at": None}
            for i, c in enumerate(raw["categories"]) for j, s in enumerate(c["subcategories"])]
    op.bulk_insert(subcategories, rows)
    if op.get_bind().dialect.name == "postgresql":  # ids given explicitly: move the sequence past them
        op.execute("SELECT setval(pg_get_serial_sequence('taxonomy_categories', 'id'), "
                   "(SELECT max(id) FROM taxonomy_categories))")


def downgrade() -> None:
    op.drop_table('taxonomy_subcategories')
    op.drop_table('taxonomy_categories')
