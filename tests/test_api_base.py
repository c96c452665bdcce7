"""The /api/v1 base: JSON errors, /me, /healthz, lists with pages, and the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate


def _error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status
    assert response.is_json
    error = response.json["error"]
    assert set(error) >= {"code", "message", "field"}
    assert error["code"] == code
    assert error["field"] == field
    assert error["message"]
    return error


def test_error_shapes(api, app):
    client = api("admin")
    _error(app.test_client().get("/api/v1/me"), 401, "unauthorized")
    _error(api("analyst").get("/api/v1/users"), 403, "forbidden")
    _error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    _error(client.patch("/api/v1/users/ghost", json={"role": "analyst"}), 404, "not_found", "username")
    _error(client.delete("/api/v1/me"), 405, "method_not_allowed")
    _error(client.post("/api/v1/users", json={"username": "x1", "password": "long enough password"}),
           422, "invalid", "role")
    _error(client.post("/api/v1/users", json={"username": "NOT OK!", "role": "analyst",
                                              "password": "long enough password"}), 422, "invalid", "username")
    _error(client.post("/api/v1/users", json={"username": "fine", "role": "root",
                                              "password": "long enough password"}), 422, "invalid", "role")


@pytest.mark.parametrize(("data", "status", "code"), [
    ("{not json", 400, "bad_request"),
    ("", 400, "bad_request"),
    ("[1, 2]", 422, "invalid"),
    ('"text"', 422, "invalid"),
    ("[" * 100_000, 400, "bad_request"),  # deeper than the JSON decoder recurses
])
def test_malformed_bodies(api, data, status, code):
    response = api("admin").post("/api/v1/tokens", data=data, headers={"Content-Type": "application/json"})
    _error(response, status, code)


def test_duplicate_username_is_a_conflict(api):
    client = api("admin")
    body = {"username": "dupe", "role": "analyst", "password": "long enough password"}
    assert client.post("/api/v1/users", json=body).status_code == 201
    _error(client.post("/api/v1/users", json={**body, "username": "DUPE"}), 409, "conflict", "username")


def test_last_admin_cannot_be_demoted_or_disabled(api):
    client = api("admin")
    me = client.user.username
    _error(client.patch(f"/api/v1/users/{me}", json={"role": "analyst"}), 409, "conflict", "role")
    _error(client.patch(f"/api/v1/users/{me}", json={"disabled": True}), 409, "conflict", "disabled")


def test_me(api):
    client = api("auditor")
    body = client.get("/api/v1/me").json
    assert body["username"] == client.user.username
    assert body["role"] == "auditor"
    assert "password_hash" not in body


def test_healthz_needs_no_auth_and_says_only_status(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_lists_are_paged(api, make_user):
    client = api("admin")
    for _ in range(4):
        make_user("analyst")
    first = client.get("/api/v1/users?per_page=2").json
    assert first["total"] == 5
    assert len(first["items"]) == 2
    assert (first["page"], first["per_page"]) == (1, 2)
    names = [u["username"] for page in (1, 2, 3)
             for u in client.get(f"/api/v1/users?per_page=2&page={page}").json["items"]]
    assert len(names) == len(set(names)) == 5
    assert client.get("/api/v1/tokens?per_page=1").json["total"] == 1
    _error(client.get("/api/v1/users?per_page=0"), 422, "invalid", "per_page")
    _error(client.get("/api/v1/users?page=x"), 422, "invalid", "page")


def test_openapi_document_is_valid_and_complete(app):
    response = app.test_client().get("/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    doc = response.json
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                registered.add((path, method.lower()))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert registered == documented
    assert doc["paths"]["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewUser"}
    assert "NewUser" in doc["components"]["schemas"]


def test_openapi_document_describes_what_the_api_answers(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    # responses as they are serialized: a custody event carries `actor`
    assert "actor" in schemas["CustodyEventOut"]["properties"]
    assert "actor_name" not in schemas["CustodyEventOut"]["properties"]
    # every status an operation can answer, each error with the error schema
    patch = paths["/api/v1/cases/{case_id}"]["patch"]["responses"]
    assert set(patch) == {"200", "400", "401", "403", "404", "409", "413", "422"}
    assert patch["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert set(paths["/api/v1/me"]["get"]["responses"]) == {"200", "401", "403"}
    assert set(paths["/api/v1/cases/{case_id}/indicators"]["post"]["responses"]) >= {"200", "201"}
    # bodies that are not JSON models, and answers that are not JSON
    upload = paths["/api/v1/cases/{case_id}/evidence"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["required"] == ["file"]
    assert "application/zip" in paths["/api/v1/cases/{case_id}/evidence/export"]["post"]["responses"]["200"]["content"]
    # query parameters with their types and limits
    params = {p["name"]: p["schema"] for p in paths["/api/v1/cases"]["get"]["parameters"]}
    assert params["per_page"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert params["restricted"] == {"type": "boolean"}
    assert params["status"]["pattern"].startswith("^(new|")
    assert "CaseQuery" not in schemas  # a list of parameters, not a body
    # only the methods the API answers
    for path, operations in paths.items():
        assert set(operations) <= {"get", "post", "put", "patch", "delete"}, path
    # what an operation creates is linked to the operations on it
    links = paths["/api/v1/cases"]["post"]["responses"]["201"]["links"]
    assert links["get_cases_case_id"] == {"operationId": "cases.get/cases/<int:case_id>",
                                          "parameters": {"case_id": "$response.body#/id"}}
    assert "get_evidence_evidence_id_custody" in paths["/api/v1/cases/{case_id}/evidence"]["post"]["responses"][
        "201"]["links"]
