"""The `casemgr` command: one click group; each domain adds its own subcommands."""

from __future__ import annotations

import getpass
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, cast

import click

from casemgr import DOMAINS
from casemgr.config import ConfigError, Settings, generate_secret_key
from casemgr.errors import DomainError, Invalid

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from casemgr.auth.actor import Actor


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
        from casemgr.auth.actor import Actor

        return Actor.system(f"cli:{getpass.getuser()}")

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)


def _refuse_nul(arguments: dict[str, Any]) -> None:
    """The request guard's rule for the command line: no argument holds a NUL character (a shell cannot pass
    one, a program calling us can)."""
    from casemgr import fields  # pydantic: loaded when a command runs, not for --help

    context = click.get_current_context(silent=True)
    params = {p.name: p for p in context.command.params} if context is not None else {}
    for name, value in arguments.items():
        if fields.has_nul(value):
            param = params.get(name)
            shown = param.opts[0] if param is not None and param.opts else name
            raise Invalid(f"{shown}: {fields.NUL_MESSAGE}", field=shown)


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain and configuration errors into one line on stderr and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import InterfaceError, OperationalError  # imported when a command runs, not for --help

        try:
            _refuse_nul(kwargs)
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
            named = not exc.field or exc.message.startswith(f"{exc.field}: ")  # the field once, not twice
            where = "" if named else f" ({exc.field})"
            click.echo(f"casemgr: error{where}: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


def domain_commands(domains: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Each domain's groups: name -> ("module:group", the one line `casemgr --help` shows for it).

    Read from the domain packages' COMMANDS (see casemgr.DOMAINS): a package's __init__ imports
    nothing of the domain, so listing the groups imports none of their modules."""
    import importlib

    commands: dict[str, tuple[str, str]] = {}
    for package in domains:
        for name, help_line in importlib.import_module(package).COMMANDS.items():
            if name in commands:  # pragma: no cover - two domains claiming one name
                raise ValueError(f"{package} and {commands[name][0]} both define `casemgr {name}`")
            commands[name] = (f"{package}.cli:{name}", help_line)
    return commands


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when one is run (click's documented LazyGroup
    pattern): `casemgr --help` or `casemgr case list` must not pay for importing ioc-finder, stix2
    or WeasyPrint. Each entry carries its one-line help, so `--help` lists every group without
    importing it; tests/test_cli_startup.py checks that line against the group's own docstring."""

    def __init__(self, *args: Any, domains: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = domain_commands(domains)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_subcommands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            return self.load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, cmd_name: str) -> click.Command:
        import importlib

        module_name, _, attribute = self.lazy_subcommands[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong registry entry
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_subcommands:
                rows.append((name, self.lazy_subcommands[name][1]))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, domains=DOMAINS, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """casemgr: security incident response case manager."""
    obj = ctx.ensure_object(CliContext)
    ctx.call_on_close(obj.close)


DOMAIN_COMMANDS = cast(LazyGroup, cli).lazy_subcommands


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
    for line in migrate.upgrade(settings.database_url):
        click.echo(f"migration: {line}")
    if settings.is_sqlite:
        from sqlalchemy.engine import make_url

        db_file = make_url(settings.database_url).database
        if db_file and os.path.exists(db_file):
            os.chmod(db_file, 0o600)
    click.echo(f"database at head: {_redact(settings.database_url)}")
    if not no_admin:
        _ensure_first_admin(ctx)
    _import_shipped_playbooks(ctx)


def _import_shipped_playbooks(ctx: CliContext) -> None:
    """Import the playbooks shipped in playbooks/ (new versions only; unchanged ones stay as they are)."""
    from casemgr.playbooks import library, loader

    with ctx.transaction() as s:
        results = library.sync_folder(s, ctx.actor(), loader.SHIPPED)
        new = [f"{r.version.playbook.code} {r.version.version}" for r in results if r.created]
        total = len(results)
    click.echo(f"shipped playbooks: {total}, imported {', '.join(new) if new else 'none (all stored already)'}")


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
                                                    display_name="Administrator"), must_change_password=True)
    click.echo("first admin account created (the password is shown only now; choose a new one at the first sign-in):")
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


def main() -> None:
    """The `casemgr` entry point."""
    _start_up(sys.argv[1:2])
    cli(prog_name="casemgr")


def _start_up(args: list[str]) -> None:
    """Import the domain group the command line names, then set everything start-up made aside from
    the cyclic garbage collector.

    Start-up makes several hundred thousand objects that live as long as the process (modules,
    classes, mappers, validators) and hardly any garbage, yet every collection visited them: during
    the imports, during the command, and in the full collection at exit. That was about a third of
    the CPU time of `casemgr case list` (0.75 s -> 0.50 s, docs/architecture.md). gc.freeze() moves
    them to the permanent generation, which no collection visits; what the command makes is collected
    as usual. Here and not in LazyGroup.load: a test process running commands in-process must not
    freeze its own objects.
    """
    import gc

    group = cast(LazyGroup, cli)
    gc.disable()
    try:
        if args and args[0] in group.lazy_subcommands:
            group.load(args[0])
    finally:
        gc.freeze()
        gc.enable()
