"""/api/v1/teams: everyone signed in lists and reads teams; admins create, change, staff and retire them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from casemgr.api import ApiBlueprint, body, listing, out, query
from casemgr.teams import service
from casemgr.teams.models import Team
from casemgr.teams.schemas import NewTeam, TeamMember, TeamQuery, TeamUpdate
from casemgr.web import current_actor, db_session

bp = ApiBlueprint("teams", __name__)


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    lead: str | None = Field(description="the lead's username")
    members: list[str] = Field(description="usernames")
    contact_email: str | None
    created_at: dt.datetime
    retired_at: dt.datetime | None = Field(description="set: the team stays on old cases, new ones cannot choose it")


def _team(team: Team) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "description": team.description,
            "lead": team.lead.username if team.lead else None, "members": team.member_names,
            "contact_email": team.contact_email, "created_at": team.created_at, "retired_at": team.retired_at}


@bp.operation("/teams", "GET", "Teams by name (retired ones with retired=true)", query=TeamQuery,
              response=TeamOut, is_list=True)
def list_teams() -> Any:
    q: TeamQuery = query(TeamQuery)
    return listing(service.page_teams(db_session(), current_actor(), retired=q.retired, page=q.page,
                                      per_page=q.per_page), lambda t: out(TeamOut, _team(t)))


@bp.operation("/teams", "POST", "Create a team (admin)", body=NewTeam, response=TeamOut, status=201,
              errors=(409,), creates=("team_id", "id"))
def create_team() -> Any:
    return out(TeamOut, _team(service.create_team(db_session(), current_actor(), body(NewTeam)))), 201


@bp.operation("/teams/<int:team_id>", "GET", "One team", response=TeamOut)
def get_team(team_id: int) -> Any:
    return out(TeamOut, _team(service.get_team(db_session(), current_actor(), team_id)))


@bp.operation("/teams/<int:team_id>", "PATCH", "Change a team's name, description, lead or contact (admin)",
              body=TeamUpdate, response=TeamOut, errors=(409,))
def update_team(team_id: int) -> Any:
    return out(TeamOut, _team(service.update_team(db_session(), current_actor(), team_id, body(TeamUpdate))))


@bp.operation("/teams/<int:team_id>/members", "POST", "Add a member (admin)", body=TeamMember, response=TeamOut)
def add_member(team_id: int) -> Any:
    cmd: TeamMember = body(TeamMember)
    return out(TeamOut, _team(service.add_member(db_session(), current_actor(), team_id, cmd.username)))


@bp.operation("/teams/<int:team_id>/members/<username>", "DELETE", "Remove a member (admin)", response=TeamOut)
def remove_member(team_id: int, username: str) -> Any:
    return out(TeamOut, _team(service.remove_member(db_session(), current_actor(), team_id, username)))


@bp.operation("/teams/<int:team_id>/retire", "POST", "Retire a team (admin): kept on old cases, not chosen for new",
              response=TeamOut, errors=(409,))
def retire_team(team_id: int) -> Any:
    return out(TeamOut, _team(service.retire_team(db_session(), current_actor(), team_id)))
