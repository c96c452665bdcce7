"""Settings: defaults overridden by CASEMGR_* environment variables, validated once.

A wrong or missing setting raises ConfigError naming the variable; the CLI and wsgi.py turn it
into one line on stderr instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is missing or malformed; `variable` names the environment variable."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
SIGNING_KEY_FILE = "signing_key.pem"


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    evidence_dir: Path
    secret_key: str | None = None
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_rate_limit: str = "20 per minute"
    audit_checkpoint_every: int = 100
    audit_log_file: Path | None = None
    audit_syslog: str | None = None
    trust_proxy: bool = False
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    max_body_bytes: int = 4 * 1024**2  # any request body, unless its route takes more (the two below)
    max_upload_bytes: int = 8 * 1024**3
    max_bundle_bytes: int = 256 * 1024**2  # largest STIX bundle accepted for import (413 beyond)
    import_workers: int = 1  # processes validating a large STIX import; from_env: the CPU count, at most 8
    organization_name: str = "casemgr"
    base_url: str | None = None  # the app's external URL (no trailing slash), for links that must be absolute
    own_domains: tuple[str, ...] = ()  # the organization's domains: indicators on them are flagged known-benign
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def secret_key_path(self) -> Path:
        return self.instance_dir / SECRET_KEY_FILE

    @property
    def signing_key_path(self) -> Path:
        return self.instance_dir / SIGNING_KEY_FILE

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_secret_key_loaded(self) -> Settings:
        """Return settings whose secret key is known, reading the instance file if needed.

        Raises ConfigError when neither CASEMGR_SECRET_KEY nor the generated file exists.
        """
        if self.secret_key:
            return self
        try:
            key = self.secret_key_path.read_text().strip()
        except FileNotFoundError:
            raise ConfigError(
                "CASEMGR_SECRET_KEY",
                f"not set and {self.secret_key_path} does not exist; run `casemgr init` first",
            ) from None
        if len(key) < 32:
            raise ConfigError("CASEMGR_SECRET_KEY", f"{self.secret_key_path} holds fewer than 32 characters")
        return replace(self, secret_key=key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment. Raises ConfigError naming the bad variable."""
        env = os.environ if environ is None else environ
        instance_dir = Path(env.get("CASEMGR_INSTANCE_DIR", "instance")).absolute()
        if instance_dir.exists() and not instance_dir.is_dir():
            raise ConfigError("CASEMGR_INSTANCE_DIR", f"{instance_dir} exists and is not a directory")
        database_url = env.get("CASEMGR_DATABASE_URL") or f"sqlite:///{instance_dir / 'casemgr.db'}"
        _check_database_url(database_url)
        evidence_dir = Path(env.get("CASEMGR_EVIDENCE_DIR", "evidence")).absolute()
        if evidence_dir.exists() and not evidence_dir.is_dir():
            raise ConfigError("CASEMGR_EVIDENCE_DIR", f"{evidence_dir} exists and is not a directory")
        secret_key = env.get("CASEMGR_SECRET_KEY") or None
        if secret_key is not None and len(secret_key) < 32:
            raise ConfigError("CASEMGR_SECRET_KEY", "must be at least 32 characters long")
        audit_file = env.get("CASEMGR_AUDIT_LOG_FILE") or None
        return cls(
            instance_dir=instance_dir,
            database_url=database_url,
            evidence_dir=evidence_dir,
            secret_key=secret_key,
            session_idle_minutes=_int(env, "CASEMGR_SESSION_IDLE_MINUTES", 30, 1, 24 * 60),
            session_max_hours=_int(env, "CASEMGR_SESSION_MAX_HOURS", 12, 1, 24 * 30),
            login_max_failures=_int(env, "CASEMGR_LOGIN_MAX_FAILURES", 5, 1, 100),
            login_lockout_minutes=_int(env, "CASEMGR_LOGIN_LOCKOUT_MINUTES", 15, 1, 24 * 60),
            login_rate_limit=_rate(env, "CASEMGR_LOGIN_RATE_LIMIT", "20 per minute"),
            audit_checkpoint_every=_int(env, "CASEMGR_AUDIT_CHECKPOINT_EVERY", 100, 1, 1_000_000),
            audit_log_file=Path(audit_file).absolute() if audit_file else None,
            audit_syslog=_syslog(env, "CASEMGR_AUDIT_SYSLOG"),
            trust_proxy=_bool(env, "CASEMGR_TRUST_PROXY", default=False),
            # The floors are OWASP's argon2id minimum (ASVS 5.0 appendix C); settings may only raise them.
            argon2_time_cost=_int(env, "CASEMGR_ARGON2_TIME_COST", 2, 2, 100),
            argon2_memory_kib=_int(env, "CASEMGR_ARGON2_MEMORY_KIB", 19456, 19456, 4 * 1024 * 1024),
            argon2_parallelism=_int(env, "CASEMGR_ARGON2_PARALLELISM", 1, 1, 64),
            max_body_bytes=_int(env, "CASEMGR_MAX_BODY_BYTES", 4 * 1024**2, 1024, 2**30),
            max_upload_bytes=_int(env, "CASEMGR_MAX_UPLOAD_BYTES", 8 * 1024**3, 1, 2**50),
            max_bundle_bytes=_int(env, "CASEMGR_MAX_BUNDLE_BYTES", 256 * 1024**2, 1, 2**40),
            # Each worker is a process of about 60 MiB: the cap keeps concurrent imports on a many-core server
            # from starting dozens each.
            import_workers=_int(env, "CASEMGR_IMPORT_WORKERS", min(len(os.sched_getaffinity(0)), 8), 1, 64),
            organization_name=env.get("CASEMGR_ORGANIZATION", "casemgr"),
            base_url=_base_url(env, "CASEMGR_BASE_URL"),
            own_domains=_domains(env, "CASEMGR_OWN_DOMAINS"),
        )


def generate_secret_key() -> str:
    return secrets.token_urlsafe(48)


def _check_database_url(url: str) -> None:
    # Imported here, not at the top: `casemgr --help` imports this module and must not load SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("CASEMGR_DATABASE_URL", f"cannot parse {url!r} as a database URL") from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(
            "CASEMGR_DATABASE_URL",
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite:/// or postgresql+psycopg://",
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ConfigError("CASEMGR_DATABASE_URL", "PostgreSQL URLs must use the psycopg driver: postgresql+psycopg://")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def _syslog(env: Mapping[str, str], name: str) -> str | None:
    """A syslog target: an absolute socket path (/dev/log) or host:port (UDP)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if raw.startswith("/"):
        return raw
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")  # [::1]:514
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(name, f"expected an absolute socket path such as /dev/log or host:port"
                                f" with a port from 1 to 65535, got {raw!r}")
    return raw


def _base_url(env: Mapping[str, str], name: str) -> str | None:
    """An absolute http(s) URL without credentials, query or fragment; returned without a trailing slash."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in {"http", "https"} or not parts.hostname or "@" in parts.netloc
            or parts.query or parts.fragment or raw.endswith(("?", "#"))):
        raise ConfigError(name, f"expected the URL the app is reached at, such as https://ir.example.org"
                                f" (http or https, no user, query or fragment), got {raw!r}")
    return raw.rstrip("/")


def _domains(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of domain names, normalized (lower-case A-labels)."""
    items = [item.strip() for item in (env.get(name) or "").split(",") if item.strip()]
    if not items:  # the usual case: no need to import the observable parsers (idna, email-validator)
        return ()
    from casemgr.errors import Invalid
    from casemgr.indicators.observables import domain_name

    found: list[str] = []
    for item in items:
        try:
            found.append(domain_name(item))
        except Invalid as exc:
            raise ConfigError(name, exc.message) from None
    return tuple(dict.fromkeys(found))


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if not raw:
        return default  # known to parse (tests/test_config.py); not importing `limits` for it saves ~30 ms
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(name, f"expected a rate such as '20 per minute', got {raw!r}") from None
    return raw
