"""The admins' team pages: /admin/teams (the list and a new team) and /admin/teams/<id> (one team)."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import login_required

from casemgr.fields import parse
from casemgr.teams import service
from casemgr.teams.schemas import NewTeam, TeamMember, TeamUpdate
from casemgr.web import current_actor, db_session, form_action, form_data, redirect_with

bp = Blueprint("teams", __name__, url_prefix="/admin/teams")


def _new_team_form() -> dict[str, Any]:
    return {**form_data(), "members": request.form.getlist("members")}


def _list_page(status: int = 200, **extra: Any) -> Any:
    teams, users = service.admin_overview(db_session(), current_actor())
    return render_template("teams/index.html", teams=teams, users=users, form=extra.pop("form", {}),
                           **extra), status


def _team_page(team_id: int, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    users = service.member_candidates(s, actor)
    team = service.get_team(s, actor, team_id)
    return render_template("teams/detail.html", team=team, users=users, form=extra.pop("form", {}),
                           **extra), status


@bp.get("")
@login_required
def index() -> Any:
    return _list_page()


@bp.post("")
@login_required
def create() -> Any:
    return form_action(lambda: service.create_team(db_session(), current_actor(), parse(NewTeam, _new_team_form())),
                       page=partial(_list_page, form=_new_team_form()),
                       done=lambda team: redirect_with(f"Team {team.name} created.",
                                                       url_for("teams.detail", team_id=team.id)))


@bp.get("/<int:team_id>")
@login_required
def detail(team_id: int) -> Any:
    return _team_page(team_id)


def _act(team_id: int, call: Any, done: str) -> Any:
    return form_action(call, page=partial(_team_page, team_id, form=form_data()), raise_statuses={403, 404},
                       done=lambda team: redirect_with(done.format(team=team),
                                                       url_for("teams.detail", team_id=team_id)))


@bp.post("/<int:team_id>")
@login_required
def edit(team_id: int) -> Any:
    return _act(team_id, lambda: service.update_team(db_session(), current_actor(), team_id,
                                                     parse(TeamUpdate, form_data())), "Team {team.name} saved.")


@bp.post("/<int:team_id>/members")
@login_required
def add_member(team_id: int) -> Any:
    return _act(team_id, lambda: service.add_member(db_session(), current_actor(), team_id,
                                                    parse(TeamMember, form_data()).username),
                "Member added to team {team.name}.")


@bp.post("/<int:team_id>/members/<username>/remove")
@login_required
def remove_member(team_id: int, username: str) -> Any:
    return _act(team_id, lambda: service.remove_member(db_session(), current_actor(), team_id, username),
                f"{username} removed from team {{team.name}}.")


@bp.post("/<int:team_id>/retire")
@login_required
def retire(team_id: int) -> Any:
    return _act(team_id, lambda: service.retire_team(db_session(), current_actor(), team_id),
                "Team {team.name} retired: it stays on its cases and can no longer be chosen.")
