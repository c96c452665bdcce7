"""A search's count and its two page plans (casemgr.cases.search): a page starts from the matching ids
when a few cases match (PostgreSQL), and walks the cases newest first when many do; the count of a
search alone drops the cases hidden from the actor instead of joining every visible case. Whichever
plan runs, a user sees the same cases, pages and totals."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.cases import access, search
from casemgr.cases.models import Case

ROLES = ("member", "outsider", "manager")


@pytest.fixture
def corpus(api, open_case) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Seven cases naming a quokka (every third one restricted, opened by `member`), one that does not."""
    clients = {"member": api("analyst", "member"), "outsider": api("analyst", "outsider"),
               "manager": api("manager", "boss")}
    quokkas = [open_case(clients["member"], title=f"Quokka sighting {n}", restricted=n % 3 == 0) for n in range(7)]
    open_case(clients["member"], title="Wombat in the server room")
    clients["member"].post(f"/api/v1/cases/{quokkas[2]['id']}/notes", json={"body": "A second quokka, in the car park"})
    return clients, quokkas


def seen_by(role: str, quokkas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The quokka cases `role` sees, newest first."""
    return [c for c in reversed(quokkas) if role != "outsider" or not c["restricted"]]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_total_of_a_search_as_each_user_sees_them(corpus, role):
    clients, quokkas = corpus
    expected = [c["reference"] for c in seen_by(role, quokkas)]
    for q in ("quokka", "QUOKKA sight"):
        pages = [clients[role].get("/api/v1/cases", query_string={"q": q, "per_page": 2, "page": p}).get_json()
                 for p in (1, 2, 3, 4, 5)]
        assert {p["total"] for p in pages} == {len(expected)}, q
        assert [c["reference"] for p in pages for c in p["items"]] == expected, q
    filtered = clients[role].get("/api/v1/cases", query_string={"q": "quokka", "restricted": "false"}).get_json()
    assert [c["reference"] for c in filtered["items"]] == [c["reference"] for c in seen_by(role, quokkas)
                                                            if not c["restricted"]]
    assert filtered["total"] == len(filtered["items"])
    note = clients[role].get("/api/v1/cases", query_string={"q": "car park"}).get_json()
    assert (note["total"], [c["reference"] for c in note["items"]]) == (1, [quokkas[2]["reference"]])


@pytest.mark.parametrize("role", ROLES)
def test_both_page_plans_give_the_same_pages(corpus, db, role):
    clients, quokkas = corpus
    number = quokkas[4]["reference"].rsplit("-", 1)[1]  # a reference's number: a union with the text matches
    with db.session(write=False) as s:
        actor = Actor(user=s.get(User, clients[role].user.id), via="test")
        visible = access.visible_filter(actor)
        for q, expected in (("quokka", seen_by(role, quokkas)), (number, [quokkas[4]]), ("nothing-like-it", [])):
            ids = [c["id"] for c in expected]
            assert search.count(s, q, visible, []) == len(ids), q
            assert search.count(s, q, visible, [Case.restricted.is_(False)]) == len(
                [c for c in expected if not c["restricted"]]), q
            for start in (0, 2, 4):
                pages = {total: s.scalars(select(Case.id).where(visible, search.matching(s, q, total))
                                          .order_by(Case.id.desc()).offset(start).limit(2)).all()
                         for total in (0, search.PAGE_FROM_IDS, search.PAGE_FROM_IDS + 1, None)}
                assert all(page == ids[start:start + 2] for page in pages.values()), (q, start, pages)


def test_postgres_pages_a_few_matches_from_their_ids_and_counts_without_the_visible_cases(corpus, db, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL plan check")
    clients, _quokkas = corpus
    with db.session(write=False) as s:
        actor = Actor(user=s.get(User, clients["outsider"].user.id), via="test")
        visible = access.visible_filter(actor)

        def plan(statement: Any) -> str:
            compiled = statement.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            return "\n".join(r[0] for r in s.execute(text(f"EXPLAIN {compiled}")))

        def page(total: int) -> str:
            return plan(select(Case.id).where(visible, search.matching(s, "quokka", total))
                        .order_by(Case.id.desc()).limit(50))

        s.execute(text("SET enable_seqscan = off"))
        few, many = page(search.PAGE_FROM_IDS), page(search.PAGE_FROM_IDS + 1)
        counting = plan(search.count_query(s, "quokka", visible, []))
        assert search.count(s, "quokka", visible, []) == 4
    assert "InitPlan" in few, few
    assert "id = ANY ($" in few, few  # the ids computed once, then looked up (the tables here are tiny)
    assert "ANY" not in many, many
    assert "Anti Join" in counting, counting
