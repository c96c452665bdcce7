"""A blank value means "not given", for every field of every command, in one place (casemgr.fields.Input): an
optional field takes its default, a required one is reported as required. Forms are posted as the page renders
them, with only what a user would fill in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from casemgr.errors import Invalid
from casemgr.fields import parse
from tests.bad_input.conftest import forms_on, input_models, submit, upload


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_value_is_never_an_error_of_an_optional_field_and_is_required_for_a_required_one(blank):
    problems = []
    for model in input_models():
        for name, field in model.model_fields.items():
            try:
                model.model_validate({name: blank})
                errors = []
            except ValidationError as exc:
                errors = [e for e in exc.errors() if e["loc"][:1] == (name,)]
            if field.is_required():
                if [e["type"] for e in errors] != ["missing"]:
                    problems.append((model.__qualname__, name, "required", errors))
            elif [e for e in errors if "may not be emptied" not in e["msg"]]:
                # (an update command's blank clears a field; one that may not be empty says so, naming it)
                problems.append((model.__qualname__, name, "optional", errors))
    assert problems == []


def test_a_blank_optional_field_takes_its_default():
    from casemgr.cases.schemas import Transition
    from casemgr.indicators.schemas import NewIndicator

    transition = parse(Transition, {"to": "triage", "duplicate_of": "", "reason": " ", "version": ""})
    assert (transition.duplicate_of, transition.reason, transition.version) == (None, None, None)
    indicator = parse(NewIndicator, {"type": "domain-name", "value": "a.example", "confidence": "",
                                     "indicator_types": "", "valid_from": ""})
    assert (indicator.confidence, indicator.indicator_types, indicator.valid_from) == (50, ["malicious-activity"], None)


def test_a_blank_required_field_is_reported_as_required():
    from casemgr.evidence.schemas import Purpose

    with pytest.raises(Invalid) as refused:
        parse(Purpose, {"purpose": "  "})
    assert (refused.value.field, refused.value.message) == ("purpose", "purpose: is required")


def test_the_resolve_form_as_rendered_resolves_the_case(world):
    case = world.case
    for to in ("triage", "investigating"):
        assert world.api.post(f"/api/v1/cases/{case['id']}/transition", json={"to": to}).status_code == 200
    page = world.web.get(f"/cases/{case['id']}").get_data(as_text=True)
    form = next(f for f in forms_on(page) if f["attrs"].get("data-to") == "resolved")
    assert ("duplicate_of", "") in [tuple(f) for f in form["fields"]]  # the page sends it blank
    response = submit(world.web, form, resolution="remediated", summary="Mail purged, passwords reset.")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert world.api.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "resolved"


def test_every_case_action_form_as_rendered_reaches_the_service(world):
    """Every form on the case page, posted untouched: a 4xx naming a required field, never a type error."""
    page = world.web.get(f"/cases/{world.case['id']}").get_data(as_text=True)
    posted = [f for f in forms_on(page) if f["attrs"].get("method") == "post"]
    assert len(posted) >= 3
    for form in posted:
        response = submit(world.web, form)
        text = response.get_data(as_text=True)
        assert response.status_code < 500, form["action"]
        assert "should be a valid" not in text, form["action"]
        assert "Input should" not in text, form["action"]


def test_a_blank_optional_upload_field_is_not_given(world):
    response = upload(world.api, world.case["id"], b"data", "x.bin", collected_by="", collected_at="",
                      source=" ", description="")
    assert response.status_code == 201, response.get_json()
    item = world.api.get(f"/api/v1/evidence/{response.get_json()['id']}").get_json()
    assert (item["collected_by"], item["collected_at"], item["source"]) == (None, None, None)


def test_a_blank_download_purpose_is_required_on_the_page_and_optional_in_the_api(world):
    item = world.values["evidence_id"]
    page = world.web.post(f"/evidence/{item}/download", {"purpose": ""})
    assert page.status_code == 422
    assert "<strong>purpose</strong>: is required" in page.get_data(as_text=True)
    assert world.api.get(f"/api/v1/evidence/{item}/content?purpose=").status_code == 200


def test_the_edit_form_clears_the_description_and_refuses_an_empty_title(world):
    case = world.case
    page = world.web.get(f"/cases/{case['id']}/edit").get_data(as_text=True)
    form = next(f for f in forms_on(page) if "edit" in f["action"])
    refused = submit(world.web, form, title="")
    assert refused.status_code == 422
    assert "<strong>title</strong>: may not be emptied" in refused.get_data(as_text=True)
    assert submit(world.web, form, description="").status_code == 302
    assert world.api.get(f"/api/v1/cases/{case['id']}").get_json()["description"] == ""
