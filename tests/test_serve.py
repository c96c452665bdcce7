"""`casemgr serve` as deployed: several gunicorn processes forked from one master, each with database
connections of its own. The app factory opens nothing that a fork would share."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from casemgr import create_app

from .conftest import PASSWORD, serve_default, serve_process
from .forms import form_on

STARTS = 5
AT_ONCE = 16


def _listening(base: str) -> bool:
    """The master has bound its socket: requests sent now wait for the workers being forked."""
    url = urllib.parse.urlsplit(base)
    try:
        socket.create_connection((url.hostname, url.port), timeout=1).close()
    except OSError as exc:
        raise requests.ConnectionError(str(exc)) from None
    return True


def test_requests_right_after_each_start_all_succeed(settings, api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    headers = {"Authorization": f"Bearer {analyst.token}"}
    paths = ["/api/v1/me", f"/api/v1/cases/{case['id']}", "/api/v1/cases", "/healthz"]

    def fetch(path: str, base: str) -> tuple[str, int | str]:
        try:
            return path, requests.get(base + path, headers=headers, timeout=20).status_code
        except requests.RequestException as exc:  # a hang or a dropped connection: a failure, not an error
            return path, type(exc).__name__

    workers = serve_default("workers")
    assert workers >= 2
    for _ in range(STARTS):
        with serve_process(settings, workers=workers, ready=_listening) as base, \
                ThreadPoolExecutor(AT_ONCE) as pool:
            answers = list(pool.map(fetch, [paths[i % len(paths)] for i in range(AT_ONCE)], [base] * AT_ONCE))
        assert [status for _, status in answers] == [200] * AT_ONCE, answers


def test_the_factory_opens_no_database_connection(settings):
    app = create_app(settings)
    pool = app.extensions["casemgr.db"].engine.pool
    try:
        # Nothing checked out, and nothing idle in the pool either: a forked worker would share it.
        assert (pool.checkedout(), pool.checkedin()) == (0, 0)
    finally:
        app.extensions["casemgr.db"].dispose()


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    found = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the directory's own descriptor is gone by now
            found.add(os.readlink(fd))
    return found


def test_the_factory_leaves_no_file_or_socket_open(settings, tmp_path):
    # The audit stream to a file and to syslog, and SQLite: the handles most likely to be opened early.
    configured = replace(settings, audit_log_file=tmp_path / "audit.jsonl", audit_syslog="127.0.0.1:514")
    create_app(configured).extensions["casemgr.db"].dispose()  # modules imported, caches warm
    before = _open_files()
    app = create_app(configured)
    try:
        assert _open_files() - before == set()
    finally:
        app.extensions["casemgr.db"].dispose()


def test_a_forked_process_drops_the_connections_it_inherited(db):
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        parents = conn.connection.dbapi_connection
    assert db.engine.pool.checkedin() == 1  # what a master that had queried would hand on
    pid = os.fork()
    if pid == 0:  # the child: a new pool, the parent's connection neither used nor closed
        os._exit(0 if db.engine.pool.checkedin() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with db.engine.connect() as conn:  # the parent's connection still works: the child did not close it
        assert conn.connection.dbapi_connection is parents
        assert conn.execute(text("SELECT 1")).scalar() == 1


class HttpClient:
    """A browser's side of real HTTP for tests/forms.py: `get` and the `post` that `Form.submit` makes, on one
    cookie jar, redirects not followed (a test follows them, as `followed` does)."""

    def __init__(self, base: str) -> None:
        self.base, self.http = base, requests.Session()
        self.shown = ""  # the path of the page `page` last showed after a redirect

    def get(self, path: str, **_kw: Any) -> HttpResponse:
        return HttpResponse(self.http.get(self.base + path, allow_redirects=False, timeout=20))

    def post(self, path: str, *, data: dict[str, list[Any]], **_kw: Any) -> HttpResponse:
        pairs = [(name, value) for name, values in data.items() for value in values]
        return HttpResponse(self.http.post(self.base + path, data=pairs, allow_redirects=False, timeout=20))

    def page(self, response: HttpResponse) -> str:
        """What the browser shows after a form: the redirect's target (200), or the response itself."""
        if response.status_code in (302, 303):
            location = urllib.parse.urlsplit(response.headers["Location"])
            self.shown = location.path
            response = self.get(location.path + (f"?{location.query}" if location.query else ""))
        alerts = re.findall(r'role="alert"[^<]*<[^<]*<[^<]*', response.get_data(as_text=True))
        assert response.status_code == 200, (response.status_code, alerts)
        return response.get_data(as_text=True)

    def sign_in(self, username: str) -> str:
        return self.page(form_on(self, "/login", has="password").submit(self, {"username": username,
                                                                             "password": PASSWORD}))


class HttpResponse:
    def __init__(self, response: requests.Response) -> None:
        self.status_code, self.headers, self._text = response.status_code, response.headers, response.text

    def get_data(self, as_text: bool = False) -> str:
        return self._text


def test_teams_roles_and_a_hand_over_through_the_pages_as_deployed(settings, make_user):
    for role, name in (("admin", "adm"), ("manager", "mia"), ("analyst", "ann"), ("analyst", "bob")):
        make_user(role, name)
    workers = serve_default("workers")
    assert workers >= 2
    with serve_process(settings, workers=workers) as base:
        admin, manager = HttpClient(base), HttpClient(base)
        admin.sign_in("adm")
        for name, lead in (("SOC", "mia"), ("CERT", "bob")):
            page = admin.page(form_on(admin, "/admin/teams", testid="new-team-form").submit(
                admin, {"name": name, "lead": lead, "contact_email": f"{name.lower()}@example.org"}))
            assert f"Team {name} created." in page
        team_url = re.search(r'action="(/admin/teams/\d+)"', page).group(1)  # CERT's page, where the admin is now
        page = admin.page(form_on(admin, team_url, testid="add-member-form").submit(admin, {"username": "ann"}))
        assert "Member added to team CERT." in page
        assert 'data-testid="member-ann"' in page
        assert "bob (lead)" in page
        listed = admin.get("/admin/teams").get_data(as_text=True)
        assert re.search(r">CERT</a></td>\s*<td>bob</td><td>2</td>", listed), listed

        manager.sign_in("mia")
        new = form_on(manager, "/cases/new", testid="case-form")
        page = manager.page(new.submit(manager, {"title": "Ransomware on the file server", "team": "SOC",
                                                 "category": "malicious-code", "impact": "high", "urgency": "high"}))
        case_url = manager.shown  # the new case's page
        assert re.fullmatch(r"/cases/\d+", case_url), case_url
        assert re.search(r"<dt>Team</dt><dd>SOC", page)
        page = manager.page(form_on(manager, case_url, testid="role-form-incident_commander").submit(
            manager, {"user": "ann"}))
        assert "Incident role assigned." in page
        assert "ann" in page.split('data-role="incident_commander"')[1].split("</tr>")[0]
        page = manager.page(form_on(manager, case_url, testid="escalate-form").submit(
            manager, {"kind": "functional", "to_team": "CERT", "reason": "needs forensics"}))
        assert "Case escalated." in page
        assert re.search(r"<dt>Team</dt><dd>CERT", page)
        assert "ann" in page.split('data-role="incident_commander"')[1].split("</tr>")[0]  # the role stays
        timeline = manager.get(f"{case_url}/timeline").get_data(as_text=True)
        assert "Team changed from SOC to CERT (functional escalation)" in timeline
        assert "Incident commander: no one → ann" in timeline
