"""The authorization matrix: every route of the app (taken from app.url_map) as every role, on a case the
caller is a member of or not, a restricted case and a TLP:RED case, against tests/authz_matrix.csv.

The table holds one row per route and method, one column per caller and case (see its header). The rules
it follows are the README's Roles table and casemgr/cases/access.py: what is hidden is 404, never 403;
admins see no case content; auditors read but never change; TLP:RED objects are visible only to the
case's members and managers. A route without a row fails `test_every_route_has_a_row`.

Outcomes: ok (2xx, or a redirect that is not to the sign-in page; 409 counts too: the request got past
every permission check to a rule about the object's state), login (redirected to the sign-in page),
401, 403, 404, 422 (where no harmless valid request exists: a wrong current password), shows (ok, and
the answer shows the indicator value, or for lists and searches the reference, of the case the column is
about), hides (ok, and it does not: a TLP:RED value to a non-member, a hidden case).
A blank cell: the column does not apply (the route is about no case). JSON answers of /api/v1 are also
checked against the OpenAPI document (the schema for the status they came with).

`pending_fix` names cells where today's app breaks the rule because of a bug being fixed elsewhere
(`area:column+column`): those cells xfail strictly until the fix lands, then the mark is removed.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask
from sqlalchemy import select

from casemgr import create_app
from casemgr.auth import roles
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role
from casemgr.auth.role_schemas import NewRole
from casemgr.auth.schemas import NewToken, NewUser
from casemgr.cases import incident_roles
from casemgr.cases.schemas import NewRoleKind, RoleKindUpdate
from casemgr.config import Settings
from casemgr.db import Database
from casemgr.indicators.models import IndicatorCollection
from casemgr.playbooks.models import PlaybookVersion
from casemgr.teams import service as teams
from casemgr.teams.schemas import NewTeam
from tests.conftest import PASSWORD, WebClient, _wipe
from tests.world import T, World, build_world

TABLE = Path(__file__).with_name("authz_matrix.csv")
# tier1: an account with the custom role tier-1 (tests/world.py), a member of no case
ROLE_COLUMNS = ["anonymous", "admin", "auditor", "manager", "member", "outsider", "tier1"]
CASE_COLUMNS = ["restricted_member", "restricted_outsider", "red_member", "red_outsider", "red_auditor"]
COLUMNS = ROLE_COLUMNS + CASE_COLUMNS
OUTCOMES = {"ok", "login", "401", "403", "404", "422", "shows", "hides"}
# column -> (who calls, which seeded case the request is about)
CALLERS = {**{c: (c, "case") for c in ROLE_COLUMNS},
           "restricted_member": ("member", "restricted"), "restricted_outsider": ("outsider", "restricted"),
           "red_member": ("member", "red"), "red_outsider": ("outsider", "red"), "red_auditor": ("auditor", "red")}


def _rows() -> list[dict[str, str]]:
    lines = [line for line in TABLE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(io.StringIO("\n".join(lines)))]


def _pending(row: dict[str, str]) -> dict[str, str]:
    """column -> area of the fix it waits for."""
    found: dict[str, str] = {}
    for part in row["pending_fix"].split():
        area, _, columns = part.partition(":")
        found |= dict.fromkeys(columns.split("+"), area)
    return found


def _cells() -> Iterator[Any]:
    for row in _rows():
        pending = _pending(row)
        for column in COLUMNS:
            if not row[column]:
                continue
            marks = [pytest.mark.xfail(strict=True, reason=f"pending the {pending[column]} fix")] \
                if column in pending else []
            yield pytest.param(row["method"], row["rule"], column, row[column], marks=marks,
                               id=f"{row['method']} {row['rule']} {column}")


# ---------------------------------------------------------------- the instance, built once for the module

@dataclass
class Context:
    app: Flask
    db: Database
    world: World
    document: dict[str, Any]
    web: dict[str, WebClient] = field(default_factory=dict)
    collections: dict[str, str] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def token_headers(self, who: str) -> dict[str, str]:
        return {} if who == "anonymous" else {"Authorization": f"Bearer {self.world.tokens[who]}"}

    def client(self, who: str) -> WebClient:
        if who not in self.web:
            client = WebClient(self.app.test_client())
            if who != "anonymous":
                client.login(self.world.usernames[who])
            else:
                client.get("/login")
            self.web[who] = client
        return self.web[who]

    def as_member(self, method: str, path: str, **kw: Any) -> Any:
        response = self.app.test_client().open(path, method=method, headers=self.token_headers("member"), **kw)
        assert response.status_code < 300, (path, response.get_data(as_text=True))
        return response.get_json()

    def fresh_case(self, target: str) -> int:
        """A new case like the seeded one (restricted, TLP:RED or neither), opened by the member."""
        fields = {"restricted": {"restricted": True}, "red": {"tlp": "red"}}.get(target, {})
        return self.as_member("POST", "/api/v1/cases", json={
            "title": f"Fresh case {next(self.counter)}", "description": "for one request",
            "category": "malicious-code", "impact": "low", "urgency": "low", **fields})["id"]

    def fresh_evidence(self, target: str) -> int:
        case_id = self.world.cases[target].id
        boundary = "matrix-boundary"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f{next(self.counter)}.txt"'
                f"\r\nContent-Type: text/plain\r\n\r\nsome evidence\r\n--{boundary}--\r\n").encode()
        return self.as_member("POST", f"/api/v1/cases/{case_id}/evidence", data=body,
                              content_type=f"multipart/form-data; boundary={boundary}")["id"]

    def sealed_evidence(self, target: str) -> int:
        evidence_id = self.fresh_evidence(target)
        self.as_member("POST", f"/api/v1/evidence/{evidence_id}/seal", json={"reason": "legal hold"})
        return evidence_id

    def fresh_note(self, target: str) -> tuple[int, int]:
        """(case id, timeline entry id) of a note the member just wrote on the seeded case."""
        case_id = self.world.cases[target].id
        entry = self.as_member("POST", f"/api/v1/cases/{case_id}/notes", json={"body": f"note {next(self.counter)}"})
        return case_id, int(entry["id"])

    def fresh_indicator(self, target: str) -> tuple[int, str]:
        """(case id, STIX id) of an indicator the member just added to the seeded case (TLP:RED in the red case)."""
        case_id = self.world.cases[target].id
        added = self.as_member("POST", f"/api/v1/cases/{case_id}/indicators",
                               json={"type": "domain-name", "value": f"fresh{next(self.counter)}.evil.example"})
        return case_id, str(added["stix_id"])

    def version(self, case_id: int) -> int:
        return int(self.as_member("GET", f"/api/v1/cases/{case_id}")["version"])

    def fresh_user(self) -> str:
        username = f"fresh{next(self.counter)}"
        with self.db.transaction() as s:
            auth.create_user(s, Actor.system("test"), NewUser(username=username, role=Role.ANALYST, password=PASSWORD))
        return username

    def fresh_team(self) -> int:
        """A team with the spare user as its member, for one request that changes it."""
        with self.db.transaction() as s:
            return teams.create_team(s, Actor.system("test"), NewTeam(name=f"team {next(self.counter)}",
                                                                      members=[self.world.usernames["spare"]])).id

    def fresh_kind(self) -> str:
        """The code of an admin-defined incident role kind, for one request that changes it (retired or not)."""
        code = f"kind_{next(self.counter)}"
        with self.db.transaction() as s:
            incident_roles.create_kind(s, Actor.system("test"), NewRoleKind(code=code, label=f"Kind {code}"))
        return code

    def fresh_role(self) -> str:
        """A custom role no account has, for one request that changes or deletes it."""
        code = f"fresh-{next(self.counter)}"
        with self.db.transaction() as s:
            roles.create_role(s, Actor.system("test"), NewRole(code=code, name="Fresh", permissions=["case.view"]))
        return code

    def token_of(self, who: str) -> int:
        if who == "anonymous":
            who = "member"
        with self.db.transaction() as s:
            return auth.create_token(s, Actor.system("test"), self.world.usernames[who], NewToken(name="revoke me")
                                     ).token.id


@pytest.fixture(scope="module")
def ctx(migrated: str, instance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    settings = Settings.from_env({"CASEMGR_INSTANCE_DIR": str(instance_dir), "CASEMGR_DATABASE_URL": migrated,
                                  "CASEMGR_EVIDENCE_DIR": str(tmp_path_factory.mktemp("matrix") / "evidence"),
                                  "CASEMGR_LOGIN_RATE_LIMIT": "10000 per minute"})  # the matrix signs in often
    _wipe(migrated)
    app = create_app(settings)
    app.config["TESTING"] = True
    db: Database = app.extensions["casemgr.db"]
    world = build_world(app)
    with app.extensions["casemgr.db"].transaction() as s:  # the team functional escalations hand cases to
        teams.create_team(s, Actor.system("test"), NewTeam(name=ESCALATION["to_team"]))
    context = Context(app, db, world, app.test_client().get("/api/v1/openapi.json").get_json())
    _DOCUMENT[:] = [context.document]
    # the TAXII collections of the cases exist once someone who sees them listed them
    for who in ("member", "manager"):
        app.test_client().get("/taxii2/api/collections/", headers=context.token_headers(who))
    for name, seeded in world.cases.items():
        with db.transaction() as s:
            found = s.scalar(select(IndicatorCollection.collection_id).where(IndicatorCollection.case_id == seeded.id))
        assert found is not None, f"no TAXII collection for the {name} case"
        context.collections[name] = str(found)
    try:
        yield context
    finally:
        db.dispose()
        _wipe(migrated)


# ---------------------------------------------------------------- one valid request per route

Build = Callable[[Context, str, str], tuple[str, dict[str, Any]]]  # (ctx, who, target) -> (path, request kwargs)
REQUESTS: dict[tuple[str, str], Build] = {}


def request(method: str, rule: str) -> Callable[[Build], Build]:
    def register(fn: Build) -> Build:
        REQUESTS[(method, rule)] = fn
        return fn
    return register


def simple(method: str, rule: str, path: str, **kw: Any) -> None:
    """A request whose path only needs the seeded objects' ids: {case}, {evidence}, {sdo}, {value}, {collection}."""
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        case = ctx.world.cases[target]
        return path.format(case=case.id, evidence=case.evidence_id, sdo=case.sdo_stix_id,
                           indicator=case.indicator_stix_id, value=case.indicator_value,
                           collection=ctx.collections[target], user=ctx.world.usernames["outsider"],
                           spare=ctx.world.usernames["spare"]), dict(kw)
    REQUESTS[(method, rule)] = build


NOTE = {"body": "Checked the proxy logs."}
EVENT = {"occurred_at": "2026-01-02T03:04:05Z", "summary": "First beacon seen"}
ESCALATION = {"kind": "functional", "reason": "needs the network team", "to_team": "network"}

# -- home, health, sign-in
simple("GET", "/", "/")
simple("GET", "/healthz", "/healthz")
simple("GET", "/static/<path:filename>", "/static/app.css")
simple("GET", "/login", "/login")
simple("GET", "/login/mfa", "/login/mfa")
simple("GET", "/account", "/account")
simple("GET", "/account/mfa", "/account/mfa")
simple("GET", "/admin/users", "/admin/users")
simple("GET", "/admin/tokens", "/admin/tokens")
simple("GET", "/admin/evidence", "/admin/evidence")
simple("GET", "/audit", "/audit")
simple("POST", "/audit/verify", "/audit/verify")
simple("POST", "/audit/checkpoints", "/audit/checkpoints")
simple("POST", "/audit/export", "/audit/export", data={"format": "csv", "action": "case."})
simple("POST", "/admin/evidence", "/admin/evidence", data={"auditor_can_download": ""})
simple("POST", "/admin/settings/mfa", "/admin/settings/mfa", data={})
simple("POST", "/account/tokens", "/account/tokens", data={"name": "laptop", "expires_days": ""})
simple("POST", "/account/mfa", "/account/mfa", data={"action": "start"})
simple("POST", "/login/mfa", "/login/mfa", data={"code": "000000"})


@request("POST", "/login")
def _login(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/login", {"data": {"username": ctx.world.usernames["spare"], "password": PASSWORD}, "fresh_session": True}


@request("POST", "/logout")
def _logout(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/logout", {"fresh_session": True}


@request("POST", "/account/password")
def _password(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/account/password", {"data": {"current_password": "not it", "new_password": "x"},
                                 "fresh_session": True}


@request("POST", "/account/tokens/<int:token_id>/revoke")
def _revoke_own(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/account/tokens/{ctx.token_of(who)}/revoke", {}


@request("POST", "/admin/users")
def _admin_create_user(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/admin/users", {"data": {"username": f"new{next(ctx.counter)}", "role": "analyst",
                                     "display_name": "", "password": "a long enough passphrase 7"}}


simple("POST", "/admin/users/<username>", "/admin/users/{user}", data={"display_name": "Out Sider"})
simple("GET", "/account/password/new", "/account/password/new")
simple("POST", "/account/password/new", "/account/password/new",
       data={"current_password": PASSWORD, "new_password": "a long enough passphrase 7"})


def _admin_action(action: str) -> Build:
    """An admin's action on a user made for the one request (a reset ends that user's sessions)."""
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        return f"/admin/users/{ctx.fresh_user()}/{action}", {}
    return build


for _action in ("unlock", "reset-password", "reset-mfa"):
    REQUESTS[("POST", f"/admin/users/<username>/{_action}")] = _admin_action(_action)
simple("POST", "/admin/users/<username>/tokens", "/admin/users/{spare}/tokens",
       data={"name": "ops", "expires_days": ""})

# -- roles (changing or deleting one: a role made for the one request, so that tier-1 stays as it is)
simple("GET", "/admin/roles", "/admin/roles")
simple("GET", "/admin/roles/<code>", "/admin/roles/tier-1")
simple("GET", "/api/v1/roles", "/api/v1/roles")
simple("GET", "/api/v1/roles/<code>", "/api/v1/roles/tier-1")


@request("POST", "/admin/roles")
def _admin_create_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/admin/roles", {"data": {"code": f"made-{next(ctx.counter)}", "name": "Made", "description": "",
                                     "permissions": "case.view"}}


@request("POST", "/api/v1/roles")
def _api_create_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/roles", {"json": {"code": f"made-{next(ctx.counter)}", "name": "Made",
                                      "permissions": ["case.view"]}}


@request("POST", "/admin/roles/<code>")
def _admin_update_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/admin/roles/{ctx.fresh_role()}", {"data": {"name": "Renamed", "description": "",
                                                         "permissions": "case.create"}}


@request("PATCH", "/api/v1/roles/<code>")
def _api_update_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/roles/{ctx.fresh_role()}", {"json": {"permissions": ["case.create"]}}


@request("POST", "/admin/roles/<code>/delete")
def _admin_delete_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/admin/roles/{ctx.fresh_role()}/delete", {}


@request("DELETE", "/api/v1/roles/<code>")
def _api_delete_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/roles/{ctx.fresh_role()}", {}


# -- cases (web)
simple("GET", "/cases", "/cases?per_page=200", marker="reference")
simple("GET", "/cases/export.csv", "/cases/export.csv", marker="reference")
simple("GET", "/cases/export.json", "/cases/export.json", marker="reference")
simple("GET", "/cases/new", "/cases/new")
simple("GET", "/cases/<int:case_id>", "/cases/{case}")
simple("GET", "/cases/<int:case_id>/edit", "/cases/{case}/edit")
simple("GET", "/cases/<int:case_id>/timeline", "/cases/{case}/timeline")
simple("GET", "/cases/<int:case_id>/evidence", "/cases/{case}/evidence")
simple("GET", "/cases/<int:case_id>/indicators", "/cases/{case}/indicators")
simple("GET", "/cases/<int:case_id>/playbooks", "/cases/{case}/playbooks")
simple("GET", "/cases/<int:case_id>/report", "/cases/{case}/report")
simple("GET", "/cases/<int:case_id>/stix/export", "/cases/{case}/stix/export")
simple("GET", "/cases/<int:case_id>/stix/objects", "/cases/{case}/stix/objects")
simple("GET", "/cases/<int:case_id>/stix/objects/<string:object_id>", "/cases/{case}/stix/objects/{indicator}")
simple("GET", "/indicators/search", "/indicators/search?value={value}", marker="reference")  # the page echoes the value
simple("POST", "/cases/<int:case_id>/notes", "/cases/{case}/notes", data=NOTE)
simple("POST", "/cases/<int:case_id>/events", "/cases/{case}/events", data=EVENT)


def _correction(path: str, **kw: Any) -> Build:
    """A correction of a note the member wrote just before (edits and retractions are for its author and managers)."""
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        case_id, entry_id = ctx.fresh_note(target)
        return path.format(case=case_id, entry=entry_id), dict(kw)
    return build


REQUESTS[("POST", "/cases/<int:case_id>/timeline/<int:entry_id>/edit")] = _correction(
    "/cases/{case}/timeline/{entry}/edit", data={"body": "corrected"})
REQUESTS[("POST", "/cases/<int:case_id>/timeline/<int:entry_id>/retract")] = _correction(
    "/cases/{case}/timeline/{entry}/retract", data={"reason": "wrong case"})
REQUESTS[("PATCH", "/api/v1/cases/<int:case_id>/timeline/<int:entry_id>")] = _correction(
    "/api/v1/cases/{case}/timeline/{entry}", json={"body": "corrected"})
REQUESTS[("POST", "/api/v1/cases/<int:case_id>/timeline/<int:entry_id>/retract")] = _correction(
    "/api/v1/cases/{case}/timeline/{entry}/retract", json={"reason": "wrong case"})
simple("POST", "/cases/<int:case_id>/escalate", "/cases/{case}/escalate", data=ESCALATION)
simple("POST", "/cases/<int:case_id>/indicators/extract", "/cases/{case}/indicators/extract",
       data={"text": "beacon to evil.example.com"})


# Adding a value the case already holds sights it again; where it is TLP:RED (the red case's seeded indicator),
# only those who see it may (casemgr/indicators/capture.py: 403 naming the value).
def _seeded(ctx: Context, target: str) -> dict[str, str]:
    return {"type": "ipv4-addr", "value": ctx.world.cases[target].indicator_value}


@request("POST", "/cases/<int:case_id>/indicators/add")
def _web_add(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/cases/{ctx.world.cases[target].id}/indicators/add", {"data": _seeded(ctx, target)}


@request("POST", "/cases/<int:case_id>/indicators/accept")
def _web_accept(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    item = json.dumps(_seeded(ctx, target))
    return f"/cases/{ctx.world.cases[target].id}/indicators/accept", {"data": {"item": item}}


@request("POST", "/api/v1/cases/<int:case_id>/indicators")
def _api_add(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/cases/{ctx.world.cases[target].id}/indicators", {"json": _seeded(ctx, target)}


@request("POST", "/api/v1/cases/<int:case_id>/indicators/accept")
def _api_accept(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/cases/{ctx.world.cases[target].id}/indicators/accept", {"json": {"items": [_seeded(ctx, target)]}}

simple("POST", "/cases/<int:case_id>/stix/confirm", "/cases/{case}/stix/confirm", data={"partial": ""},
       stage_bundle=True)
simple("POST", "/cases/<int:case_id>/evidence/export", "/cases/{case}/evidence/export")


@request("POST", "/cases/new")
def _web_new_case(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/cases/new", {"data": {"title": "From the form", "description": "", "category": "malicious-code",
                                   "impact": "low", "urgency": "low", "tlp": "amber", "pap": "amber"}}


@request("POST", "/cases/<int:case_id>/edit")
def _web_edit(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    case_id = ctx.world.cases[target].id
    return f"/cases/{case_id}/edit", {"data": {"version": str(ctx.version(case_id)),
                                               "title": f"Renamed {next(ctx.counter)}", "was.title": ""}}


@request("POST", "/cases/<int:case_id>/transition")
def _web_transition(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/cases/{ctx.fresh_case(target)}/transition", {"data": {"to": "triage"}}


@request("POST", "/cases/<int:case_id>/links")
def _web_link(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/cases/{ctx.world.cases[target].id}/links", {"data": {"case": str(ctx.fresh_case("case")),
                                                                   "kind": "related"}}


@request("POST", "/cases/<int:case_id>/priority")
def _web_priority(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    case_id = ctx.fresh_case(target)
    return f"/cases/{case_id}/priority", {"data": {"version": str(ctx.version(case_id)), "priority_override": "P1",
                                                   "priority_reason": "the CFO's laptop"}}


@request("POST", "/cases/<int:case_id>/evidence/upload")
def _web_upload(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    boundary = "matrix-web-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="w.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\nweb upload\r\n--{boundary}--\r\n").encode()
    return f"/cases/{ctx.world.cases[target].id}/evidence/upload", {
        "data": body, "content_type": f"multipart/form-data; boundary={boundary}", "csrf_header": True}


@request("POST", "/cases/<int:case_id>/stix/upload")
def _web_stix_upload(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/cases/{ctx.world.cases[target].id}/stix/upload", {
        "data": {"bundle": (io.BytesIO(_bundle()), "bundle.json")}, "content_type": "multipart/form-data"}


def _bundle() -> bytes:
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [
        {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "created": T, "modified": T,
         "name": "Staged", "is_family": False}]}).encode()


# -- bulk actions and escalation acknowledgements (the case list, the home page)
def _bulk(api: bool) -> Build:
    """Tag the target case through the bulk action: per case, so a caller the case refuses still gets 200
    with the refusal listed (`there is no case ...` for one hidden from them, exactly like one that does not exist)."""
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        reference = ctx.world.cases[target].reference
        if api:
            return "/api/v1/cases/bulk", {"json": {"cases": [reference], "action": "tag", "tag": "matrix"}}
        return "/cases/bulk", {"data": {"cases": reference, "action": "tag", "tag": "matrix"}}
    return build


REQUESTS[("POST", "/cases/bulk")] = _bulk(api=False)
REQUESTS[("POST", "/api/v1/cases/bulk")] = _bulk(api=True)
simple("GET", "/api/v1/escalations", "/api/v1/escalations")


def _acknowledge(path: str) -> Build:
    """Acknowledge an escalation to management that the member raised on the target case just before."""
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        case_id = ctx.world.cases[target].id
        raised = ctx.as_member("POST", f"/api/v1/cases/{case_id}/escalate",
                               json={"kind": "hierarchical", "reason": f"matrix {next(ctx.counter)}"})
        return path.format(case=case_id, escalation=raised["id"]), {}
    return build


REQUESTS[("POST", "/cases/<int:case_id>/escalations/<int:escalation_id>/acknowledge")] = _acknowledge(
    "/cases/{case}/escalations/{escalation}/acknowledge")
REQUESTS[("POST", "/api/v1/cases/<int:case_id>/escalations/<int:escalation_id>/acknowledge")] = _acknowledge(
    "/api/v1/cases/{case}/escalations/{escalation}/acknowledge")


# -- evidence (web)
simple("GET", "/evidence/<int:evidence_id>", "/evidence/{evidence}")
simple("POST", "/evidence/<int:evidence_id>/download", "/evidence/{evidence}/download",
       data={"purpose": "malware analysis"})
simple("POST", "/evidence/<int:evidence_id>/verify", "/evidence/{evidence}/verify")


@request("POST", "/evidence/<int:evidence_id>/<any(transfer, seal, release, dispose):action>")
def _web_custody(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/evidence/{ctx.fresh_evidence(target)}/seal", {"data": {"reason": "legal hold"}}


@request("POST", "/evidence/<int:evidence_id>/provenance")
def _web_provenance(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/evidence/{ctx.fresh_evidence(target)}/provenance", {
        "data": {"collected_by": "ann", "reason": "who exported the mail"}}


# -- TAXII
simple("GET", "/taxii2/", "/taxii2/")
simple("GET", "/taxii2/api/", "/taxii2/api/")
simple("GET", "/taxii2/api/collections/", "/taxii2/api/collections/")
simple("GET", "/taxii2/api/collections/<collection_id>/", "/taxii2/api/collections/{collection}/")
simple("GET", "/taxii2/api/collections/<collection_id>/manifest/", "/taxii2/api/collections/{collection}/manifest/")
simple("GET", "/taxii2/api/collections/<collection_id>/objects/", "/taxii2/api/collections/{collection}/objects/")
simple("GET", "/taxii2/api/collections/<collection_id>/objects/<object_id>/",
       "/taxii2/api/collections/{collection}/objects/{indicator}/")
simple("GET", "/taxii2/api/collections/<collection_id>/objects/<object_id>/versions/",
       "/taxii2/api/collections/{collection}/objects/{indicator}/versions/")

# -- /api/v1
simple("GET", "/api/v1/openapi.json", "/api/v1/openapi.json")
simple("GET", "/api/v1/me", "/api/v1/me")
simple("GET", "/api/v1/tokens", "/api/v1/tokens")
simple("POST", "/api/v1/tokens", "/api/v1/tokens", json={"name": "ci"})
simple("GET", "/api/v1/users", "/api/v1/users")
simple("POST", "/api/v1/users/<username>/tokens", "/api/v1/users/{spare}/tokens", json={"name": "ops"})
simple("PATCH", "/api/v1/users/<username>", "/api/v1/users/{user}", json={"display_name": "Out Sider"})
simple("PUT", "/api/v1/settings/mfa", "/api/v1/settings/mfa", json={"required_roles": []})


# -- teams: a team made for each request (a retired one stays retired, a removed member is gone)
def _team_request(path: str, **kw: Any) -> Build:
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        names = {"team": ctx.fresh_team(), "spare": ctx.world.usernames["spare"], "admin": ctx.world.usernames["admin"]}
        body = {key: {k: v.format(**names) for k, v in value.items()} for key, value in kw.items()}
        return path.format(**names), body
    return build


@request("POST", "/admin/teams")
def _web_new_team(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/admin/teams", {"data": {"name": f"new team {next(ctx.counter)}", "description": "", "lead": "",
                                     "contact_email": ""}}


@request("POST", "/api/v1/teams")
def _api_new_team(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/teams", {"json": {"name": f"new team {next(ctx.counter)}"}}


simple("GET", "/admin/teams", "/admin/teams")
simple("GET", "/api/v1/teams", "/api/v1/teams")
for _method, _rule, _path, _kw in [
    ("GET", "/admin/teams/<int:team_id>", "/admin/teams/{team}", {}),
    ("POST", "/admin/teams/<int:team_id>", "/admin/teams/{team}", {"data": {"description": "the night shift"}}),
    ("POST", "/admin/teams/<int:team_id>/members", "/admin/teams/{team}/members", {"data": {"username": "{admin}"}}),
    ("POST", "/admin/teams/<int:team_id>/members/<username>/remove", "/admin/teams/{team}/members/{spare}/remove",
     {}),
    ("POST", "/admin/teams/<int:team_id>/retire", "/admin/teams/{team}/retire", {}),
    ("GET", "/api/v1/teams/<int:team_id>", "/api/v1/teams/{team}", {}),
    ("PATCH", "/api/v1/teams/<int:team_id>", "/api/v1/teams/{team}", {"json": {"description": "the night shift"}}),
    ("POST", "/api/v1/teams/<int:team_id>/members", "/api/v1/teams/{team}/members", {"json": {"username": "{admin}"}}),
    ("DELETE", "/api/v1/teams/<int:team_id>/members/<username>", "/api/v1/teams/{team}/members/{spare}", {}),
    ("POST", "/api/v1/teams/<int:team_id>/retire", "/api/v1/teams/{team}/retire", {}),
]:
    REQUESTS[(_method, _rule)] = _team_request(_path, **_kw)


# -- custom case fields: a field made for each request (a retired one stays retired)
def _case_field_request(path: str, **kw: Any) -> Build:
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        from casemgr.cases import custom_fields
        from casemgr.cases.field_schemas import NewCaseField

        code = f"matrix_{next(ctx.counter)}"
        with ctx.db.transaction() as s:
            custom_fields.create_field(s, Actor.system("test"), NewCaseField(code=code, label="Matrix", type="text"))
        return path.format(code=code), dict(kw)
    return build


@request("POST", "/admin/case-fields")
def _web_new_case_field(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/admin/case-fields", {"data": {"code": f"new_{next(ctx.counter)}", "type": "text", "label": "New"}}


@request("POST", "/api/v1/case-fields")
def _api_new_case_field(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/case-fields", {"json": {"code": f"new_{next(ctx.counter)}", "type": "text", "label": "New"}}


simple("GET", "/admin/case-fields", "/admin/case-fields")
simple("GET", "/api/v1/case-fields", "/api/v1/case-fields")
for _method, _rule, _path, _kw in [
    ("GET", "/admin/case-fields/<code>", "/admin/case-fields/{code}", {}),
    ("POST", "/admin/case-fields/<code>", "/admin/case-fields/{code}", {"data": {"label": "Matrix 2"}}),
    ("POST", "/admin/case-fields/<code>/retire", "/admin/case-fields/{code}/retire", {"data": {}}),
    ("GET", "/api/v1/case-fields/<code>", "/api/v1/case-fields/{code}", {}),
    ("PATCH", "/api/v1/case-fields/<code>", "/api/v1/case-fields/{code}", {"json": {"label": "Matrix 2"}}),
]:
    REQUESTS[(_method, _rule)] = _case_field_request(_path, **_kw)
simple("GET", "/api/v1/audit", "/api/v1/audit")
simple("GET", "/api/v1/audit/verify", "/api/v1/audit/verify")
simple("POST", "/api/v1/audit/checkpoints", "/api/v1/audit/checkpoints")
simple("POST", "/api/v1/audit/export.csv", "/api/v1/audit/export.csv", json={"action": "case."})
simple("POST", "/api/v1/audit/export.jsonl", "/api/v1/audit/export.jsonl", json={})
simple("GET", "/api/v1/taxonomy", "/api/v1/taxonomy")
simple("GET", "/api/v1/cases", "/api/v1/cases?per_page=200", marker="reference")
simple("GET", "/api/v1/cases/export.csv", "/api/v1/cases/export.csv", marker="reference")
simple("GET", "/api/v1/cases/export.json", "/api/v1/cases/export.json", marker="reference")
simple("POST", "/api/v1/cases", "/api/v1/cases", json={"title": "From the API", "category": "malicious-code",
                                                      "impact": "low", "urgency": "low"})
simple("GET", "/api/v1/cases/<int:case_id>", "/api/v1/cases/{case}")
simple("GET", "/api/v1/cases/<int:case_id>/timeline", "/api/v1/cases/{case}/timeline")
simple("POST", "/api/v1/cases/<int:case_id>/notes", "/api/v1/cases/{case}/notes", json=NOTE)
simple("GET", "/api/v1/cases/<int:case_id>/roles", "/api/v1/cases/{case}/roles")
simple("DELETE", "/api/v1/cases/<int:case_id>/roles/<code>", "/api/v1/cases/{case}/roles/scribe")
simple("GET", "/api/v1/incident-roles", "/api/v1/incident-roles")
simple("POST", "/api/v1/incident-roles", "/api/v1/incident-roles", json={"code": "forensics", "label": "Forensics"})
simple("PATCH", "/api/v1/incident-roles/<code>", "/api/v1/incident-roles/scribe", json={"label": "Scribe"})
simple("POST", "/cases/<int:case_id>/roles/<code>/release", "/cases/{case}/roles/scribe/release", data={})
simple("GET", "/admin/incident-roles", "/admin/incident-roles")
simple("POST", "/admin/incident-roles", "/admin/incident-roles",
       data={"code": "forensics_web", "label": "Forensics", "description": ""})
simple("POST", "/admin/incident-roles/<code>", "/admin/incident-roles/scribe",
       data={"label": "Scribe", "description": ""})


def _kind_request(action: str, retired: bool) -> Build:
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        code = ctx.fresh_kind()
        if retired:
            with ctx.db.transaction() as s:
                incident_roles.update_kind(s, Actor.system("test"), code, RoleKindUpdate(retired=True))
        return f"/admin/incident-roles/{code}/{action}", {"data": {}}
    return build


REQUESTS[("POST", "/admin/incident-roles/<code>/retire")] = _kind_request("retire", retired=False)
REQUESTS[("POST", "/admin/incident-roles/<code>/restore")] = _kind_request("restore", retired=True)


@request("PUT", "/api/v1/cases/<int:case_id>/roles/<code>")
def _api_assign_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    # A manager may hold a role on every case, restricted or not: the holder is never the reason for a refusal.
    return (f"/api/v1/cases/{ctx.world.cases[target].id}/roles/scribe",
            {"json": {"user": ctx.world.usernames["manager"]}})


@request("POST", "/cases/<int:case_id>/roles/<code>")
def _web_assign_role(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/cases/{ctx.world.cases[target].id}/roles/scribe", {"data": {"user": ctx.world.usernames["manager"]}}


simple("POST", "/api/v1/cases/<int:case_id>/events", "/api/v1/cases/{case}/events", json=EVENT)
simple("POST", "/api/v1/cases/<int:case_id>/escalate", "/api/v1/cases/{case}/escalate", json=ESCALATION)
simple("GET", "/api/v1/cases/<int:case_id>/evidence", "/api/v1/cases/{case}/evidence")
simple("POST", "/api/v1/cases/<int:case_id>/evidence/export", "/api/v1/cases/{case}/evidence/export")
simple("GET", "/api/v1/cases/<int:case_id>/indicators", "/api/v1/cases/{case}/indicators")
simple("POST", "/api/v1/cases/<int:case_id>/indicators/extract", "/api/v1/cases/{case}/indicators/extract",
       json={"text": "beacon to evil.example.com"})
simple("GET", "/api/v1/cases/<int:case_id>/stix/objects", "/api/v1/cases/{case}/stix/objects")
simple("GET", "/api/v1/cases/<int:case_id>/stix/objects/<string:object_id>",
       "/api/v1/cases/{case}/stix/objects/{indicator}")
simple("GET", "/api/v1/cases/<int:case_id>/stix", "/api/v1/cases/{case}/stix")
simple("GET", "/api/v1/indicators", "/api/v1/indicators?value={value}", marker="reference")
simple("GET", "/api/v1/evidence/<int:evidence_id>", "/api/v1/evidence/{evidence}")
simple("GET", "/api/v1/evidence/<int:evidence_id>/custody", "/api/v1/evidence/{evidence}/custody")
simple("GET", "/api/v1/evidence/<int:evidence_id>/content", "/api/v1/evidence/{evidence}/content?purpose=analysis")
simple("POST", "/api/v1/evidence/<int:evidence_id>/verify", "/api/v1/evidence/{evidence}/verify")


@request("POST", "/api/v1/cases/<int:case_id>/stix")
def _api_import(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [
        {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "created": T, "modified": T,
         "name": "Other", "is_family": False}]}
    return f"/api/v1/cases/{ctx.world.cases[target].id}/stix", {"json": bundle}


# Correcting an indicator: each request corrects a fresh one (a revoked indicator cannot be corrected again).
def _correction(api: bool, action: str, payload: dict[str, str]) -> Build:
    def build(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
        case_id, stix_id = ctx.fresh_indicator(target)
        path = f"{'/api/v1' if api else ''}/cases/{case_id}/stix/objects/{stix_id}/{action}"
        return path, {"json": payload} if api else {"data": payload}
    return build


for _api, _prefix in ((False, ""), (True, "/api/v1")):
    REQUESTS[("POST", f"{_prefix}/cases/<int:case_id>/stix/objects/<string:object_id>/revoke")] = _correction(
        _api, "revoke", {"reason": "a false positive"})
    REQUESTS[("POST", f"{_prefix}/cases/<int:case_id>/stix/objects/<string:object_id>/tlp")] = _correction(
        _api, "tlp", {"tlp": "amber+strict", "reason": "internal only"})


@request("POST", "/api/v1/users")
def _api_create_user(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/users", {"json": {"username": f"api{next(ctx.counter)}", "role": "analyst",
                                      "password": "a long enough passphrase 7"}}


@request("DELETE", "/api/v1/tokens/<int:token_id>")
def _api_revoke(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/tokens/{ctx.token_of(who)}", {}


@request("PATCH", "/api/v1/cases/<int:case_id>")
def _api_update(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    case_id = ctx.world.cases[target].id
    return f"/api/v1/cases/{case_id}", {"json": {"version": ctx.version(case_id),
                                                 "title": f"Renamed {next(ctx.counter)}"}}


@request("POST", "/api/v1/cases/<int:case_id>/transition")
def _api_transition(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/cases/{ctx.fresh_case(target)}/transition", {"json": {"to": "triage"}}


@request("POST", "/api/v1/cases/<int:case_id>/links")
def _api_link(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/cases/{ctx.world.cases[target].id}/links", {"json": {"case": ctx.fresh_case("case")}}


@request("POST", "/api/v1/cases/<int:case_id>/evidence")
def _api_upload(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    boundary = "matrix-api-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\napi upload\r\n--{boundary}--\r\n").encode()
    return f"/api/v1/cases/{ctx.world.cases[target].id}/evidence", {
        "data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


@request("POST", "/api/v1/evidence/<int:evidence_id>/transfer")
def _api_transfer(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/evidence/{ctx.fresh_evidence(target)}/transfer", {
        "json": {"to": ctx.world.usernames["manager"], "reason": "for the lab"}}


@request("POST", "/api/v1/evidence/<int:evidence_id>/seal")
def _api_seal(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/evidence/{ctx.fresh_evidence(target)}/seal", {"json": {"reason": "legal hold"}}


@request("POST", "/api/v1/evidence/<int:evidence_id>/release")
def _api_release(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/evidence/{ctx.sealed_evidence(target)}/release", {"json": {"reason": "hold lifted"}}


@request("POST", "/api/v1/evidence/<int:evidence_id>/dispose")
def _api_dispose(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/evidence/{ctx.fresh_evidence(target)}/dispose", {"json": {"reason": "retention ended"}}


# -- playbook runs (casemgr/playbooks/runs_api.py): each request on a run the member just started on a fresh case
def _fresh_run(ctx: Context, target: str) -> dict[str, Any]:
    from tests.playbooks.test_runs import DAG, playbook, store_version

    with ctx.db.transaction() as s:
        if s.scalar(select(PlaybookVersion.id)) is None:
            store_version(s, playbook(DAG))
    return ctx.as_member("POST", f"/api/v1/cases/{ctx.fresh_case(target)}/playbook-runs",  # type: ignore[no-any-return]
                         json={"playbook": "test-pb"})


@request("POST", "/api/v1/cases/<int:case_id>/playbook-runs")
def _api_start_run(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    _fresh_run(ctx, "case")  # the playbook is stored
    return f"/api/v1/cases/{ctx.fresh_case(target)}/playbook-runs", {"json": {"playbook": "test-pb"}}


@request("GET", "/api/v1/cases/<int:case_id>/playbook-runs")
def _api_runs(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/cases/{_fresh_run(ctx, target)['case_id']}/playbook-runs", {}


@request("GET", "/api/v1/playbook-runs/<int:run_id>")
def _api_run(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/playbook-runs/{_fresh_run(ctx, target)['id']}", {}


@request("POST", "/api/v1/playbook-runs/<int:run_id>")
def _api_change_run(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    run = _fresh_run(ctx, target)
    return f"/api/v1/playbook-runs/{run['id']}", {"json": {"action": "pause", "version": run["version"]}}


@request("POST", "/api/v1/playbook-runs/<int:run_id>/steps/<step_id>")
def _api_step(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    run = _fresh_run(ctx, target)
    return f"/api/v1/playbook-runs/{run['id']}/steps/triage", {"json": {"action": "start",
                                                                        "version": run["steps"][0]["version"]}}


# -- the run pages (casemgr/playbooks/run_views.py) and the case's Playbooks tab (casemgr/playbooks/case_views.py)
@request("POST", "/cases/<int:case_id>/playbooks")
def _web_start_run(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    _fresh_run(ctx, "case")  # the playbook is stored
    return f"/cases/{ctx.fresh_case(target)}/playbooks", {"data": {"playbook": "test-pb"}}


@request("GET", "/playbook-runs/<int:run_id>")
def _web_run(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/playbook-runs/{_fresh_run(ctx, target)['id']}", {}


@request("GET", "/playbook-runs/<int:run_id>/graph.svg")
def _web_run_graph(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    return f"/playbook-runs/{_fresh_run(ctx, target)['id']}/graph.svg", {}


@request("POST", "/playbook-runs/<int:run_id>/change")
def _web_change_run(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    run = _fresh_run(ctx, target)
    return f"/playbook-runs/{run['id']}/change", {"data": {"action": "pause", "version": str(run["version"])}}


@request("POST", "/playbook-runs/<int:run_id>/steps/<step_id>")
def _web_step(ctx: Context, who: str, target: str) -> tuple[str, dict[str, Any]]:
    run = _fresh_run(ctx, target)
    return f"/playbook-runs/{run['id']}/steps/triage", {"data": {"action": "start",
                                                                 "version": str(run["steps"][0]["version"])}}


# ---------------------------------------------------------------- the tests

def test_every_route_has_a_row_and_a_request(ctx: Context) -> None:
    routes = {(method, rule.rule) for rule in ctx.app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    rows = [(row["method"], row["rule"]) for row in _rows()]
    assert len(rows) == len(set(rows)), "a route has two rows"
    assert not routes - set(rows), f"routes without a row in {TABLE.name}: {sorted(routes - set(rows))}"
    assert not set(rows) - routes, f"rows for routes that do not exist: {sorted(set(rows) - routes)}"
    assert not routes - set(REQUESTS), f"routes without a request in this file: {sorted(routes - set(REQUESTS))}"


def test_the_table_is_well_formed() -> None:
    for row in _rows():
        assert set(row) == {"method", "rule", *COLUMNS, "pending_fix"}, row
        for column in COLUMNS:
            assert row[column] in OUTCOMES | {""}, (row["rule"], column, row[column])
        for column in ROLE_COLUMNS:
            assert row[column], (row["rule"], column, "every route has an outcome for every role")
        assert set(_pending(row)) <= set(COLUMNS), row["pending_fix"]


@pytest.mark.parametrize(("method", "rule", "column", "expected"), list(_cells()))
def test_matrix(ctx: Context, method: str, rule: str, column: str, expected: str) -> None:
    who, target = CALLERS[column]
    path, kw = REQUESTS[(method, rule)](ctx, who, target)
    response = _send(ctx, who, method, path, kw)
    got = _outcome(response)
    if got == "ok" and expected in {"shows", "hides"}:
        case = ctx.world.cases[target]
        marker = case.reference if kw.get("marker") == "reference" else case.indicator_value
        # a search field's placeholder gives an example reference (IR-2026-0001): a hint, not a case
        shown = re.sub(r'placeholder="[^"]*"', "", response.get_data(as_text=True))
        got = "shows" if marker in shown else "hides"
    assert got == expected, f"{who} {method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    if path.startswith("/api/v1/") and response.is_json:
        _conforms(ctx.document, method, rule, response)


def _send(ctx: Context, who: str, method: str, path: str, kw: dict[str, Any]) -> Any:
    kw = dict(kw)
    fresh = kw.pop("fresh_session", False)
    kw.pop("marker", None)
    stage = kw.pop("stage_bundle", False)
    csrf_header = kw.pop("csrf_header", False)
    if path.startswith(("/api/", "/taxii2/")):
        headers = ctx.token_headers(who)
        if path.startswith("/taxii2/"):
            headers["Accept"] = "application/taxii+json;version=2.1"
        return ctx.app.test_client().open(path, method=method, headers=headers, buffered=True, **kw)
    client = ctx.client(who)
    if fresh:  # signing in or out must not change the shared session
        client = WebClient(ctx.app.test_client())
        if who != "anonymous":
            client.login(ctx.world.usernames[who])
    if method == "GET":
        return client.get(path, **kw)
    if csrf_header:
        client.get("/")
        return client.client.open(path, method=method, headers={"X-CSRFToken": client.token or ""}, buffered=True,
                                  **kw)
    data = kw.pop("data", {})
    if stage:  # a bundle uploaded in this session waits for its confirmation: its ticket is on the page
        staged = client.post(path.replace("/confirm", "/upload"), {"bundle": (io.BytesIO(_bundle()), "b.json")},
                             content_type="multipart/form-data")
        ticket = re.search(r'name="token" value="([^"]+)"', staged.get_data(as_text=True))
        data = {**data, "token": ticket.group(1) if ticket else "none"}
    if isinstance(data, dict):
        return client.post(path, data, **kw)
    return client.client.open(path, method=method, data=data, buffered=True, **kw)


def _outcome(response: Any) -> str:
    status = response.status_code
    if status in {301, 302, 303}:
        return "login" if re.search(r"/login(\?|$)", response.headers.get("Location", "")) else "ok"
    if status < 300 or status == 409:
        return "ok"
    return str(status)


def _conforms(document: dict[str, Any], method: str, rule: str, response: Any) -> None:
    """The JSON answer matches the OpenAPI document's schema for its status."""
    path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
    operation = document["paths"][path][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path}: status {response.status_code} is not documented"
    content = documented.get("content", {})
    schema = next((c["schema"] for media, c in content.items() if media.startswith(response.mimetype)), None)
    assert schema is not None, f"{method} {path} {response.status_code}: {response.mimetype} is not documented"
    _validator(json.dumps(schema)).validate(response.get_json())


@functools.cache
def _validator(schema: str) -> jsonschema.protocols.Validator:
    document = _DOCUMENT[0]
    return jsonschema.Draft202012Validator({**_rebase(json.loads(schema)),
                                            "$defs": _rebase(document["components"]["schemas"])})


_DOCUMENT: list[dict[str, Any]] = []  # the OpenAPI document of the module's app, for _validator


def _rebase(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rebase(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema
