"""casemgr: a security incident response case manager."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casemgr.config import ConfigError, Settings

if TYPE_CHECKING:  # Flask and SQLAlchemy are imported when an app is built: `casemgr --help` needs neither
    from flask import Flask

    from casemgr.clock import Clock
    from casemgr.db import Database
    from casemgr.signing import Signer

PACKAGE_DIR = Path(__file__).parent

# The domains, each a package of casemgr listed once here. A domain's package (its __init__.py)
# has `register(app)` for its pages, `api_blueprint()` for its part of /api/v1, and `COMMANDS` (name ->
# help line) for its groups of the `casemgr` command, defined in its `cli` module. Listing a domain
# imports nothing: create_app imports the packages, `casemgr` reads their COMMANDS and imports a
# group's module only to run it (docs/architecture.md). A new domain is one more line.
DOMAINS: tuple[str, ...] = (
    "casemgr.auth",
    "casemgr.audit",
    "casemgr.cases",
    "casemgr.indicators",
    "casemgr.evidence",
    "casemgr.teams",
    "casemgr.configfiles",
    "casemgr.playbooks",
)


def create_app(settings: Settings | None = None, *, domains: Sequence[str] = DOMAINS,
               clock: Clock | None = None) -> Flask:
    """Build the app from settings (default: the environment) with each of `domains` registered.
    Wiring only: no migration, no seeding, and no database query: whatever the factory opened, a
    server's master process would hand on to every worker it forks. The checks that read the
    database are `check_before_serving`.
    `clock`: where services read the time (default: the system clock; tests pass a ManualClock)."""
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from casemgr import api, fields, filters, home, web

    settings = (settings or Settings.from_env()).with_secret_key_loaded()
    assert settings.secret_key is not None
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_NAME="casemgr_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_max_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which expires on its own
        MAX_CONTENT_LENGTH=settings.max_body_bytes,  # per route, see casemgr.web.larger_body
        JSON_SORT_KEYS=False,
    )
    app.extensions["casemgr.settings"] = settings
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    db = build_database(settings, clock=clock)
    web.init_web(app, db)
    filters.register(app)
    app.register_blueprint(home.bp)
    packages = [importlib.import_module(name) for name in domains]
    for package in packages:
        package.register(app)
    api_bp = api.make_api([package.api_blueprint() for package in packages])
    app.register_blueprint(api_bp)
    web.csrf_exempt(app, api_bp)
    fields.build_validators()

    return app


def check_before_serving(app: Flask) -> None:
    """Refuse to serve when the signing key, or a master key that wraps stored evidence, is missing.
    Run once where a server starts (`casemgr serve` before gunicorn forks, wsgi.py); it leaves no
    connection open.

    Raises ConfigError naming the missing key, or the database being unusable.
    """
    from casemgr import collaborators
    from casemgr.evidence.vault import check_master_keys

    db: Database = app.extensions["casemgr.db"]
    collaborators.audit_trail(db).signer  # noqa: B018  # loaded now: a missing or unreadable key stops the start
    try:
        check_master_keys(db, collaborators.vault(db))
    finally:
        db.dispose()


def build_database(settings: Settings, *, clock: Clock | None = None) -> Database:
    """The database with the collaborators every service session carries (see casemgr.collaborators).

    Building it loads no library that only some commands use (argon2, cryptography): the password
    hasher and the signing key are loaded on first use, so that `casemgr case list` starts fast
    (tests/test_cli_startup.py). `check_before_serving` loads the signing key before a server starts.
    """
    from casemgr.audit.trail import AuditTrail
    from casemgr.auth.policy import AuthPolicy
    from casemgr.clock import SystemClock
    from casemgr.collaborators import AUTH_POLICY, CLOCK, SETTINGS
    from casemgr.db import Database
    from casemgr.evidence.vault import EvidenceVault

    settings = settings.with_secret_key_loaded()
    assert settings.secret_key is not None
    db = Database(settings.database_url)
    trail = AuditTrail(partial(_load_signer, settings.signing_key_path), settings.audit_checkpoint_every,
                       _audit_stream(settings))
    trail.install(db.info, [db._read, db._write])
    AUTH_POLICY.install(db.info, AuthPolicy(
        argon2=(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
        session_idle=dt.timedelta(minutes=settings.session_idle_minutes),
        session_max_age=dt.timedelta(hours=settings.session_max_hours),
        max_failures=settings.login_max_failures,
        lockout=dt.timedelta(minutes=settings.login_lockout_minutes),
        secret_key=settings.secret_key,
        attempt_rate=settings.login_rate_limit,
    ))
    SETTINGS.install(db.info, settings)
    CLOCK.install(db.info, clock or SystemClock())
    EvidenceVault.from_settings(settings).install(db.info, [db._read, db._write], db)
    return db


def _load_signer(path: Path) -> Signer:
    from casemgr.signing import Signer

    return Signer.load(path)


def _audit_stream(settings: Settings) -> logging.Logger | None:
    """A logger that receives each committed audit entry as one JSON line (for a SIEM)."""
    if settings.audit_log_file is None and settings.audit_syslog is None:
        return None
    logger = logging.getLogger(f"casemgr.audit.stream.{id(settings)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):  # a logger left by an app whose settings had the same id()
        logger.removeHandler(handler)
        handler.close()
    if settings.audit_log_file is not None:
        file_handler = _AuditFileHandler(settings.audit_log_file)
        file_handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(file_handler)
    if settings.audit_syslog is not None:
        logger.addHandler(_syslog_handler(settings.audit_syslog))
    return logger


class _AuditFileHandler(logging.FileHandler):
    """Appends to the audit JSON-lines file, created 0600: it names users and what they did.

    The file is opened by the first entry, in the process that writes it: a file the factory
    opened would be inherited by every worker a server forks. It is created (or opened and
    closed) here so that a path that cannot be written stops the start instead of the stream.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)
        try:
            self._open().close()
        except OSError as exc:
            raise ConfigError("CASEMGR_AUDIT_LOG_FILE", f"cannot write {path}: {exc.strerror}") from None

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def _syslog_handler(target: str) -> logging.Handler:
    import logging.handlers  # socket and pickle: for an instance that streams its audit trail to syslog

    if target.startswith("/"):
        handler = logging.handlers.SysLogHandler(address=target)
    else:
        host, _, port = target.rpartition(":")
        handler = logging.handlers.SysLogHandler(address=(host.strip("[]") or "127.0.0.1", int(port or 514)))
    handler.setFormatter(logging.Formatter("casemgr-audit: %(message)s"))
    # The first entry makes the socket again, in the process that sends it (as for the file above).
    sock, handler.socket = handler.socket, None  # type: ignore[attr-defined]  # (not in typeshed)
    if sock is not None:
        sock.close()
    return handler
