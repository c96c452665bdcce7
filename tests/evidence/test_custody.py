"""The custody log is hash-chained per item: editing, deleting, reordering or moving an entry in the
database makes `chain_valid` false (API and page); the chain itself is never edited by any interface."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from casemgr.evidence.models import CustodyEvent

from .conftest import upload


@pytest.fixture
def item_with_history(api, open_case, make_user):
    analyst = api("analyst")
    make_user("analyst", "carol")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"mail.eml content").get_json()
    analyst.post(f"/api/v1/evidence/{item['id']}/transfer", json={"to": "carol", "reason": "handover"})
    analyst.get(f"/api/v1/evidence/{item['id']}/content?purpose=report")
    other = upload(analyst, case["id"], b"second").get_json()
    return analyst, item, other


def _chain(client, item_id):
    return client.get(f"/api/v1/evidence/{item_id}/custody").get_json()


def test_untouched_chain_is_valid(item_with_history):
    analyst, item, _ = item_with_history
    custody = _chain(analyst, item["id"])
    assert custody["chain_valid"] is True
    assert custody["chain_problem"] is None
    assert [e["seq"] for e in custody["events"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("tamper", ["edit details", "edit actor", "delete newest", "delete middle", "move to other",
                                    "reorder"])
def test_tampered_custody_rows_break_the_chain(item_with_history, db, login, tamper):
    analyst, item, other = item_with_history
    with db.transaction() as s:
        rows = s.scalars(select(CustodyEvent).where(CustodyEvent.evidence_id == item["id"])
                         .order_by(CustodyEvent.seq)).all()
        if tamper == "edit details":
            s.execute(update(CustodyEvent).where(CustodyEvent.id == rows[2].id)
                      .values(details={"from": "x", "to": "mallory", "reason": "handover"}))
        elif tamper == "edit actor":
            s.execute(update(CustodyEvent).where(CustodyEvent.id == rows[3].id).values(actor_name="someone else"))
        elif tamper == "delete newest":
            s.execute(delete(CustodyEvent).where(CustodyEvent.id == rows[3].id))
        elif tamper == "delete middle":
            s.execute(delete(CustodyEvent).where(CustodyEvent.id == rows[1].id))
        elif tamper == "move to other":
            s.execute(update(CustodyEvent).where(CustodyEvent.id == rows[3].id).values(evidence_id=other["id"],
                                                                                       seq=99))
        else:
            s.execute(update(CustodyEvent).where(CustodyEvent.id == rows[2].id).values(seq=100))
            s.execute(update(CustodyEvent).where(CustodyEvent.id == rows[3].id).values(seq=3))
            s.execute(update(CustodyEvent).where(CustodyEvent.id == rows[2].id).values(seq=4))
    custody = _chain(analyst, item["id"])
    assert custody["chain_valid"] is False
    assert custody["chain_problem"]
    page = login("auditor").get(f"/evidence/{item['id']}").get_data(as_text=True)
    assert "BROKEN" in page


def test_no_interface_edits_custody(api, item_with_history):
    analyst, item, _ = item_with_history
    paths = api("analyst").get("/api/v1/openapi.json").get_json()["paths"]
    custody_path = paths["/api/v1/evidence/{evidence_id}/custody"]
    assert set(custody_path) == {"get"}
    assert analyst.delete(f"/api/v1/evidence/{item['id']}/custody").status_code == 405
    assert analyst.patch(f"/api/v1/evidence/{item['id']}/custody", json={}).status_code == 405


def test_custody_entries_made_with_a_token_name_who_issued_it(add_item, api, db):
    from sqlalchemy import select

    from casemgr.evidence.models import CustodyEvent

    client, item = add_item()  # the fixture's token was issued by the operator "test"
    events = client.get(f"/api/v1/evidence/{item['id']}/custody").get_json()
    assert events["chain_valid"] is True
    assert {e["token_issued_by"] for e in events["events"]} == {"test"}
    with db.transaction() as s:
        assert {e.token_issued_by for e in s.scalars(select(CustodyEvent))} == {"test"}
