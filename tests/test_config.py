"""Configuration: every bad CASEMGR_* value fails at start with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from casemgr.config import ConfigError, Settings

REPO = Path(__file__).resolve().parent.parent
CASEMGR = Path(sys.executable).parent / "casemgr"
GOOD_KEY = "k" * 40

BAD_VALUES = [
    ("CASEMGR_SESSION_IDLE_MINUTES", "ten"),
    ("CASEMGR_SESSION_IDLE_MINUTES", "0"),
    ("CASEMGR_SESSION_MAX_HOURS", "100000"),
    ("CASEMGR_LOGIN_MAX_FAILURES", "-1"),
    ("CASEMGR_LOGIN_LOCKOUT_MINUTES", "1.5"),
    ("CASEMGR_LOGIN_RATE_LIMIT", "lots"),
    ("CASEMGR_AUDIT_CHECKPOINT_EVERY", "0"),
    ("CASEMGR_MAX_UPLOAD_BYTES", "big"),
    ("CASEMGR_MAX_BODY_BYTES", "4MiB"),
    ("CASEMGR_MAX_BODY_BYTES", "100"),
    ("CASEMGR_IMPORT_WORKERS", "0"),
    ("CASEMGR_MAX_BUNDLE_BYTES", "1e9"),
    ("CASEMGR_TRUST_PROXY", "maybe"),
    ("CASEMGR_ARGON2_MEMORY_KIB", "1024"),
    ("CASEMGR_ARGON2_TIME_COST", "1"),
    ("CASEMGR_DATABASE_URL", "not a url"),
    ("CASEMGR_DATABASE_URL", "mysql://root@localhost/casemgr"),
    ("CASEMGR_DATABASE_URL", "postgresql+asyncpg://postgres@localhost/casemgr"),
    ("CASEMGR_SECRET_KEY", "too-short"),
    ("CASEMGR_AUDIT_SYSLOG", "relative/socket"),
    ("CASEMGR_AUDIT_SYSLOG", "siem.example:notaport"),
    ("CASEMGR_AUDIT_SYSLOG", "siem.example:0"),
    ("CASEMGR_AUDIT_SYSLOG", "siem.example:70000"),
    ("CASEMGR_AUDIT_SYSLOG", ":514"),
    ("CASEMGR_AUDIT_SYSLOG", "siem.example"),
    ("CASEMGR_OWN_DOMAINS", "corp.example, not a domain"),
    ("CASEMGR_OWN_DOMAINS", "-bad-.example"),
]
IDS = [f"{name}={value}" for name, value in BAD_VALUES]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"CASEMGR_INSTANCE_DIR": str(tmp_path / "instance"), "CASEMGR_EVIDENCE_DIR": str(tmp_path / "evidence"),
            "CASEMGR_SECRET_KEY": GOOD_KEY, **extra}


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=IDS)
def test_bad_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(_env(tmp_path, **{name: value}))
    assert caught.value.variable == name
    assert str(caught.value).startswith(name + ": ")


@pytest.mark.parametrize("value", ["/dev/log", "127.0.0.1:514", "siem.example:6514", "[::1]:514"])
def test_good_syslog_targets(tmp_path, value):
    assert Settings.from_env(_env(tmp_path, CASEMGR_AUDIT_SYSLOG=value)).audit_syslog == value


def test_own_domains_are_normalized(tmp_path):
    settings = Settings.from_env(_env(tmp_path, CASEMGR_OWN_DOMAINS=" Corp.Example ,bücher.example,corp.example,"))
    assert settings.own_domains == ("corp.example", "xn--bcher-kva.example")


def test_defaults_are_safe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.instance_dir == tmp_path / "instance"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'casemgr.db'}"
    assert settings.evidence_dir == tmp_path / "evidence"
    assert settings.secret_key is None
    assert (settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism) == (19456, 2, 1)
    assert settings.trust_proxy is False
    assert settings.max_body_bytes == 4 * 1024 * 1024


def test_values_are_read(tmp_path):
    settings = Settings.from_env(_env(tmp_path, CASEMGR_LOGIN_RATE_LIMIT="5 per hour",
                                      CASEMGR_SESSION_IDLE_MINUTES="7", CASEMGR_TRUST_PROXY="yes",
                                      CASEMGR_DATABASE_URL="postgresql+psycopg://u@db/x"))
    assert settings.login_rate_limit == "5 per hour"
    assert settings.session_idle_minutes == 7
    assert settings.trust_proxy is True
    assert settings.database_url == "postgresql+psycopg://u@db/x"


def test_the_default_sign_in_rate_is_twenty_a_minute(tmp_path):
    """Settings leave the default rate unparsed (so `limits` loads only for a sign-in); it must parse."""
    import casemgr
    from casemgr.collaborators import auth_policy

    settings = Settings.from_env(_env(tmp_path, CASEMGR_SECRET_KEY=GOOD_KEY))
    db = casemgr.build_database(settings)
    try:
        assert auth_policy(db).attempt_limits == ((20, 60),)
    finally:
        db.dispose()
    hourly = casemgr.build_database(Settings.from_env(_env(tmp_path, CASEMGR_SECRET_KEY=GOOD_KEY,
                                                           CASEMGR_LOGIN_RATE_LIMIT="5 per hour; 50/day")))
    try:
        assert auth_policy(hourly).attempt_limits == ((5, 3600), (50, 86400))
    finally:
        hourly.dispose()


def test_instance_dir_that_is_a_file(tmp_path):
    (tmp_path / "instance").write_text("oops")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(_env(tmp_path))
    assert caught.value.variable == "CASEMGR_INSTANCE_DIR"


def test_missing_secret_key_file_without_env(tmp_path):
    settings = Settings.from_env(_env(tmp_path, CASEMGR_SECRET_KEY=""))
    with pytest.raises(ConfigError) as caught:
        settings.with_secret_key_loaded()
    assert caught.value.variable == "CASEMGR_SECRET_KEY"
    assert "casemgr init" in str(caught.value)


# ---------------------------------------------------------------- as an operator sees it

def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASEMGR_")}
    return subprocess.run(args, env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)


def _assert_one_line(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


CLI_CASES = [
    ("non-number", {"CASEMGR_SESSION_IDLE_MINUTES": "ten"}, "CASEMGR_SESSION_IDLE_MINUTES"),
    ("out of range", {"CASEMGR_LOGIN_MAX_FAILURES": "0"}, "CASEMGR_LOGIN_MAX_FAILURES"),
    ("bad database URL", {"CASEMGR_DATABASE_URL": "oracle://x"}, "CASEMGR_DATABASE_URL"),
    ("short secret key", {"CASEMGR_SECRET_KEY": "short"}, "CASEMGR_SECRET_KEY"),
    ("bad syslog", {"CASEMGR_AUDIT_SYSLOG": "host:99999"}, "CASEMGR_AUDIT_SYSLOG"),
    ("no secret key file", {"CASEMGR_SECRET_KEY": ""}, "CASEMGR_SECRET_KEY"),
    ("instance dir is a file", {"CASEMGR_INSTANCE_DIR": "{file}"}, "CASEMGR_INSTANCE_DIR"),
]


@pytest.mark.parametrize(("case", "env", "variable"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_prints_one_line_naming_the_variable(tmp_path, case, env, variable):
    (tmp_path / "afile").write_text("")
    env = {k: v.replace("{file}", str(tmp_path / "afile")) for k, v in env.items()}
    result = _run([str(CASEMGR), "user", "list"], _env(tmp_path, **env), tmp_path)
    _assert_one_line(result, variable)


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:1/x", "sqlite:////nonexistent/dir/x.db"])
def test_cli_with_unusable_database(tmp_path, url):
    for command in ("init", "user list"):
        result = _run([str(CASEMGR), *command.split()], _env(tmp_path, CASEMGR_DATABASE_URL=url), tmp_path)
        _assert_one_line(result, "CASEMGR_DATABASE_URL")


def test_cli_init_with_instance_dir_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    result = _run([str(CASEMGR), "init"], _env(tmp_path, CASEMGR_INSTANCE_DIR=str(tmp_path / "afile")), tmp_path)
    _assert_one_line(result, "CASEMGR_INSTANCE_DIR")


@pytest.mark.parametrize(("env", "variable"), [
    ({"CASEMGR_SESSION_MAX_HOURS": "forever"}, "CASEMGR_SESSION_MAX_HOURS"),
    ({"CASEMGR_SECRET_KEY": ""}, "CASEMGR_SECRET_KEY"),
    ({"CASEMGR_DATABASE_URL": "nope://"}, "CASEMGR_DATABASE_URL"),
])
def test_wsgi_import_prints_one_line(tmp_path, env, variable):
    result = _run([sys.executable, "-c", "import wsgi"], {**_env(tmp_path, **env), "PYTHONPATH": str(REPO)},
                  tmp_path)
    _assert_one_line(result, variable)
