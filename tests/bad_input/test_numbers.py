"""Whole numbers beyond 64 bits: a path id that cannot exist is a 404 (on every route, UI and API), a body or
query field a 422 naming it. Driven by the route map and the API's own schemas."""

from __future__ import annotations

from casemgr.fields import MAX_ID, MAX_INT
from tests.bad_input.conftest import accepts, error_fields, input_models, operations

HUGE_IDS = ["99999999999999999999999", str(MAX_INT + 1), "9" * 5000]
HUGE = [10**23, MAX_INT + 1]


def test_an_id_beyond_64_bits_in_any_route_is_not_found(world):
    problems = []
    for rule, method in world.rules():
        ints = [n for n in rule.arguments if isinstance(rule._converters[n].to_python("1"), int)]
        for name in ints:
            for number in HUGE_IDS:
                response = world.send(rule, method, **{name: number})
                if response.status_code != 404:
                    problems.append((method, rule.rule, name, str(number)[:30], response.status_code))
    assert problems == [], problems
    assert world.api.get("/api/v1/cases/99999999999999999999999").get_json()["error"]["code"] == "not_found"
    assert world.web.get("/cases/99999999999999999999999").status_code == 404


def test_the_largest_id_still_reaches_the_route(world):
    assert world.api.get(f"/api/v1/cases/{MAX_ID}").get_json()["error"]["message"] != "there is nothing here"


def test_every_api_body_and_query_field_refuses_a_number_beyond_64_bits(world):
    problems = []
    for _, op in operations(world.app):
        rule = next(r for r in world.app.url_map.iter_rules() if r.rule == "/api/v1" + op.rule)
        for model, where in ((op.body, "body"), (op.query, "query")):
            for name, field in (model.model_fields.items() if model is not None else ()):
                if where == "query" and not accepts(field.annotation, int):
                    continue  # in a query string a number is also valid text
                for number in HUGE:
                    if where == "body":
                        response = world.send(rule, op.method.upper(), form={name: number})
                    else:
                        response = world.send(rule, op.method.upper(), query=f"{name}={number}")
                    if response.status_code != 422 or name not in error_fields(response):
                        problems.append((op.method, op.rule, where, name, response.status_code))
    assert problems == [], problems


def test_id_fields_name_the_bound_in_plain_words(world):
    case = world.case["id"]
    for url, payload, field in [
        (f"/api/v1/cases/{case}/links", {"case": 10**23}, "case"),
        (f"/api/v1/cases/{case}/transition", {"to": "resolved", "duplicate_of": 10**23}, "duplicate_of"),
    ]:
        response = world.api.post(url, json=payload)
        assert response.status_code == 422, response.get_json()
        error = response.get_json()["error"]
        assert error["field"] == field
        assert error["message"] == f"{field}: must be a whole number no larger than {MAX_INT}"
    stale = world.api.patch(f"/api/v1/cases/{case}", json={"version": 10**23, "title": "x"})
    assert (stale.status_code, stale.get_json()["error"]["field"]) == (422, "version")


def test_every_integer_field_of_every_input_schema_is_bounded():
    problems = []
    for model in input_models():
        for name, field in model.model_fields.items():
            if not accepts(field.annotation, int):
                continue
            try:
                model.model_validate({name: 10**23})
            except Exception as exc:  # noqa: BLE001 - a ValidationError expected
                if any(e["loc"][:1] == (name,) for e in getattr(exc, "errors", lambda: [])()):
                    continue
            problems.append((model.__qualname__, name))
    assert problems == [], problems


def test_a_ui_form_with_a_huge_number_names_the_field(world):
    response = world.web.post(f"/cases/{world.case['id']}/links", {"case": str(10**23), "kind": "related"})
    assert response.status_code == 422
    assert "must be a whole number no larger than" in response.get_data(as_text=True)


def test_taxii_limit_takes_only_ascii_digits(world):
    base = f"/taxii2/api/collections/{world.values['collection_id']}/objects/"
    for limit in ("9" * 5000, "\u00b2", "\u0663"):  # superscript two and Arabic-Indic three are str.isdigit()
        response = world.api.get(f"{base}?limit={limit}", headers={"Accept": "application/taxii+json"})
        assert response.status_code == 400, limit
        assert response.get_json()["details"]["field"] == "limit"


def test_ids_past_the_integer_column_are_not_found(api, open_case):
    """Ids are INTEGER columns (32 bits on PostgreSQL): a larger one, in a path or a body, is a 404
    like any id that does not exist, never a driver error (found by schemathesis on PostgreSQL)."""
    manager = api("manager")
    case = open_case(manager)
    big = 2**31
    assert manager.get(f"/api/v1/cases/{big}").status_code == 404
    assert manager.post(f"/api/v1/cases/{case['id']}/timeline/{big * 4515}/retract",
                        json={"reason": "x"}).status_code == 404
    linked = manager.post(f"/api/v1/cases/{case['id']}/links", json={"case": big * 4515})
    assert linked.status_code == 404
    assert linked.get_json()["error"]["field"] == "case"
