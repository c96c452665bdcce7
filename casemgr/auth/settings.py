"""Instance settings (InstanceSetting rows): read and write them; the MFA policy (the roles that
must use a second factor)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from casemgr.audit import service as audit
from casemgr.auth import roles
from casemgr.auth.actor import Actor
from casemgr.auth.models import InstanceSetting
from casemgr.auth.permissions import Permission, require
from casemgr.auth.schemas import MfaPolicy
from casemgr.auth.users import require_admin
from casemgr.collaborators import clock

MFA_SETTING = roles.MFA_SETTING


def read_setting(session: Session, key: str) -> object | None:
    """An instance setting's value, or None when it was never set."""
    setting = session.get(InstanceSetting, key)
    return setting.value if setting is not None else None


def write_setting(session: Session, actor: Actor, key: str, value: object, *, action: str,
                  summary: dict[str, Any]) -> None:
    """Set an instance setting (admins only) and audit it as `action`. Raises Forbidden."""
    require(actor, Permission.INSTANCE_CONFIGURE, "only admins change instance settings")
    setting = session.get(InstanceSetting, key)
    if setting is None:
        session.add(InstanceSetting(key=key, value=value, updated_at=clock(session).now()))
    else:
        setting.value, setting.updated_at = value, clock(session).now()
    session.flush()
    audit.record(session, actor, action, "setting", key, summary)


def get_mfa_policy(session: Session) -> set[str]:
    """The codes of the roles (built-in or custom) that must use a second factor."""
    values = read_setting(session, MFA_SETTING)
    return {str(v) for v in values} if isinstance(values, list) else set()


def set_mfa_policy(session: Session, actor: Actor, cmd: MfaPolicy) -> set[str]:
    """Choose which roles (built-in or custom, by code) must use a second factor. Raises Forbidden for
    non-admins; Invalid naming required_roles for a code that names no role."""
    require_admin(actor)
    before = sorted(get_mfa_policy(session))
    value = sorted({roles.check_role(session, code, "required_roles") for code in cmd.required_roles})
    write_setting(session, actor, MFA_SETTING, value, action="settings.mfa_required_roles",
                  summary={"from": before, "to": value})
    return set(value)
