"""Date-times that exist as written but not in UTC (9999-12-31T23:59:59-23:59 is in year 10000 there) are a 422
naming the field, in every date-time field of every input schema; STIX timestamps before year 1000 keep four
digits. Driven by the schemas, so a new date-time field is covered by itself."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest

from tests.bad_input.conftest import accepts, error_fields, input_models, operations
from tests.indicators.conftest import bundle_of, indicator, post_bundle

OUT_OF_RANGE = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]
MESSAGE = "is out of range: in UTC it must fall between the years 1 and 9999"


def test_every_datetime_field_of_every_input_schema_refuses_a_moment_outside_utc():
    problems, seen = [], 0
    for model in input_models():
        for name, field in model.model_fields.items():
            if not accepts(field.annotation, dt.datetime):
                continue
            seen += 1
            for moment in OUT_OF_RANGE:
                try:
                    model.model_validate({name: moment})
                except Exception as exc:  # noqa: BLE001 - a ValidationError expected
                    if any(e["loc"][:1] == (name,) and MESSAGE in e["msg"] for e in exc.errors()):
                        continue
                problems.append((model.__qualname__, name, moment))
    assert problems == []
    assert seen >= 10  # the cases' times, evidence collected_at, indicator validity, the list and audit filters


def test_every_api_datetime_field_answers_422_naming_it(world):
    problems = []
    for _, op in operations(world.app):
        rule = next(r for r in world.app.url_map.iter_rules() if r.rule == "/api/v1" + op.rule)
        for model, where in ((op.body, "body"), (op.query, "query")):
            for name, field in (model.model_fields.items() if model is not None else ()):
                if not accepts(field.annotation, dt.datetime):
                    continue
                for moment in OUT_OF_RANGE:
                    if where == "body":
                        response = world.send(rule, op.method.upper(), form={name: moment})
                    else:
                        response = world.send(rule, op.method.upper(), query=f"{name}={quote(moment)}")
                    if response.status_code != 422 or name not in error_fields(response):
                        problems.append((op.method, op.rule, name, moment, response.status_code))
    assert problems == []


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_a_case_form_with_a_time_outside_utc_names_the_field(world, moment):
    response = world.web.post("/cases/new", {"title": "t", "category": "fraud", "impact": "low", "urgency": "low",
                                             "occurred_at": moment})
    assert response.status_code == 422
    assert f"{MESSAGE}" in response.get_data(as_text=True)
    assert 'data-field="occurred_at"' in response.get_data(as_text=True)


def test_the_case_list_takes_the_last_possible_day(world):
    assert world.web.get("/cases?until=9999-12-31").status_code == 200  # "up to the end of that day" overflows


def test_a_taxii_added_after_outside_utc_is_400(world):
    base = f"/taxii2/api/collections/{world.values['collection_id']}/objects/"
    response = world.api.get(f"{base}?added_after={quote(OUT_OF_RANGE[0])}",
                             headers={"Accept": "application/taxii+json"})
    assert (response.status_code, response.get_json()["details"]["field"]) == (400, "added_after")


@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
def test_an_indicator_valid_before_year_1000_is_refused_naming_the_field(world, field):
    case = world.case
    response = world.api.post(f"/api/v1/cases/{case['id']}/indicators",
                              json={"type": "domain-name", "value": "old.example", field: "0999-01-01T00:00:00Z"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == {"code": "invalid", "field": field,
                                            "message": f"{field}: must be in the year 1000 or later"}
    ok = world.api.post(f"/api/v1/cases/{case['id']}/indicators",
                        json={"type": "domain-name", "value": "old.example", "valid_from": "1000-01-01T00:00:00Z"})
    assert ok.get_json()["stix"]["valid_from"] == "1000-01-01T00:00:00Z"


def test_an_imported_valid_from_before_year_1000_is_kept_and_exported_as_sent(world):
    case = world.case
    old = indicator("[domain-name:value = 'ancient.example']", valid_from="0999-06-01T00:00:00Z")
    response = post_bundle(world.api, case, bundle_of(old))
    assert response.status_code == 200, response.get_json()
    exported = world.api.get(f"/api/v1/cases/{case['id']}/stix").get_json()
    assert [o["valid_from"] for o in exported["objects"] if o["id"] == old["id"]] == ["0999-06-01T00:00:00Z"]
