"""Migration 0017: the taxonomy moves from the package's JSON file into tables, the same codes, names and
order; a fresh install offers what it offered before. And back again."""

from __future__ import annotations

import json
from importlib import resources

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from casemgr import migrate
from casemgr.cases import taxonomy
from casemgr.cases.taxonomy_models import TaxonomyCategory
from casemgr.db import make_engine
from tests.test_migrations import fresh_database_url  # noqa: F401  (the fixture)


def test_the_migration_seeds_the_packaged_taxonomy_and_new_categories_get_fresh_ids(fresh_database_url):  # noqa: F811
    migrate.upgrade(fresh_database_url, "0017")
    raw = json.loads(resources.files("casemgr.cases").joinpath("data/taxonomy.json").read_text("utf-8"))
    engine = make_engine(fresh_database_url)
    try:
        with Session(engine) as session:
            loaded = taxonomy.load(session)
            assert [(c.code, c.name, c.description, c.retired) for c in loaded.categories] == [
                (c["code"], c["name"], c["description"], False) for c in raw["categories"]]
            assert [[(s.code, s.name, s.description) for s in c.subcategories] for c in loaded.categories] == [
                [(s["code"], s["name"], s["description"]) for s in c["subcategories"]] for c in raw["categories"]]
            assert loaded.label("malicious-code", "ransomware") == "Malicious code / Ransomware"
            # the ids the migration gave do not block the next category (PostgreSQL's sequence moved past them)
            session.add(TaxonomyCategory(code="insider", name="Insider", description="", position=99))
            session.commit()
    finally:
        engine.dispose()
    migrate.downgrade(fresh_database_url, "0016")
    engine = make_engine(fresh_database_url)
    try:
        assert "taxonomy_categories" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
