"""A small populated instance for the whole-API tests (the authorization matrix, schemathesis).

Built through the API (thin adapters over the services), as users would: one user per role with an
API token, and three cases opened by the analyst `member`:
- `case`: an ordinary case (TLP:AMBER) with an evidence item, an indicator, a note and a STIX bundle;
- `restricted`: a restricted case (hidden from analysts who are not members) with evidence and an indicator;
- `red`: a TLP:RED case, visible to every analyst, whose indicators are TLP:RED.
`outsider` is an analyst who is a member of none of them; `spare` an analyst for tests to change; `tier1` has
the custom role `tier-1` (TIER1: an analyst's permissions but evidence.download) and is a member of none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from casemgr.auth import roles
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role
from casemgr.auth.permissions import BUILT_IN, Permission
from casemgr.auth.role_schemas import NewRole
from casemgr.auth.schemas import NewToken, NewUser
from casemgr.db import Database
from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from tests.conftest import PASSWORD

ROLES: dict[str, str] = {"member": Role.ANALYST, "outsider": Role.ANALYST, "manager": Role.MANAGER,
                         "auditor": Role.AUDITOR, "admin": Role.ADMIN, "spare": Role.ANALYST, "tier1": "tier-1"}
TIER1 = sorted(p.value for p in BUILT_IN[Role.ANALYST] - {Permission.EVIDENCE_DOWNLOAD})
VALUES = {"case": "203.0.113.7", "restricted": "203.0.113.8", "red": "203.0.113.9"}  # each case's indicator
T = "2026-01-01T00:00:00.000Z"
CASE = {"title": "Beaconing from a finance laptop", "description": "EDR alert on outbound traffic.",
        "category": "malicious-code", "impact": "medium", "urgency": "high"}


@dataclass
class Seeded:
    """One case's objects: ids to put into URLs."""

    id: int
    reference: str
    evidence_id: int
    indicator_stix_id: str
    indicator_value: str
    sdo_stix_id: str


@dataclass
class World:
    tokens: dict[str, str]  # who (a key of ROLES) -> API token
    usernames: dict[str, str]
    token_ids: dict[str, int]
    cases: dict[str, Seeded] = field(default_factory=dict)  # "case", "restricted", "red"


def build_world(app: Flask, *, prefix: str = "") -> World:
    """Users, tokens and cases as described above. Evidence needs the instance's keyring."""
    db: Database = app.extensions["casemgr.db"]
    settings = app.extensions["casemgr.settings"]
    Keyring.create(settings.instance_dir / KEYRING_FILE)
    system = Actor.system("test")
    tokens, usernames, token_ids = {}, {}, {}
    with db.transaction() as s:  # a custom role (the tier-1 analyst), to check every route for it too
        roles.create_role(s, system, NewRole(code="tier-1", name="Tier-1 analyst", permissions=TIER1))
    for who, role in ROLES.items():
        with db.transaction() as s:
            user = auth.create_user(s, system, NewUser(username=f"{prefix}{who}", role=role, password=PASSWORD))
            issued = auth.create_token(s, system, user.username, NewToken(name=f"{who} token"))
            tokens[who], usernames[who], token_ids[who] = issued.secret, user.username, issued.token.id
    world = World(tokens, usernames, token_ids)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens['member']}"}
    for name, fields in (("case", {}), ("restricted", {"restricted": True}), ("red", {"tlp": "red"})):
        world.cases[name] = _seed_case(client, headers, {**CASE, "title": f"{CASE['title']} ({name})", **fields},
                                       VALUES[name])
    return world


def _seed_case(client: Any, headers: dict[str, str], fields: dict[str, Any], value: str) -> Seeded:
    def ok(response: Any, status: int = 201) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    case = ok(client.post("/api/v1/cases", json=fields, headers=headers))
    cid = case["id"]
    ok(client.post(f"/api/v1/cases/{cid}/notes", json={"body": "First look: **beaconing** every 60 s."},
                   headers=headers))
    boundary = "world-boundary-1f2e"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\nEDR triage package\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="triage.txt"\r\n'
            "Content-Type: text/plain\r\n\r\nprocess list and netstat output\n"
            f"\r\n--{boundary}--\r\n").encode()
    evidence = ok(client.post(f"/api/v1/cases/{cid}/evidence", data=body, headers=headers,
                              content_type=f"multipart/form-data; boundary={boundary}"))
    indicator = ok(client.post(f"/api/v1/cases/{cid}/indicators", json={"type": "ipv4-addr", "value": value},
                               headers=headers))
    malware_id = f"malware--{uuid.uuid4()}"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [
        {"type": "malware", "spec_version": "2.1", "id": malware_id, "created": T, "modified": T,
         "name": "Beacon", "is_family": False},
        {"type": "relationship", "spec_version": "2.1", "id": f"relationship--{uuid.uuid4()}", "created": T,
         "modified": T, "relationship_type": "indicates", "source_ref": indicator["stix_id"],
         "target_ref": malware_id},
    ]}
    ok(client.post(f"/api/v1/cases/{cid}/stix", json=bundle, headers=headers), 200)
    return Seeded(cid, case["reference"], evidence["id"], indicator["stix_id"], value, malware_id)


def spare_token(app: Flask, world: World, who: str) -> int:
    """Another token of `who`'s, for a test to revoke (the one in `world.tokens` stays valid)."""
    db: Database = app.extensions["casemgr.db"]
    with db.transaction() as s:
        issued = auth.create_token(s, Actor.system("test"), world.usernames[who], NewToken(name="spare"))
        return issued.token.id
