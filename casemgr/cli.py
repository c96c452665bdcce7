"""The `casemgr` command: one click group; each domain adds its own subcommands."""

from __future__ import annotations

import getpass
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import click
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from casemgr.auth.actor import Actor
from casemgr.config import ConfigError, Settings, generate_secret_key
from casemgr.errors import DomainError


class CliContext:
    """Settings and (lazily) the database, shared by the subcommands of one invocation."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db: Any = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    @property
    def db(self) -> Any:
        if self._db is None:
            from casemgr import build_database

            self._db = build_database(self.settings)
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.db.transaction() as session:
            yield session

    def actor(self) -> Actor:
        return Actor.system(f"cli:{getpass.getuser()}")

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain and configuration errors into one line on stderr and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"casemgr: configuration error: {exc}", err=True)
            sys.exit(2)
        except (OperationalError, InterfaceError) as exc:
            # An unreachable server or an unopenable SQLite file: a setting to fix, not a traceback.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            click.echo(f"casemgr: configuration error: CASEMGR_DATABASE_URL: cannot use the database: {reason}",
                       err=True)
            sys.exit(2)
        except DomainError as exc:
            where = f" ({exc.field})" if exc.field else ""
            click.echo(f"casemgr: error{where}: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """casemgr: security incident response case manager."""
    obj = ctx.ensure_object(CliContext)
    ctx.call_on_close(obj.close)


@cli.command()
@click.option("--no-admin", is_flag=True, help="Do not create the first admin account.")
@pass_ctx
@reports_errors
def init(ctx: CliContext, no_admin: bool) -> None:
    """Create or upgrade the instance: directories, keys, database schema, first admin."""
    from casemgr import migrate
    from casemgr.signing import Signer

    settings = ctx.settings
    try:
        settings.instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(settings.instance_dir, 0o700)
        if not settings.secret_key and not settings.secret_key_path.exists():
            fd = os.open(settings.secret_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(generate_secret_key())
        Signer.generate(settings.signing_key_path)
    except OSError as exc:
        raise ConfigError("CASEMGR_INSTANCE_DIR", f"cannot set up {settings.instance_dir}: {exc.strerror}") from None
    try:
        settings.evidence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        before = stat.S_IMODE(settings.evidence_dir.stat().st_mode)
        if before != 0o700:  # a directory made beforehand (by hand, a package, a volume mount)
            os.chmod(settings.evidence_dir, 0o700)
            click.echo(f"evidence directory {settings.evidence_dir}: mode {before:04o} tightened to 0700")
    except OSError as exc:
        raise ConfigError("CASEMGR_EVIDENCE_DIR", f"cannot set up {settings.evidence_dir}: {exc.strerror}") from None
    _ensure_keyring(settings)
    migrate.upgrade(settings.database_url)
    if settings.is_sqlite:
        from sqlalchemy.engine import make_url

        db_file = make_url(settings.database_url).database
        if db_file and os.path.exists(db_file):
            os.chmod(db_file, 0o600)
    click.echo(f"database at head: {_redact(settings.database_url)}")
    if not no_admin:
        _ensure_first_admin(ctx)


def _ensure_keyring(settings: Settings) -> None:
    """Create the evidence keyring (one master key, mode 0600) unless keys come from the environment."""
    from casemgr.evidence.keyring import ENV_VARIABLE, KEYRING_FILE, Keyring

    if os.environ.get(ENV_VARIABLE, "").strip():
        return
    path = settings.instance_dir / KEYRING_FILE
    if not path.exists():
        Keyring.create(path)
        click.echo(f"evidence keyring created: {path}")


def _ensure_first_admin(ctx: CliContext) -> None:
    from casemgr.auth import service
    from casemgr.auth.models import Role
    from casemgr.auth.schemas import NewUser

    with ctx.transaction() as s:
        if service.admin_exists(s):
            click.echo("an admin account exists already")
            return
        password = secrets.token_urlsafe(18)
        service.create_user(s, ctx.actor(), NewUser(username="admin", role=Role.ADMIN, password=password,
                                                    display_name="Administrator"))
    click.echo("first admin account created (the password is shown only now):")
    click.echo("  username: admin")
    click.echo(f"  password: {password}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Requests served at once by each process.")
@pass_ctx
@reports_errors
def serve(ctx: CliContext, host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app and API with gunicorn.

    Threaded workers: a long evidence upload or download (minutes, for a disk image over a slow
    link) occupies one thread, not a whole process, so it neither holds up other users nor gets
    killed by the worker timeout.
    """
    from gunicorn.app.base import BaseApplication

    from casemgr import check_before_serving, create_app

    app = create_app(ctx.settings)
    check_before_serving(app)  # here, in the master: a missing key stops the start with one line

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 300)
            # gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl) that a second
            # instance takes over, and a thread in the master that would be running while it forks.
            self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return app

    click.echo(f"casemgr serving on http://{host}:{port} ({workers} processes x {threads} threads)")
    Server().run()


def _register_domains() -> None:
    from casemgr.audit.cli import audit
    from casemgr.auth.cli import token, user
    from casemgr.cases.cli import case
    from casemgr.evidence.cli import evidence, keys
    from casemgr.indicators.cli import stix

    for group in (user, token, audit, case, stix, evidence, keys):
        cli.add_command(group)


_register_domains()


def main() -> None:
    cli(prog_name="casemgr")
