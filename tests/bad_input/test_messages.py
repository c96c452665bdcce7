"""Error messages: one formatter (casemgr.fields.parse) words every schema error for people and names the field
once, in the API's {"error": {"code", "message", "field"}}, on the HTML forms and in the CLI."""

from __future__ import annotations

import re

import pytest

from tests.bad_input.conftest import operations

LIBRARY_WORDING = re.compile(r"Input should|Value error|valid integer|unable to parse|Field required|"
                             r"type=|pydantic|String should", re.I)
WRONG_VALUES = [[], {"a": 1}, "not a value", -1, True, "x" * 300_000]


def test_every_api_field_error_is_in_plain_words_naming_the_field_once(world):
    problems = []
    for _, op in operations(world.app):
        if op.body is None:
            continue
        rule = next(r for r in world.app.url_map.iter_rules() if r.rule == "/api/v1" + op.rule)
        for name in op.body.model_fields:
            for wrong in WRONG_VALUES:
                response = world.send(rule, op.method.upper(), form={name: wrong})
                if response.status_code != 422:
                    continue  # a value this field takes
                error = response.get_json()["error"]
                message = error["message"]
                named = error["field"] and message.startswith(f"{error['field']}: ") and \
                    not message[len(error["field"]) + 2:].startswith(f"{error['field']}:")
                if LIBRARY_WORDING.search(message) or not named or set(error) < {"code", "message", "field"}:
                    problems.append((op.rule, name, repr(wrong)[:20], message[:120]))
                for each in error.get("errors", []):
                    if LIBRARY_WORDING.search(each["message"]):
                        problems.append((op.rule, name, repr(wrong)[:20], each["message"][:120]))
    assert problems == []


@pytest.mark.parametrize(("payload", "message"), [
    ({"to": "resolved", "resolution": "duplicate", "summary": "s", "duplicate_of": "first"},
     "duplicate_of: give the other case's reference"),
    ({"to": "finished"}, "to: must be one of"),
    ({"to": "triage", "version": 0}, "version: must be at least 1"),
    ({"to": "triage", "colour": "red"}, "colour: unknown field"),
    ({}, "to: is required"),
])
def test_transition_errors_read_as_plain_words(world, payload, message):
    response = world.api.post(f"/api/v1/cases/{world.case['id']}/transition", json=payload)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"].startswith(message)


def test_a_form_error_names_the_field_once(world):
    response = world.web.post("/cases/new", {"title": "x" * 201, "category": "fraud", "impact": "low",
                                             "urgency": "low"})
    assert response.status_code == 422
    box = re.search(r'<p class="error-box"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S)
    assert box is not None
    assert box.group(1) == "<strong>title</strong>: must be at most 200 characters long"


def test_a_cli_error_names_the_field_once(run_cli, world):
    result = run_cli("case", "list", "--as", world.api.user.username, "--since", "soon")
    assert result.exit_code == 1
    assert "casemgr: error: since: must be a date and time such as 2026-01-02T03:04:05Z" in result.output


def test_a_newline_in_next_after_sign_in_is_a_redirect_not_an_error(make_user, web):
    user = make_user("analyst")
    web.get("/login")
    response = web.post("/login", {"username": user.username, "password": "correct horse battery staple 42",
                                   "next": "/cases\r\nSet-Cookie: x=1"})
    assert response.status_code == 302
    assert not {"\r", "\n"} & set(response.headers["Location"])
    assert "x=1" not in response.headers.getlist("Set-Cookie")
