"""Custom case fields: admins define them; their values are checked on every path (API, pages, CLI) by
one service function, required from a lifecycle state, kept readable when a field changes or retires,
filtered on and searched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.conftest import move
from tests.forms import form_on

RANSOM = {"title": "Ransomware on fs01", "description": "Files renamed.", "category": "malicious-code",
          "subcategory": "ransomware", "impact": "high", "urgency": "high"}


def define(admin: Any, **fields: Any) -> dict[str, Any]:
    response = admin.post("/api/v1/case-fields", json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def fields(api: Any) -> Any:
    """Every type of field, defined by an admin through the API."""
    admin = api("admin", "ada")
    define(admin, code="backup_status", label="Backup status", type="choice", category="malicious-code",
           options=["intact", "partial", "encrypted"], required=True, required_from="containment",
           help_text="State of the backups of the affected systems.")
    define(admin, code="business_service", label="Business service", type="text", max_length=20,
           pattern=r"[A-Za-z0-9 -]+")
    define(admin, code="notes_for_legal", label="Notes for legal", type="long_text")
    define(admin, code="hosts", label="Hosts affected", type="number", min_value=0, max_value=10000)
    define(admin, code="vectors", label="Vectors", type="multi_choice", options=["mail", "web", "usb"])
    define(admin, code="first_seen", label="First seen", type="datetime")
    define(admin, code="ransom_paid", label="Ransom paid", type="yes_no", category="malicious-code")
    define(admin, code="hr_contact", label="HR contact", type="user")
    define(admin, code="ticket", label="Ticket", type="url")
    define(admin, code="employee_id", label="Employee id", type="text", category="fraud")
    return admin


def test_values_of_every_type_are_stored_typed_and_read_back(api, fields, open_case, make_user):
    make_user("analyst", "hank")
    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM, custom_fields={
        "business_service": "Payroll", "notes_for_legal": "line one\nline two", "hosts": "12", "vectors": ["mail",
        "web"], "first_seen": "2026-11-30T08:15", "ransom_paid": "no", "hr_contact": "HANK",
        "ticket": "https://tickets.example/42", "backup_status": "", "hosts_unused": None} if False else {
        "business_service": "Payroll", "notes_for_legal": "line one\nline two", "hosts": "12",
        "vectors": ["mail", "web"], "first_seen": "2026-11-30T08:15", "ransom_paid": "no", "hr_contact": "HANK",
        "ticket": "https://tickets.example/42", "backup_status": ""})
    assert case["custom_fields"] == {
        "business_service": "Payroll", "notes_for_legal": "line one\nline two", "hosts": 12,
        "vectors": ["mail", "web"], "first_seen": "2026-11-30T08:15:00+00:00", "ransom_paid": False,
        "hr_contact": "hank", "ticket": "https://tickets.example/42"}  # the blank choice is not given


@pytest.mark.parametrize(("code", "value", "message"), [
    ("business_service", "x" * 21, "custom_fields.business_service: Business service may be at most 20 characters"),
    ("business_service", "Pay;roll", "custom_fields.business_service: Business service must match the pattern"),
    ("business_service", "two\nlines", "single line"),
    ("hosts", "many", "custom_fields.hosts: Hosts affected must be a number"),
    ("hosts", -1, "custom_fields.hosts: Hosts affected must be at least 0"),
    ("hosts", 10001, "must be at most 10000"),
    ("hosts", True, "must be a number"),
    ("backup_status", "gone", "custom_fields.backup_status: Backup status must be one of: intact, partial, encrypted"),
    ("vectors", ["mail", "fax"], "custom_fields.vectors: Vectors: 'fax' is not an option"),
    ("first_seen", "yesterday", "custom_fields.first_seen: First seen must be a date and time"),
    ("ransom_paid", "maybe", "custom_fields.ransom_paid: Ransom paid must be yes or no"),
    ("hr_contact", "nobody", "custom_fields.hr_contact: HR contact: there is no active user 'nobody'"),
    ("ticket", "javascript:alert(1)", "custom_fields.ticket: Ticket must be a web address"),
    ("employee_id", "E1", "custom_fields.employee_id: Employee id is a field of fraud cases, not of malicious-code"),
    ("no_such_field", "x", "custom_fields.no_such_field: there is no such custom field"),
])
def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_written(api, fields, code, value, message):
    analyst = api("analyst", "ann")
    response = analyst.post("/api/v1/cases", json={**RANSOM, "custom_fields": {code: value}})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()["error"]
    assert message in body["message"]
    assert body["field"] == f"custom_fields.{code}"
    assert analyst.get("/api/v1/cases").get_json()["total"] == 0


def test_required_from_a_state_refuses_the_move_naming_the_field(api, fields, open_case):
    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM)  # not required yet when opened
    assert move(analyst, case, "triage").status_code == 200
    refused = move(analyst, case, "containment")
    assert refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "custom_fields.backup_status"
    assert "Backup status is required before a case moves to containment" in refused.get_json()["error"]["message"]
    assert analyst.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "triage"
    current = analyst.get(f"/api/v1/cases/{case['id']}").get_json()
    assert analyst.patch(f"/api/v1/cases/{case['id']}", json={
        "version": current["version"], "custom_fields": {"backup_status": "partial"}}).status_code == 200
    assert move(analyst, case, "containment").status_code == 200
    # and once there, the value cannot be taken away
    current = analyst.get(f"/api/v1/cases/{case['id']}").get_json()
    cleared = analyst.patch(f"/api/v1/cases/{case['id']}", json={
        "version": current["version"], "custom_fields": {"backup_status": None}})
    assert cleared.status_code == 422
    assert cleared.get_json()["error"]["field"] == "custom_fields.backup_status"
    # a case of another category is not held to it
    other = open_case(analyst)
    assert move(analyst, other, "triage").status_code == 200
    assert move(analyst, other, "containment").status_code == 200


def test_required_from_the_start_is_required_to_open(api, open_case):
    admin = api("admin", "ada")
    define(admin, code="reporter_unit", label="Reporting unit", type="text", required=True)
    analyst = api("analyst", "ann")
    refused = analyst.post("/api/v1/cases", json={**RANSOM, "custom_fields": {"reporter_unit": "  "}})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["message"] == "custom_fields.reporter_unit: Reporting unit is required"
    assert open_case(analyst, **RANSOM, custom_fields={"reporter_unit": "Finance"})["custom_fields"] == {
        "reporter_unit": "Finance"}


def test_update_changes_only_the_codes_sent_and_blank_clears(api, fields, open_case):
    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM, custom_fields={"hosts": 3, "business_service": "Payroll"})
    changed = analyst.patch(f"/api/v1/cases/{case['id']}", json={
        "version": case["version"], "custom_fields": {"hosts": 4.5, "business_service": ""}})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["custom_fields"] == {"hosts": 4.5}
    timeline = analyst.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]
    assert timeline[-1]["changes"]["custom_fields.hosts"] == [3, 4.5]


def test_the_audit_log_names_custom_field_changes_without_their_values(api, fields, open_case, session):
    from sqlalchemy import select

    from casemgr.audit.models import AuditEntry

    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM, custom_fields={"business_service": "Payroll"})
    analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"],
                                                       "custom_fields": {"business_service": "Billing"}})
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.update")).one()
    assert "Billing" not in str(entry.summary)
    assert entry.summary["text_changed"] == ["custom_fields.business_service"]


def test_retired_fields_and_removed_options_keep_their_values_readable(api, fields, open_case, web):
    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM, custom_fields={"vectors": ["usb"], "business_service": "Payroll"})
    admin = fields
    assert admin.patch("/api/v1/case-fields/vectors", json={"options": ["mail", "web"]}).status_code == 200
    assert admin.patch("/api/v1/case-fields/business_service", json={"retired": True,
                                                                      "label": "Service"}).status_code == 200
    again = analyst.get(f"/api/v1/cases/{case['id']}").get_json()
    assert again["custom_fields"] == {"business_service": "Payroll", "vectors": ["usb"]}
    web.login("ann")
    page = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert 'data-testid="custom-business_service">Payroll' in page
    assert "Service <span class=\"badge\">retired</span>" in page
    assert 'data-testid="custom-vectors">usb' in page
    refused = analyst.patch(f"/api/v1/cases/{case['id']}", json={
        "version": again["version"], "custom_fields": {"business_service": "Billing"}})
    assert refused.status_code == 422
    assert "Service is retired: it takes no new value" in refused.get_json()["error"]["message"]


def test_definitions_are_checked_and_only_admins_manage_them(api):
    admin = api("admin", "ada")
    for fields, field in [
        ({"code": "x1", "label": "X", "type": "choice"}, "options"),
        ({"code": "x2", "label": "X", "type": "text", "options": ["a"]}, "options"),
        ({"code": "x3", "label": "X", "type": "number", "max_length": 5}, "max_length"),
        ({"code": "x4", "label": "X", "type": "text", "pattern": "("}, "pattern"),
        ({"code": "x5", "label": "X", "type": "number", "min_value": 5, "max_value": 1}, "max_value"),
        ({"code": "x6", "label": "X", "type": "text", "category": "nonsense"}, "category"),
        ({"code": "Bad code", "label": "X", "type": "text"}, "code"),
        ({"code": "x7", "label": "X", "type": "colour"}, "type"),
    ]:
        response = admin.post("/api/v1/case-fields", json=fields)
        assert response.status_code == 422, (fields, response.get_json())
        assert response.get_json()["error"]["field"] == field
    define(admin, code="dup", label="Dup", type="text")
    assert admin.post("/api/v1/case-fields", json={"code": "dup", "label": "D", "type": "text"}).status_code == 409
    assert api("manager", "mona").post("/api/v1/case-fields", json={"code": "m", "label": "M",
                                                                     "type": "text"}).status_code == 403
    assert admin.patch("/api/v1/case-fields/dup", json={"category": {}}).status_code == 422
    reader = api("analyst", "ann")
    assert reader.get("/api/v1/case-fields?category=").status_code == 200
    listed = reader.get("/api/v1/case-fields?per_page=1").get_json()
    assert listed["total"] == 1
    assert listed["items"][0]["code"] == "dup"
    assert listed["per_page"] == 1


def test_the_openapi_document_describes_custom_fields(api):
    doc = api("analyst", "ann").get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/case-fields", "/api/v1/case-fields/{code}"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    for name in ("CaseOut", "NewCase", "CaseUpdate"):
        assert "custom_fields" in schemas[name]["properties"], name
    listing = doc["paths"]["/api/v1/cases"]["get"]
    assert "field.CODE=value" in listing["summary"]


def test_hostile_text_is_stored_verbatim_and_rendered_inert(api, fields, open_case, web):
    script = "<script>alert(1)</script>"
    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM, custom_fields={"notes_for_legal": script})
    assert case["custom_fields"]["notes_for_legal"] == script
    web.login("ann")
    page = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert script not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---------------------------------------------------------------- the pages, as rendered


def test_the_create_and_edit_forms_carry_custom_fields(api, fields, login):
    web = login("analyst", "ann")
    form = form_on(web, "/cases/new", testid="case-form")
    assert {"field.backup_status", "field.vectors", "field.ransom_paid"} <= form.names()
    response = form.submit(web, {"title": "Ransomware on fs02", "category": "malicious-code", "impact": "high",
                                 "urgency": "high", "field.hosts": "7", "field.ransom_paid": "yes",
                                 "field.vectors": ["mail", "usb"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    reader = api("analyst", "ann2")
    case = reader.get("/api/v1/cases").get_json()["items"][0]
    detail = reader.get(f"/api/v1/cases/{case['id']}").get_json()
    assert detail["custom_fields"] == {"hosts": 7, "vectors": ["mail", "usb"], "ransom_paid": True}

    edit = form_on(web, f"/cases/{case['id']}/edit", testid="case-form")
    assert "field.employee_id" not in edit.names()  # a fraud field: not on a malicious-code case
    response = edit.submit(web, {"field.hosts": "8", "field.vectors": ["web"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    detail = reader.get(f"/api/v1/cases/{case['id']}").get_json()
    assert detail["custom_fields"] == {"hosts": 8, "vectors": ["web"], "ransom_paid": True}

    bad = form_on(web, f"/cases/{case['id']}/edit", testid="case-form").submit(web, {"field.hosts": "lots"})
    assert bad.status_code == 422
    assert 'data-field="custom_fields.hosts"' in bad.get_data(as_text=True)
    assert "Hosts affected must be a number" in bad.get_data(as_text=True)
    page = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "missing (required)" not in page  # backup status is required from containment, the case is new


def test_admin_pages_define_change_and_retire_a_field(login, api):
    web = login("admin", "ada")
    reader = api("analyst", "ann")
    form = form_on(web, "/admin/case-fields", testid="new-case-field-form")
    response = form.submit(web, {"code": "backup_status", "type": "choice", "label": "Backup status",
                                 "category": "malicious-code", "options": "intact\nencrypted", "required": True,
                                 "required_from": "containment"})
    assert response.status_code == 302, response.get_data(as_text=True)
    field = reader.get("/api/v1/case-fields/backup_status").get_json()
    assert field["options"] == ["intact", "encrypted"]
    assert field["required_from"] == "containment"
    edit = form_on(web, "/admin/case-fields/backup_status", testid="case-field-form")
    assert edit.submit(web, {"label": "Backups"}).status_code == 302
    bad = form_on(web, "/admin/case-fields/backup_status", testid="case-field-form").submit(web, {"options": ""})
    assert bad.status_code == 422
    assert "a choice field needs at least one option" in bad.get_data(as_text=True)
    retire = form_on(web, "/admin/case-fields/backup_status", testid="retire-case-field-form")
    assert retire.submit(web).status_code == 302
    field = reader.get("/api/v1/case-fields/backup_status").get_json()
    assert field["label"] == "Backups"
    assert field["retired"] is True
    assert login("manager", "mona").get("/admin/case-fields").status_code == 403


# ---------------------------------------------------------------- the CLI


def test_the_cli_defines_fields_and_sets_values_through_the_same_checks(run_cli, api):
    result = run_cli("field", "create", "hosts", "--type", "number", "--label", "Hosts", "--min", "0")
    assert result.exit_code == 0, result.output
    run_cli("field", "create", "vectors", "--type", "multi_choice", "--label", "Vectors", "--option", "mail",
            "--option", "web")
    assert "hosts" in run_cli("field", "list").output
    bad = run_cli("case", "create", "--title", "T", "--category", "malicious-code", "--field", "hosts=-3")
    assert bad.exit_code != 0
    assert "custom_fields.hosts: Hosts must be at least 0" in bad.output
    done = run_cli("case", "create", "--title", "T", "--category", "malicious-code", "--field", "hosts=3",
                   "--field", "vectors=mail", "--field", "vectors=web")
    assert done.exit_code == 0, done.output
    reference = done.output.split()[-1]
    assert run_cli("case", "update", reference, "--field", "hosts=4").exit_code == 0
    shown = run_cli("case", "show", reference).output
    assert "Hosts:" in shown
    assert " 4" in shown
    assert "mail, web" in shown
    listed = run_cli("case", "list", "--field", "hosts=4").output
    assert reference in listed
    assert "1 case(s)" in listed
    assert "0 case(s)" in run_cli("case", "list", "--field", "hosts=5").output
    assert run_cli("field", "retire", "hosts").exit_code == 0
    assert "(retired)" in run_cli("field", "list").output
    assert "Hosts (retired):" in run_cli("case", "show", reference).output


# ---------------------------------------------------------------- filters and search


def test_the_case_list_filters_by_a_custom_field_value(api, fields, open_case, web):
    analyst = api("analyst", "ann")
    first = open_case(analyst, **RANSOM, custom_fields={"business_service": "Payroll", "vectors": ["mail", "web"],
                                                        "ransom_paid": True})
    open_case(analyst, **RANSOM, custom_fields={"business_service": "Billing", "vectors": ["usb"]})
    for query in ("field.business_service=payroll", "field.vectors=web", "field.ransom_paid=yes"):
        listed = analyst.get(f"/api/v1/cases?{query}").get_json()
        assert [c["id"] for c in listed["items"]] == [first["id"]], query
    bad = analyst.get("/api/v1/cases?field.nope=1")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "field.nope"
    web.login("ann")
    page = web.get("/cases?field.business_service=Payroll").get_data(as_text=True)
    assert first["reference"] in page
    assert "business_service: Payroll" in page


def test_long_values_are_stored_and_searched(api, fields, open_case):
    analyst = api("analyst", "ann")
    long_text = "Überprüfung " + "é" * 19_000  # far more bytes than an index entry holds
    case = open_case(analyst, **RANSOM, custom_fields={"notes_for_legal": long_text})
    assert case["custom_fields"]["notes_for_legal"] == long_text
    assert [c["id"] for c in analyst.get("/api/v1/cases?q=überprüfung").get_json()["items"]] == [case["id"]]


def test_free_text_search_finds_text_field_values(api, fields, open_case):
    analyst = api("analyst", "ann")
    case = open_case(analyst, **RANSOM, custom_fields={"notes_for_legal": "Counsel: Brightwater LLP"})
    open_case(analyst, **RANSOM)
    found = analyst.get("/api/v1/cases?q=brightwater").get_json()
    assert [c["id"] for c in found["items"]] == [case["id"]]
    assert analyst.get("/api/v1/cases?q=ransomware").get_json()["total"] == 2  # the case text still matches


# ---------------------------------------------------------------- configuration as plain data


def test_export_and_apply_config_round_trip(api, fields, session, system):
    from casemgr.cases import custom_fields

    items = custom_fields.export_config(session)
    assert {i["code"] for i in items} >= {"backup_status", "vectors"}
    assert custom_fields.apply_config(session, system, items) == []
    changed = [dict(i, label="Backups") if i["code"] == "backup_status" else i for i in items
               if i["code"] != "ticket"] + [{"code": "region", "label": "Region", "type": "text"}]
    done = custom_fields.apply_config(session, system, changed)
    # a field the items leave out is kept as it is: configuration files retire only what says retired: true
    assert done == ["case-fields: changed custom field backup_status", "case-fields: created custom field region"]
    assert {i["code"]: i.get("retired", False) for i in custom_fields.export_config(session)}["ticket"] is False
    retire = [dict(i, retired=True) if i["code"] == "ticket" else i for i in custom_fields.export_config(session)]
    assert custom_fields.apply_config(session, system, retire) == ["case-fields: changed custom field ticket"]
    from casemgr.errors import Invalid

    with pytest.raises(Invalid, match=r"options") as refused:
        custom_fields.apply_config(session, system, [{"code": "backup_status", "label": "B", "type": "choice"}])
    assert refused.value.field == "options"
    assert refused.value.details["index"] == 0
