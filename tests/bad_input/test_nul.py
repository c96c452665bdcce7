"""No NUL character gets in (PostgreSQL cannot store or compare one): 422 naming the field, from any route's
query string, path segment or form, any API body or query field, the login form, a multipart upload and the CLI.
Driven by the app's route map and its schemas, so that a new route or field is covered by itself."""

from __future__ import annotations

from typing import Any

from casemgr.api import Operation
from casemgr.fields import NUL_MESSAGE
from tests.bad_input.conftest import error_fields, input_models, operations, upload

NUL = "a\x00b"


def test_every_route_refuses_a_nul_in_a_query_parameter_or_form_field(world):
    problems = []
    for rule, method in world.rules():
        if method == "GET":
            response = world.send(rule, method, query="filter=a%00b")
        else:  # a form field for the web UI, a query parameter for the API (its bodies are JSON)
            api = rule.rule.startswith("/api/")
            response = world.send(rule, method, query="filter=a%00b" if api else "", form=None if api else {
                "filter": NUL})
        if response.status_code != 422 or "filter" not in response.get_data(as_text=True):
            problems.append((method, rule.rule, response.status_code))
    assert problems == []


def test_a_nul_in_any_path_segment_is_refused(world):
    problems = []
    for rule, method in world.rules():
        texts = [n for n in rule.arguments if not isinstance(rule._converters[n].to_python("1"), int)]
        for name in texts:
            response = world.send(rule, method, **{name: NUL})
            if not 400 <= response.status_code < 500:
                problems.append((method, rule.rule, name, response.status_code))
    assert problems == []


def _body_ops(world: Any) -> list[Operation]:
    return [op for _, op in operations(world.app)]


def test_every_api_body_and_query_field_refuses_a_nul(world):
    problems = []
    for op in _body_ops(world):
        for model, where in ((op.body, "body"), (op.query, "query")):
            if model is None:
                continue
            for name in model.model_fields:
                rule = next(r for r in world.app.url_map.iter_rules() if r.rule == "/api/v1" + op.rule)
                if where == "body":
                    response = world.send(rule, op.method.upper(), form={name: NUL})
                else:
                    response = world.send(rule, op.method.upper(), query=f"{name}=a%00b")
                ok = response.status_code == 422 and name in error_fields(response)
                if not ok:
                    problems.append((op.method, op.rule, where, name, response.status_code))
    assert problems == []


def test_every_input_schema_refuses_a_nul_in_every_field():
    """The rule lives in the shared base (casemgr.fields.Input): a new schema and field inherit it."""
    problems = []
    for model in input_models():
        for name in model.model_fields:
            try:
                model.model_validate({name: NUL})
            except Exception as exc:  # noqa: BLE001 - a ValidationError expected
                errors = getattr(exc, "errors", lambda: [])()
                if any(e["loc"][:1] == (name,) and NUL_MESSAGE in str(e["msg"]) for e in errors):
                    continue
            problems.append((model.__qualname__, name))
    assert problems == []


def test_every_api_schema_is_an_input_schema(world):
    from casemgr.fields import Input

    assert [op.rule for op in _body_ops(world) for m in (op.body, op.query)
            if m is not None and not issubclass(m, Input)] == []


def test_a_nul_in_the_login_username_is_refused_before_any_lookup(web):
    web.get("/login")
    response = web.post("/login", {"username": "admin\x00", "password": "whatever"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "username" in page
    assert "NUL" in page


def test_a_nul_in_a_text_filter_of_the_api_names_it(world):
    for url, field in [("/api/v1/cases?q=a%00b", "q"), ("/api/v1/indicators?value=a%00b", "value"),
                       ("/api/v1/audit?actor=a%00b", "actor")]:
        response = world.api.get(url)
        assert (response.status_code, response.get_json()["error"]["field"]) == (422, field), url
        assert response.get_json()["error"]["message"] == f"{field}: {NUL_MESSAGE}"


def test_a_nul_in_a_json_body_field_names_it_and_writes_nothing(world):
    response = world.api.post("/api/v1/cases", json={"title": "x", "category": "fraud", "impact": "low",
                                                     "urgency": "low", "description": "pay\x00load"})
    assert (response.status_code, response.get_json()["error"]["field"]) == (422, "description")
    assert world.api.get("/api/v1/cases").get_json()["total"] == 1


def test_a_nul_in_an_evidence_upload_field_names_it(world):
    response = upload(world.api, world.case["id"], b"data", "x.bin", collected_by="a\x00b")
    assert (response.status_code, response.get_json()["error"]["field"]) == (422, "collected_by")


def test_a_nul_in_any_cli_argument_names_it(run_cli, world):
    """A shell cannot pass a NUL, a program calling the CLI can: refused before the command runs."""
    for args, shown in [(("case", "show", "IR-2026\x000001"), "reference"),
                        (("case", "list", "--as", "ghost\x00"), "--as"),
                        (("case", "list", "--as", world.api.user.username, "--owner", NUL), "--owner")]:
        result = run_cli(*args)
        assert result.exit_code == 1, result.output
        assert f"casemgr: error: {shown}: {NUL_MESSAGE}" in result.output
