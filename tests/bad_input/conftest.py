"""A small world for the bad-input tests: a case with an evidence item and an indicator, the clients that
reach it, and the app's own route and schema lists, so that a new route or field is covered by itself."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule

import casemgr
from casemgr.api import ApiBlueprint, Operation
from casemgr.fields import Input
from tests.evidence.conftest import keyring, upload  # noqa: F401 - keyring: the evidence vault needs it

CASE = {"title": "Bad input", "description": "Probing.", "category": "fraud", "subcategory": "phishing",
        "impact": "medium", "urgency": "high"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


@dataclass
class World:
    app: Flask
    api: Any  # a manager's API client
    web: Any  # the same kind of user, signed in to the web UI
    case: dict[str, Any]
    values: dict[str, Any]  # a sample value for each path parameter name
    others: list[Any]  # API clients of the other roles, for what a manager may not do (admin, auditor)

    def url(self, rule: Rule, **override: Any) -> str:
        """The rule's path with each parameter filled in (from `override`, else the world's sample), quoted."""
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return quote(str(override.get(name, self.values.get(name, "x"))), safe="")

        return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", value, rule.rule)

    def rules(self, *, prefix: str | None = None) -> Iterator[tuple[Rule, str]]:
        """Every route of the app and each of its methods (not HEAD or OPTIONS)."""
        for rule in sorted(self.app.url_map.iter_rules(), key=lambda r: r.rule):
            if prefix is not None and not rule.rule.startswith(prefix):
                continue
            for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
                yield rule, method

    def client_for(self, rule: Rule) -> Any:
        return self.api if rule.rule.startswith(("/api/", "/taxii2/")) else self.web

    def send(self, rule: Rule, method: str, *, query: str = "", form: dict[str, Any] | None = None,
             **override: Any) -> Any:
        """Send a request to the rule as the manager (for the API, as an admin or auditor if the manager may not)."""
        client = self.client_for(rule)
        url = self.url(rule, **override) + (f"?{query}" if query else "")
        if client is self.web:
            return client.get(url) if method == "GET" else client.post(url, form or {})
        for who in (client, *self.others):
            response = who.get(url) if method == "GET" else getattr(who, method.lower())(url, json=form or {})
            if response.status_code != 403:
                break
        return response


def operations(app: Flask) -> list[tuple[ApiBlueprint, Operation]]:
    """Every API operation the domain blueprints declare (the list the OpenAPI document is built from)."""
    return [(bp, op) for bp in app.blueprints.values() if isinstance(bp, ApiBlueprint) for op in bp.operations]


def input_models() -> list[type[BaseModel]]:
    """Every input schema: the subclasses of the shared base, however deep, in every domain's schemas."""
    for module in pkgutil.walk_packages(casemgr.__path__, "casemgr."):
        if module.name.endswith(".schemas") or module.name == "casemgr.api":
            importlib.import_module(module.name)
    found, stack = [], list(Input.__subclasses__())
    while stack:
        model = stack.pop()
        found.append(model)
        stack.extend(model.__subclasses__())
    return sorted(set(found), key=lambda m: m.__qualname__)


def accepts(annotation: Any, kind: type) -> bool:
    """Whether a field annotation takes values of `kind` (through Optional, lists and Annotated)."""
    if annotation is kind:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return accepts(typing.get_args(annotation)[0], kind)
    if origin in (typing.Union, types.UnionType, list, tuple, set):
        return any(accepts(a, kind) for a in typing.get_args(annotation))
    return isinstance(annotation, type) and annotation is not bool and issubclass(annotation, kind) \
        and not (kind is int and issubclass(annotation, bool))


def error_fields(response: Any) -> set[str]:
    error = response.get_json()["error"]
    return {error.get("field") or ""} | {e["field"] for e in error.get("errors", [])}


@pytest.fixture
def world(app: Flask, api: Callable[..., Any], login: Callable[..., Any], open_case: Callable[..., Any],
          db: Any) -> World:
    manager = api("manager")
    case = open_case(manager, **CASE)
    item = upload(manager, case["id"], b"evidence\n", "mail.eml")
    assert item.status_code == 201, item.get_json()
    added = manager.post(f"/api/v1/cases/{case['id']}/indicators", json={"type": "domain-name",
                                                                         "value": "evil.example"})
    assert added.status_code == 201, added.get_json()
    token = manager.get("/api/v1/tokens").get_json()["items"][0]["id"]
    note = manager.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "Checked the proxy logs."})
    assert note.status_code == 201, note.get_json()
    admin = api("admin")
    team = admin.post("/api/v1/teams", json={"name": "CERT"})
    assert team.status_code == 201, team.get_json()
    # a custom role whose code is also an incident role kind's, so that both kinds of <code> route find theirs
    made = admin.post("/api/v1/roles", json={"code": "scribe", "name": "Scribe", "permissions": ["case.view"]})
    assert made.status_code == 201, made.get_json()
    # A custom field with the <code> path value too, so that /case-fields/<code> finds one.
    field = admin.post("/api/v1/case-fields", json={"code": "scribe", "label": "X", "type": "text"})
    assert field.status_code == 201, field.get_json()
    from casemgr.auth.actor import Actor
    from casemgr.indicators import sharing
    from casemgr.playbooks import library, loader

    with db.transaction() as s:
        collection = sharing.shareable_collection_id(s)
        library.sync_folder(s, Actor.system(), loader.SHIPPED)
    run = manager.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "phishing"})
    assert run.status_code == 201, run.get_json()
    values = {"case_id": case["id"], "evidence_id": item.get_json()["id"], "token_id": token,
              "username": manager.user.username, "object_id": added.get_json()["stix"]["id"],
              "collection_id": collection, "filename": "app.css", "action": "seal",
              "entry_id": note.get_json()["id"], "team_id": team.get_json()["id"],
              "code": "scribe", "run_id": run.get_json()["id"], "step_id": "triage"}
    return World(app, manager, login("manager"), case, values, [admin, api("auditor")])


__all__ = ["CASE", "World", "accepts", "dt", "error_fields", "forms_on", "input_models", "keyring", "operations",
           "submit", "upload"]


# ---------------------------------------------------------------- forms as the page renders them

class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "attrs": a, "fields": []})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name") and (a.get("type") not in {"checkbox", "radio"} or "checked" in a):
            self.forms[-1]["fields"].append([a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")])
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self.forms[-1]["fields"].append([a["name"], None])
        elif tag == "option" and self._select is not None:
            field = self.forms[-1]["fields"][-1]
            if field[1] is None or "selected" in a:
                field[1] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.forms[-1]["fields"].append([a["name"], ""])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.forms[-1]["fields"][-1][1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(html: str) -> list[dict[str, Any]]:
    """The page's forms: action, attributes, and each field as a browser would submit it untouched."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def submit(client: Any, form: dict[str, Any], **filled: str) -> Any:
    """Post a form exactly as rendered, with only the fields a user filled in changed (CSRF token included)."""
    data = MultiDict([(name, filled.get(name, value or "")) for name, value in form["fields"]])
    return client.client.post(form["action"], data=data, buffered=True)
