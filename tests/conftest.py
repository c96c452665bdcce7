"""Fixtures shared by the whole suite.

The suite runs against SQLite by default and against PostgreSQL when CASEMGR_TEST_DATABASE_URL
names a server: a fresh database is created for the session (migrated with Alembic, which also
tests the migrations) and dropped at the end; every test starts from empty tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.wsgi import ClosingIterator

from casemgr import create_app, migrate
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.auth.schemas import NewToken, NewUser
from casemgr.cases.role_models import BUILTIN_KINDS, IncidentRoleKind
from casemgr.cases.taxonomy_models import TaxonomyCategory, TaxonomySubcategory
from casemgr.clock import ManualClock
from casemgr.config import Settings, generate_secret_key
from casemgr.db import Base, Database, utcnow
from casemgr.signing import Signer

PASSWORD = "correct horse battery staple 42"
IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


# ---------------------------------------------------------------- database per session

@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pg = os.environ.get("CASEMGR_TEST_DATABASE_URL")
    if not pg:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin_url = make_url(pg).set(drivername="postgresql+psycopg")
    name = f"casemgr_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        message = f"PostgreSQL at {admin_url.render_as_string()} is unreachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("instance")
    (path / "secret_key").write_text(generate_secret_key())
    Signer.generate(path / "signing_key.pem")
    return path


@pytest.fixture
def settings(migrated: str, instance_dir: Path, tmp_path: Path) -> Settings:
    return Settings.from_env({
        "CASEMGR_INSTANCE_DIR": str(instance_dir),
        "CASEMGR_DATABASE_URL": migrated,
        "CASEMGR_EVIDENCE_DIR": str(tmp_path / "evidence"),
    })


def _wipe(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE playbooks SET current_version_id = NULL"))  # playbooks <-> versions point both ways
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        # The built-in incident role kinds are data the migration seeds: put them back.
        conn.execute(IncidentRoleKind.__table__.insert(), [
            {"code": c, "label": label, "description": d, "builtin": True, "position": i, "created_at": utcnow()}
            for i, (c, label, d) in enumerate(BUILTIN_KINDS)])
        # So is the taxonomy of a fresh install (migration 0017, from the package's taxonomy.json).
        raw = json.loads(resources.files("casemgr.cases").joinpath("data/taxonomy.json").read_text("utf-8"))
        for i, c in enumerate(raw["categories"]):
            category_id = conn.execute(TaxonomyCategory.__table__.insert().values(
                code=c["code"], name=c["name"], description=c["description"], position=i)).inserted_primary_key[0]
            conn.execute(TaxonomySubcategory.__table__.insert(), [
                {"category_id": category_id, "code": sub["code"], "name": sub["name"],
                 "description": sub["description"], "position": j} for j, sub in enumerate(c["subcategories"])])
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that stands still until the test moves it (`clock.advance(minutes=31)`). A test that asks
    for it gets apps (`app`, `make_app`) whose services read the time from it: time passes by moving the
    clock, not by editing timestamps in rows."""
    return ManualClock()


@pytest.fixture
def make_app(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Callable[..., Flask]]:
    built: list[Flask] = []
    # Only the tests that ask for `clock` get it: everywhere else time runs as in production.
    clock = request.getfixturevalue("clock") if "clock" in request.fixturenames else None

    def build(**overrides: Any) -> Flask:
        app = create_app(replace(settings, **overrides) if overrides else settings, clock=clock)
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["casemgr.db"].dispose()
    _wipe(settings.database_url)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def db(app: Flask) -> Database:
    return app.extensions["casemgr.db"]  # type: ignore[no-any-return]


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    s = db.session(write=True)
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def system() -> Actor:
    return Actor.system("test")


# ---------------------------------------------------------------- users and clients

@pytest.fixture
def make_user(db: Database, system: Actor) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(role: Role | str = Role.ANALYST, username: str | None = None, password: str = PASSWORD) -> User:
        """An account with a built-in role or a custom role's code (the role must exist)."""
        role = str(role)
        name = username or f"{role}{next(counter)}"
        with db.transaction() as s:
            return auth.create_user(s, system, NewUser(username=name, role=role, password=password))

    return make


@pytest.fixture
def make_team(db: Database, system: Actor) -> Callable[..., Any]:
    """A team made through the teams service (as an admin would), e.g. make_team("CERT", lead="mia")."""
    from casemgr.teams import service as teams
    from casemgr.teams.schemas import NewTeam

    def make(name: str, **fields: Any) -> Any:
        with db.transaction() as s:
            return teams.create_team(s, system, NewTeam(name=name, **fields))

    return make


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class WebClient:
    """A signed-in (or not) browser-like test client that submits forms with their CSRF token.
    Responses are read whole and closed at once, as a real server closes them."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token: str | None = None

    def get(self, url: str, **kw: Any) -> Any:
        response = self.client.get(url, buffered=kw.pop("buffered", True), **kw)
        if response.mimetype == "text/html":
            found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
            if found:
                self.token = found.group(1)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        if self.token is None:
            self.get("/login")
        kw.setdefault("buffered", True)
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kw)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        self.get("/")
        return response


@pytest.fixture
def web(app: Flask) -> WebClient:
    return WebClient(app.test_client())


@pytest.fixture
def login(app: Flask, make_user: Callable[..., User]) -> Callable[..., WebClient]:
    def sign_in(role: Role | str = Role.ANALYST, username: str | None = None) -> WebClient:
        user = make_user(role, username)
        client = WebClient(app.test_client())
        response = client.login(user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        client.user = user  # type: ignore[attr-defined]
        return client

    return sign_in


class ApiClient:
    """An API test client with a bearer token. Responses are read whole and closed at once, as a
    real server closes them (a streamed body holds a database session or a file until closed)."""

    def __init__(self, client: FlaskClient, token: str, user: User) -> None:
        self.client, self.token, self.user = client, token, user

    def _headers(self, kw: dict[str, Any]) -> dict[str, Any]:
        kw.setdefault("buffered", True)
        return {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self._headers(kw), **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self._headers(kw), **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self._headers(kw), **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put(url, headers=self._headers(kw), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self._headers(kw), **kw)


@pytest.fixture
def api(app: Flask, db: Database, make_user: Callable[..., User], system: Actor) -> Callable[..., ApiClient]:
    def client_for(role: Role | str = Role.ANALYST, username: str | None = None) -> ApiClient:
        user = make_user(role, username)
        with db.transaction() as s:
            issued = auth.create_token(s, system, user.username, NewToken(name="test"))
        return ApiClient(app.test_client(), issued.secret, user)

    return client_for


# ---------------------------------------------------------------- cases

@pytest.fixture
def case_fields() -> dict[str, Any]:
    """The fields of a case opened by `open_case`; a test folder may override this fixture."""
    return {"title": "Suspicious sign-ins", "description": "Alert from the identity provider.",
            "category": "intrusion-attempts", "impact": "medium", "urgency": "medium"}


@pytest.fixture
def open_case(case_fields: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """open_case(client, **fields) -> the case created through the API as JSON (asserts 201)."""

    def create(client: Any, **fields: Any) -> dict[str, Any]:
        response = client.post("/api/v1/cases", json={**case_fields, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    return create


# ---------------------------------------------------------------- CLI

@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "CASEMGR_INSTANCE_DIR": str(settings.instance_dir),
        "CASEMGR_DATABASE_URL": settings.database_url,
        "CASEMGR_EVIDENCE_DIR": str(settings.evidence_dir),
    }


@pytest.fixture
def run_cli(cli_env: dict[str, str], app: Flask) -> Callable[..., Any]:
    """Run `casemgr ARGS` in-process against the test database (the app fixture wipes it after)."""
    from casemgr.cli import cli

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return CliRunner().invoke(cli, list(args), input=input, env={**cli_env, **(env or {})},
                                  catch_exceptions=False)

    return run


# ---------------------------------------------------------------- browser

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    executable = shutil.which("chromium")
    if executable is None:
        message = "Debian's chromium is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


class _InFlight:
    """WSGI middleware tracking requests until their response is closed (for a streamed response,
    after its last chunk was sent and Flask's teardown ran), so a server can be stopped only when
    no request still holds a database connection. Werkzeug's server skips close() when the client
    resets the connection; such a request is over when the thread that served it has ended."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.serving: dict[object, threading.Thread] = {}
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        key = object()
        with self.changed:
            self.serving[key] = threading.current_thread()

        def done() -> None:
            with self.changed:
                self.serving.pop(key, None)
                self.changed.notify_all()

        try:
            return ClosingIterator(self.app(environ, start_response), [done])
        except BaseException:
            done()
            raise

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while any(thread.is_alive() for thread in self.serving.values()) and time.monotonic() < deadline:
                self.changed.wait(0.05)  # a thread's end is not notified: look again shortly


@contextlib.contextmanager
def serving(wsgi_app: Any) -> Iterator[str]:
    """Serve a WSGI application on a free local port in a thread; yields its base URL. On exit,
    waits (up to 10 s) for requests still finishing before it stops the server."""
    in_flight = _InFlight(wsgi_app)
    server = make_server("127.0.0.1", 0, in_flight, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        in_flight.wait_idle(timeout=10)
        server.shutdown()
        thread.join(timeout=10)


def descendants(of: int | None = None, *, depth: int | None = None) -> set[int]:
    """The processes below `of` (default: this one), from /proc: its children, theirs, and so on,
    `depth` generations deep (None: all)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue  # gone meanwhile
    found: set[int] = set()
    frontier, generation = {os.getpid() if of is None else of}, 0
    while frontier and (depth is None or generation < depth):
        frontier, generation = {pid for pid, parent in parents.items() if parent in frontier}, generation + 1
        found |= frontier
    return found


def fork_server_children() -> set[int]:
    """The worker processes casemgr.parallel runs now: children of the fork server this process started."""
    servers = {pid for pid in descendants(depth=1)
               if b"multiprocessing.forkserver" in _read_or_empty(Path(f"/proc/{pid}/cmdline"))}
    return {pid for server in servers for pid in descendants(server, depth=1)}


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@pytest.fixture
def served_env() -> dict[str, str]:
    """More CASEMGR_* settings for `served`; a test module may override this fixture."""
    return {}


def serve_default(option: str) -> Any:
    """The default of a `casemgr serve` option, read from the command itself."""
    from casemgr.cli import serve

    return next(param.default for param in serve.params if param.name == option)


@pytest.fixture
def served_workers() -> int:
    """The number of processes `served` runs: `casemgr serve`'s own default; a test module may override it."""
    return int(serve_default("workers"))


@contextlib.contextmanager
def serve_process(settings: Settings, *, workers: int, env: dict[str, str] | None = None,
                  ready: Callable[[str], bool] | None = None) -> Iterator[str]:
    """Run `casemgr serve` (gunicorn, threaded, its default threads per process) on the test database;
    yields its base URL. `ready(base)` says when it is up (default: /healthz answers 200); at most 30 s.
    Fails the test if the server printed a traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CASEMGR_")}
    full_env.update(CASEMGR_INSTANCE_DIR=str(settings.instance_dir), CASEMGR_DATABASE_URL=settings.database_url,
                    CASEMGR_EVIDENCE_DIR=str(settings.evidence_dir), **(env or {}))
    casemgr = Path(sys.executable).with_name("casemgr")
    server = subprocess.Popen([str(casemgr), "serve", "--port", str(port), "--workers", str(workers)],
                              env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                break
            try:
                if ready(base) if ready else requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("casemgr serve did not answer within 30 s")
        if server.poll() is not None:
            pytest.fail(f"casemgr serve exited at start:\n{server.communicate()[0]}")
        yield base
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


@pytest.fixture
def served(settings: Settings, served_env: dict[str, str], served_workers: int) -> Iterator[str]:
    """`casemgr serve` as deployed (gunicorn, threaded, `served_workers` processes: by default as many as
    `casemgr serve` starts) on the test database, SQLite or PostgreSQL; yields its base URL.
    Fails the test if the server printed a traceback."""
    with serve_process(settings, workers=served_workers, env=served_env) as base:
        yield base


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    with serving(app) as url:
        yield url
