"""The case page's incident roles: assign or hand over a role, release it. Thin adapters over
casemgr.cases.incident_roles; a refused form re-renders the case page with the error in the role's panel.
Its routes are on the cases blueprint (casemgr.cases.register imports this module before registering it)."""

from __future__ import annotations

from typing import Any

from flask_login import login_required

from casemgr.cases import incident_roles as roles
from casemgr.cases.schemas import RoleAssignment, RoleRelease
from casemgr.cases.views import bp, case_action, overview_page


@bp.post("/<int:case_id>/roles/<code>")
@login_required
def assign_role(case_id: int, code: str) -> Any:
    def action(s: Any, actor: Any, case: int, cmd: RoleAssignment) -> Any:
        return roles.assign(s, actor, case, code, cmd)
    return case_action(case_id, action, RoleAssignment, "Incident role assigned.",
                       page=overview_page, anchor=f"role-{code}")


@bp.post("/<int:case_id>/roles/<code>/release")
@login_required
def release_role(case_id: int, code: str) -> Any:
    def action(s: Any, actor: Any, case: int, _cmd: RoleRelease) -> Any:
        return roles.release(s, actor, case, code)
    return case_action(case_id, action, RoleRelease, "Incident role released.",
                       page=overview_page, anchor=f"role-{code}")
