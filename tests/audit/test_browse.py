"""Browsing and filtering the audit log (API and page); nothing can change or remove an entry."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

import pytest
from sqlalchemy import func, select

from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry
from casemgr.auth.actor import Actor


@pytest.fixture
def entries(db):
    """Three operators acting on objects; returns the entries' seq and time by (actor, object id)."""
    made = {}
    for name, action, object_type, object_id in [
        ("ops-ann", "case.create", "case", "7"),
        ("ops-ann", "case.update", "case", "7"),
        ("ops-ben", "case.update", "case", "8"),
        ("ops-ben", "evidence.add", "evidence", "7"),
        ("ops-cy", "case_note.add", "case_note", "70"),
        ("ops-cy", "case%x", "case", "9"),
    ]:
        with db.transaction() as s:
            entry = audit.record(s, Actor.system(name), action, object_type, object_id, {"by": name})
            made[(name, action)] = (entry.seq, entry.occurred_at)
    return made


def listing(client, **params):
    response = client.get("/api/v1/audit?" + urllib.parse.urlencode(params))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def actions(body) -> list[str]:
    return [item["action"] for item in body["items"]]


@pytest.fixture
def auditor(api):
    return api("auditor")


def test_lists_newest_first_with_total(auditor, db):
    body = listing(auditor)
    with db.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(AuditEntry.__table__))
    assert body["total"] == total
    seqs = [item["seq"] for item in body["items"]]
    assert seqs == sorted(seqs, reverse=True)
    first = body["items"][0]
    assert set(first) >= {"seq", "occurred_at", "actor", "actor_type", "action", "object_type", "object_id",
                          "summary", "source_ip", "request_id", "via", "prev_hash", "hash"}


def test_filter_by_actor(auditor, entries):
    body = listing(auditor, actor="ops-ben")
    assert body["total"] == 2
    assert actions(body) == ["evidence.add", "case.update"]


def test_filter_by_exact_action_and_prefix(auditor, entries):
    assert actions(listing(auditor, action="case.update")) == ["case.update", "case.update"]
    assert actions(listing(auditor, action="case.")) == ["case.update", "case.update", "case.create"]
    assert listing(auditor, action="case")["total"] == 5  # case.*, case_note.add and case%x
    # LIKE wildcards in the filter are taken literally
    assert actions(listing(auditor, action="case%")) == ["case%x"]
    assert actions(listing(auditor, action="case_")) == ["case_note.add"]


def test_filter_by_object(auditor, entries):
    assert listing(auditor, object_type="case", object_id="7")["total"] == 2
    assert actions(listing(auditor, object_type="evidence")) == ["evidence.add"]
    assert listing(auditor, object_id="7")["total"] == 3  # case 7 twice, evidence 7 once; not note 70


def test_filter_by_time(auditor, entries):
    times = [entries[k][1] for k in [("ops-ann", "case.update"), ("ops-ben", "case.update")]]
    assert times[0] < times[1]
    since = listing(auditor, since=times[0].isoformat(), actor="ops-ann")
    assert actions(since) == ["case.update"]  # inclusive
    until = listing(auditor, until=times[0].isoformat(), actor="ops-ann")
    assert actions(until) == ["case.create"]  # exclusive
    window = listing(auditor, since=times[0].isoformat(), until=times[1].isoformat())
    assert [i["actor"] for i in window["items"]] == ["ops-ann"]
    # the same instant written in another time zone
    shifted = times[0].astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat()
    assert actions(listing(auditor, since=shifted, actor="ops-ann")) == ["case.update"]


def test_filter_by_dates(auditor, entries):
    today = dt.datetime.now(dt.UTC).date()
    assert listing(auditor, actor="ops-cy", since=today.isoformat())["total"] == 2
    assert listing(auditor, actor="ops-cy", until=today.isoformat())["total"] == 2  # a date includes its day
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert listing(auditor, actor="ops-cy", since=tomorrow)["total"] == 0
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert listing(auditor, actor="ops-cy", until=yesterday)["total"] == 0


def test_paging(auditor, entries):
    everything = listing(auditor, per_page=200)
    page2 = listing(auditor, page=2, per_page=2)
    assert page2["total"] == everything["total"]
    assert (page2["page"], page2["per_page"]) == (2, 2)
    assert page2["items"] == everything["items"][2:4]
    beyond = listing(auditor, page=1000, per_page=2)
    assert beyond["items"] == []
    assert beyond["total"] == everything["total"]


@pytest.mark.parametrize(("param", "value"), [
    ("since", "yesterday"),
    ("until", "2025-02-30"),
    ("page", "0"),
    ("page", "two"),
    ("per_page", "201"),
    ("per_page", "0"),
    ("actor", "x" * 129),
    ("action", "a" * 65),
    ("object_type", "t" * 33),
    ("object_id", "i" * 65),
    ("sort", "seq"),
])
def test_bad_filter_values_are_422_naming_the_field(auditor, param, value):
    response = auditor.get("/api/v1/audit?" + urllib.parse.urlencode({param: value}))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == param


@pytest.mark.parametrize("role", ["analyst", "manager"])
def test_api_forbidden_for_analysts_and_managers(api, role):
    client = api(role)
    for url in ["/api/v1/audit", "/api/v1/audit?since=nonsense"]:
        response = client.get(url)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"


def test_admin_may_browse(api):
    assert api("admin").get("/api/v1/audit").status_code == 200


@pytest.mark.parametrize(("method", "url"), [
    (method, url)
    for url in ["/api/v1/audit", "/api/v1/audit/1", "/api/v1/audit/entries/1", "/api/v1/audit/verify",
                "/api/v1/audit/checkpoints/1"]
    for method in ["put", "patch", "delete", "post"]
])
def test_no_interface_changes_or_removes_entries(api, db, method, url):
    admin = api("admin")
    with db.engine.connect() as conn:
        before = conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq)).all()
    response = getattr(admin, method)(url, json={"action": "nothing.happened"})
    assert response.status_code in {404, 405}
    assert response.get_json()["error"]["code"] in {"not_found", "method_not_allowed"}
    with db.engine.connect() as conn:
        assert conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq)).all() == before


def test_the_api_documents_only_reads_checkpoints_and_exports(app):
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    audit_ops = {(path, method) for path, ops in paths.items() if path.startswith("/api/v1/audit")
                 for method in ops}
    assert audit_ops == {("/api/v1/audit", "get"), ("/api/v1/audit/verify", "get"),
                         ("/api/v1/audit/checkpoints", "post"), ("/api/v1/audit/export.csv", "post"),
                         ("/api/v1/audit/export.jsonl", "post")}


# ---------------------------------------------------------------- the page

def rows(page) -> list[str]:
    return re.findall(r'data-testid="audit-row"><td>(\d+)</td>', page.get_data(as_text=True))


def test_page_lists_and_filters(login, entries):
    client = login("auditor")
    everything = client.get("/audit")
    assert everything.status_code == 200
    assert len(rows(everything)) >= 6
    by_actor = client.get("/audit?actor=ops-ben")
    assert rows(by_actor) == [str(entries[("ops-ben", "evidence.add")][0]), str(entries[("ops-ben", "case.update")][0])]
    assert "2 entries match" in by_actor.get_data(as_text=True)
    assert len(rows(client.get("/audit?action=case.&object_id=7"))) == 2
    assert len(rows(client.get("/audit?object_type=evidence"))) == 1
    today = dt.datetime.now(dt.UTC).date().isoformat()  # what the date pickers send
    assert len(rows(client.get(f"/audit?actor=ops-cy&since={today}&until={today}"))) == 2
    empty_fields = client.get("/audit?actor=&action=&object_type=&object_id=&since=&until=")
    assert len(rows(empty_fields)) == len(rows(everything))


def test_page_paging_links(login, entries):
    client = login("auditor")
    first = client.get("/audit?per_page=1&actor=ops-ann")
    text = first.get_data(as_text=True)
    assert rows(first) == [str(entries[("ops-ann", "case.update")][0])]
    assert "Page 1 of 2" in text
    older = re.search(r'href="([^"]+)" rel="next"', text)
    assert older
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert rows(second) == [str(entries[("ops-ann", "case.create")][0])]
    assert "Page 2 of 2" in second.get_data(as_text=True)
    assert 'rel="next"' not in second.get_data(as_text=True)


def test_page_bad_filter_is_422_naming_the_field_and_shows_no_rows(login, entries):
    client = login("auditor")
    page = client.get("/audit?since=not-a-date")
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "since:" in text
    assert rows(page) == []
    assert 'value="not-a-date"' in text  # the form keeps what was typed


@pytest.mark.parametrize("role", ["analyst", "manager"])
def test_page_forbidden_for_analysts_and_managers(login, role):
    client = login(role)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit?since=bad").status_code == 403
    assert "Audit log" not in client.get("/").get_data(as_text=True)


def test_page_offers_no_edit(login, entries):
    client = login("admin")
    assert client.post("/audit", {"seq": "1"}).status_code == 405
    assert client.post("/audit/1", {"seq": "1"}).status_code == 404


def test_signed_out_visitors_see_nothing(app):
    client = app.test_client()
    page = client.get("/audit")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
    response = client.get("/api/v1/audit")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
