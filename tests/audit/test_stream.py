"""Committed audit entries are streamed as JSON lines to a file and to syslog, for a SIEM."""

from __future__ import annotations

import json
import queue
import socket
import socketserver
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from casemgr import collaborators
from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry
from casemgr.config import ConfigError

NEW_PASSWORD = "a long and unguessable passphrase 917"
WRONG_PASSWORD = "definitely not the password 3301"


@pytest.fixture
def closing(make_app):
    """Build an app and close its audit stream (open file, socket) after the test."""
    built = []

    def build(**overrides):
        app = make_app(**overrides)
        built.append(app)
        return app

    yield build
    for app in built:
        collaborators.audit_trail(app.extensions["casemgr.db"]).close()


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def db_entries(db) -> list[dict]:
    with db.session(write=False) as s:
        return [audit.entry_to_dict(e) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def append_then_fail(db, system, action: str) -> None:
    with db.transaction() as s:
        audit.record(s, system, action, "thing", 0)
        raise RuntimeError("the change fails after its audit entry was written")


def test_each_committed_entry_becomes_one_json_line(closing, tmp_path, system):
    log = tmp_path / "audit.jsonl"
    db = closing(audit_log_file=log).extensions["casemgr.db"]
    with db.transaction() as s:
        audit.record(s, system, "test.one", "thing", 1, {"a": 1})
        audit.record(s, system, "test.two", "thing", 2, {"b": [1, 2]})
    with db.transaction() as s:
        audit.record(s, system, "test.three", "thing", 3)
    lines = read_lines(log)
    assert lines == db_entries(db)
    assert [line["action"] for line in lines] == ["test.one", "test.two", "test.three"]
    assert lines[1]["summary"] == {"b": [1, 2]}
    assert lines[2]["prev_hash"] == lines[1]["hash"]


def test_nothing_is_streamed_before_the_commit_or_for_a_rollback(closing, tmp_path, system):
    log = tmp_path / "audit.jsonl"
    db = closing(audit_log_file=log).extensions["casemgr.db"]
    s = db.session(write=True)
    try:
        audit.record(s, system, "test.pending", "thing", 1)
        assert read_lines(log) == []
        s.rollback()
        audit.record(s, system, "test.kept", "thing", 2)
        s.commit()
    finally:
        s.close()
    with pytest.raises(RuntimeError):
        append_then_fail(db, system, "test.failed")
    assert [line["action"] for line in read_lines(log)] == ["test.kept"]
    assert [e["action"] for e in db_entries(db)] == ["test.kept"]


def test_a_rolled_back_savepoint_streams_only_what_committed(closing, tmp_path, system):
    log = tmp_path / "audit.jsonl"
    db = closing(audit_log_file=log).extensions["casemgr.db"]
    with db.transaction() as s:
        audit.record(s, system, "test.outer", "thing", 1)
        savepoint = s.begin_nested()
        audit.record(s, system, "test.inner", "thing", 2)
        savepoint.rollback()
        audit.record(s, system, "test.after", "thing", 3)
    assert [line["action"] for line in read_lines(log)] == ["test.outer", "test.after"]
    assert [line["action"] for line in read_lines(log)] == [e["action"] for e in db_entries(db)]


def test_a_failed_web_request_streams_nothing(closing, tmp_path, make_user):
    log = tmp_path / "audit.jsonl"
    app = closing(audit_log_file=log)
    make_user("admin", "boss")
    from tests.conftest import WebClient

    client = WebClient(app.test_client())
    client.login("boss")
    before = len(read_lines(log))
    response = client.post("/admin/users", {"username": "boss", "role": "analyst", "password": NEW_PASSWORD})
    assert response.status_code == 409
    assert len(read_lines(log)) == before


class SyslogReceiver(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.received.put(self.request[0])  # type: ignore[attr-defined]


@pytest.fixture
def syslog_server() -> Iterator[socketserver.UDPServer]:
    server = socketserver.UDPServer(("127.0.0.1", 0), SyslogReceiver)
    server.received = queue.Queue()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_entries_reach_a_syslog_receiver(closing, syslog_server, system):
    port = syslog_server.server_address[1]
    db = closing(audit_syslog=f"127.0.0.1:{port}").extensions["casemgr.db"]
    with db.transaction() as s:
        audit.record(s, system, "test.syslog", "thing", 7, {"why": "siem"})
    with pytest.raises(RuntimeError):
        append_then_fail(db, system, "test.rolled_back")
    with db.transaction() as s:
        audit.record(s, system, "test.second", "thing", 9)
    datagrams = [syslog_server.received.get(timeout=10) for _ in range(2)]  # type: ignore[attr-defined]
    messages = [d.decode().rstrip("\x00") for d in datagrams]
    assert all(m.startswith("<14>casemgr-audit: ") for m in messages)  # facility user, severity info
    bodies = [json.loads(m.split(": ", 1)[1]) for m in messages]
    assert bodies == db_entries(db)
    assert [b["action"] for b in bodies] == ["test.syslog", "test.second"]
    assert syslog_server.received.empty()  # type: ignore[attr-defined]


def test_no_secrets_in_the_audit_log_or_stream(closing, tmp_path, run_cli, syslog_server):
    """Passwords and token values never reach the audit table or the SIEM stream."""
    log = tmp_path / "audit.jsonl"
    port = syslog_server.server_address[1]
    app = closing(audit_log_file=log, audit_syslog=f"127.0.0.1:{port}")
    db = app.extensions["casemgr.db"]
    from tests.conftest import PASSWORD, WebClient

    stream_env = {"CASEMGR_AUDIT_LOG_FILE": str(log), "CASEMGR_AUDIT_SYSLOG": f"127.0.0.1:{port}"}
    admin_password = "the admin's own passphrase 5521"
    cli_password = "typed into the cli prompt 7788"
    assert run_cli("user", "create", "root", "--role", "admin", "--password-stdin",
                   input=admin_password + "\n", env=stream_env).exit_code == 0
    admin = WebClient(app.test_client())
    assert admin.login("root", admin_password).status_code == 302
    response = admin.post("/admin/users", {"username": "alice", "role": "analyst", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert run_cli("user", "create", "bob", "--role", "auditor", "--password-stdin",
                   input=cli_password + "\n", env=stream_env).exit_code == 0

    alice = WebClient(alice_client := app.test_client())
    assert alice.login("alice", WRONG_PASSWORD).status_code == 401
    assert alice.login("alice", NEW_PASSWORD).status_code == 302
    page = alice.post("/account/tokens", {"name": "laptop", "expires_days": "30"})
    assert page.status_code == 201
    web_token = page.get_data(as_text=True).split('data-testid="new-token">')[1].split("<")[0]
    assert alice_client.get("/api/v1/me", headers={"Authorization": f"Bearer {web_token}"}).status_code == 200
    cli_token = run_cli("token", "create", "bob", env=stream_env).stdout.strip().splitlines()[-1]
    api_token = alice_client.post("/api/v1/tokens", json={"name": "script"},
                                  headers={"Authorization": f"Bearer {web_token}"}).get_json()["token"]
    change = alice.post("/account/password", {"current_password": NEW_PASSWORD, "new_password": PASSWORD})
    assert change.status_code == 302

    secrets = [admin_password, NEW_PASSWORD, WRONG_PASSWORD, cli_password, PASSWORD]
    for token in (web_token, cli_token, api_token):
        assert token.startswith("cm_")
        secrets.append(token[3:])  # the part after the public prefix
    actions = {e["action"] for e in db_entries(db)}
    assert {"user.create", "auth.login", "auth.login_failed", "token.create", "user.password_change"} <= actions
    with db.engine.connect() as conn:
        stored = repr(conn.execute(select(AuditEntry.__table__)).all())
    streamed = log.read_text()
    received = []
    while not syslog_server.received.empty():  # type: ignore[attr-defined]
        received.append(syslog_server.received.get().decode())  # type: ignore[attr-defined]
    assert len(streamed.splitlines()) == len(db_entries(db))
    for secret in secrets:
        assert secret not in stored
        assert secret not in streamed
        assert all(secret not in r for r in received)


def test_a_receiver_can_check_the_chain_from_the_stream_alone(closing, tmp_path, system):
    """The algorithm in docs/audit-log.md, applied to the JSON lines with nothing but hashlib and rfc8785."""
    import datetime as dt
    import hashlib

    import rfc8785

    log = tmp_path / "audit.jsonl"
    db = closing(audit_log_file=log).extensions["casemgr.db"]
    for i in range(5):
        with db.transaction() as s:
            audit.record(s, system, "test.siem", "thing", i, {"n": i, "text": "ünïcode ✓", "nested": {"b": 1, "a": 2}})
    prev = "0" * 64
    lines = read_lines(log)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    for line in lines:
        canonical = {k: line[k] for k in ["seq", "actor_type", "actor_id", "token_id", "action", "object_type",
                                          "object_id", "summary", "source_ip", "request_id", "via"]}
        canonical["actor_name"] = line["actor"]
        when = dt.datetime.fromisoformat(line["occurred_at"]).astimezone(dt.UTC)
        canonical["occurred_at"] = when.isoformat(timespec="microseconds")
        assert line["prev_hash"] == prev
        assert hashlib.sha256(prev.encode() + rfc8785.dumps(canonical)).hexdigest() == line["hash"]
        prev = line["hash"]


class _UDP6Server(socketserver.UDPServer):
    address_family = socket.AF_INET6


def test_entries_reach_a_syslog_receiver_on_ipv6(closing, system):
    try:
        server = _UDP6Server(("::1", 0), SyslogReceiver)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    server.received = queue.Queue()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        db = closing(audit_syslog=f"[::1]:{server.server_address[1]}").extensions["casemgr.db"]
        with db.transaction() as s:
            audit.record(s, system, "test.syslog6", "thing", 1)
        message = server.received.get(timeout=10).decode()  # type: ignore[attr-defined]
        assert json.loads(message.rstrip("\x00").split(": ", 1)[1])["action"] == "test.syslog6"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_audit_file_is_created_readable_by_its_owner_only(closing, tmp_path, system):
    log = tmp_path / "audit.jsonl"
    db = closing(audit_log_file=log).extensions["casemgr.db"]
    assert log.exists()  # at start: a path that cannot be written stops the start, not the stream
    with db.transaction() as s:
        audit.record(s, system, "test.private", "thing", 1)
    assert [line["action"] for line in read_lines(log)] == ["test.private"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_an_audit_file_that_cannot_be_written_stops_the_start(make_app, tmp_path):
    with pytest.raises(ConfigError, match="CASEMGR_AUDIT_LOG_FILE: cannot write .*missing"):
        make_app(audit_log_file=tmp_path / "missing" / "audit.jsonl")
