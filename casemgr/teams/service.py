"""Teams: the use cases. Admins create, change, staff and retire teams; everyone signed in may list
them (to choose one for a case). Every change is audited in the same transaction.

Other domains name a team through `team_for_case`, the one place that says which team may be chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from casemgr import paging
from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, require
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Invalid, NotFound
from casemgr.paging import Page
from casemgr.teams.models import Team, name_key
from casemgr.teams.schemas import NewTeam, TeamItem, TeamUpdate

TeamRef = int | str  # a team's id, or its name (any letter case)

_OPTIONS = (selectinload(Team.members), selectinload(Team.lead))


def _require_admin(actor: Actor, doing: str = "manage teams") -> None:
    """The one permission check for changing teams (team.manage)."""
    require(actor, Permission.TEAM_MANAGE, f"only admins may {doing}")


def _require_signed_in(actor: Actor) -> None:
    """The one permission check for reading teams (team.view: every signed-in account)."""
    require(actor, Permission.TEAM_VIEW, "sign in to see teams")


# ---------------------------------------------------------------- reading

def list_teams(session: Session, actor: Actor, *, retired: bool = False) -> list[Team]:
    """Teams by name (active ones, or all with `retired`).

    Raises Forbidden for an anonymous caller."""
    _require_signed_in(actor)
    return list(session.scalars(_teams(retired)))


def page_teams(session: Session, actor: Actor, *, retired: bool = False, page: int = 1,
               per_page: int = 50) -> Page[Team]:
    """Page `page` of the teams by name (active ones, or all with `retired`), and how many there are.

    Raises Forbidden for an anonymous caller."""
    _require_signed_in(actor)
    return paging.fetch(session, _teams(retired), page, per_page)


def _teams(retired: bool) -> Select[Team]:
    where = [] if retired else [Team.retired_at.is_(None)]
    return select(Team).where(*where).order_by(Team.name_key).options(*_OPTIONS)


def admin_overview(session: Session, actor: Actor) -> tuple[list[Team], list[User]]:
    """Every team (retired ones too) and the users that may lead or join one, for the admin pages.

    Raises Forbidden (not an admin)."""
    _require_admin(actor)
    return list_teams(session, actor, retired=True), member_candidates(session, actor)


def member_candidates(session: Session, actor: Actor) -> list[User]:
    """The users that may lead or join a team (the active ones, by username), for the admin pages' choices.

    Raises Forbidden (not an admin)."""
    _require_admin(actor)
    return list(session.scalars(select(User).where(User.disabled_at.is_(None)).order_by(User.username)))


def team_choices(session: Session) -> list[str]:
    """The names of the teams a case may be given (not retired), for a form's select."""
    return list(session.scalars(select(Team.name).where(Team.retired_at.is_(None)).order_by(Team.name_key)))


def get_team(session: Session, actor: Actor, ref: TeamRef) -> Team:
    """One team by id or name. Raises Forbidden (anonymous); NotFound."""
    _require_signed_in(actor)
    return _load(session, ref)


def _load(session: Session, ref: TeamRef, *, lock: bool = False) -> Team:
    where = Team.id == ref if isinstance(ref, int) else Team.name_key == name_key(ref)
    query = select(Team).where(where).options(*_OPTIONS)
    team = session.scalars(query.with_for_update(of=Team) if lock else query).first()
    if team is None:
        raise NotFound(f"no team {ref!r}" if isinstance(ref, str) else f"no team with id {ref}")
    return team


def team_for_case(session: Session, name: str, field: str = "team", *, current: Team | None = None) -> Team:
    """The team a case is given or handed to, by name. The case's current team may stay even when
    retired (an edit that does not touch it must not fail); any other retired team is refused.

    Raises Invalid naming `field` for an unknown or retired team."""
    team = session.scalars(select(Team).where(Team.name_key == name_key(name))).first()
    if team is None:
        raise Invalid(f"{field}: no team {name!r}; choose one of the teams an admin set up "
                      "(GET /api/v1/teams, `casemgr team list`)", field=field)
    if team.is_retired and team is not current:
        raise Invalid(f"{field}: team {team.name} is retired and cannot be chosen; choose another", field=field)
    return team


# ---------------------------------------------------------------- changing

def create_team(session: Session, actor: Actor, cmd: NewTeam) -> Team:
    """Create a team. Raises Forbidden (not an admin); Conflict (the name is taken, whatever its
    case); Invalid naming lead or members for an unknown user."""
    _require_admin(actor)
    _name_free(session, cmd.name)
    team = Team(name=cmd.name, name_key=name_key(cmd.name), description=cmd.description,
                contact_email=cmd.contact_email, created_at=clock(session).now(),
                lead=_user(session, cmd.lead, "lead") if cmd.lead else None,
                members=_unique([_user(session, u, "members") for u in cmd.members]))
    if team.lead is not None and team.lead not in team.members:
        team.members = _unique([*team.members, team.lead])  # the lead is a member
    session.add(team)
    session.flush()
    audit.record(session, actor, "team.create", "team", team.id, {
        "name": team.name, "lead": team.lead.username if team.lead else None, "members": team.member_names,
        "contact_email": team.contact_email})
    return team


def update_team(session: Session, actor: Actor, ref: TeamRef, cmd: TeamUpdate) -> Team:
    """Change the fields sent. Raises Forbidden; NotFound; Conflict (name taken); Invalid (lead)."""
    _require_admin(actor)
    team = _load(session, ref, lock=True)
    changes: dict[str, list[Any]] = {}
    sent = cmd.model_fields_set
    if "name" in sent:
        if cmd.name is None:
            raise Invalid("name: a team needs a name", field="name")
        if cmd.name != team.name:
            if name_key(cmd.name) != team.name_key:
                _name_free(session, cmd.name)
            changes["name"] = [team.name, cmd.name]
            team.name, team.name_key = cmd.name, name_key(cmd.name)
    if "description" in sent and (cmd.description or "") != team.description:
        changes["description"] = [team.description, cmd.description or ""]
        team.description = cmd.description or ""
    if "contact_email" in sent and cmd.contact_email != team.contact_email:
        changes["contact_email"] = [team.contact_email, cmd.contact_email]
        team.contact_email = cmd.contact_email
    if "lead" in sent:
        lead = _user(session, cmd.lead, "lead") if cmd.lead else None
        if lead is not team.lead:
            changes["lead"] = [team.lead.username if team.lead else None, lead.username if lead else None]
            team.lead = lead
            if lead is not None and lead not in team.members:
                team.members = _unique([*team.members, lead])
    session.flush()
    if changes:
        audit.record(session, actor, "team.update", "team", team.id, {"name": team.name, "changes": changes})
    return team


def add_member(session: Session, actor: Actor, ref: TeamRef, username: str) -> Team:
    """Add a user to the team (nothing changes if they are in it). Raises Forbidden; NotFound;
    Invalid naming username."""
    _require_admin(actor)
    team = _load(session, ref, lock=True)
    user = _user(session, username, "username")
    if user not in team.members:
        team.members = _unique([*team.members, user])
        session.flush()
        audit.record(session, actor, "team.member_add", "team", team.id, {"name": team.name,
                                                                          "username": user.username})
    return team


def remove_member(session: Session, actor: Actor, ref: TeamRef, username: str) -> Team:
    """Take a user out of the team. Raises Forbidden; NotFound; Invalid (not a member, or the lead:
    name another lead first)."""
    _require_admin(actor)
    team = _load(session, ref, lock=True)
    user = _user(session, username, "username")
    if user not in team.members:
        raise Invalid(f"username: {user.username} is not a member of team {team.name}", field="username")
    if user is team.lead:
        raise Invalid(f"username: {user.username} leads team {team.name}; name another lead (or none) first",
                      field="username")
    team.members = [m for m in team.members if m is not user]
    session.flush()
    audit.record(session, actor, "team.member_remove", "team", team.id, {"name": team.name,
                                                                         "username": user.username})
    return team


def retire_team(session: Session, actor: Actor, ref: TeamRef) -> Team:
    """Retire a team: it stays on the cases that have it, and can no longer be chosen for a case.

    Raises Forbidden; NotFound; Conflict (retired already)."""
    _require_admin(actor)
    team = _load(session, ref, lock=True)
    if team.retired_at is not None:
        raise Conflict(f"team {team.name} was retired already on {team.retired_at:%Y-%m-%d %H:%M} UTC")
    team.retired_at = clock(session).now()
    session.flush()
    audit.record(session, actor, "team.retire", "team", team.id, {"name": team.name})
    return team


def _name_free(session: Session, name: str) -> None:
    taken = session.scalars(select(Team).where(Team.name_key == name_key(name))).first()
    if taken is not None:
        raise Conflict(f"name: there is a team {taken.name} already (names are unique whatever their case)",
                       field="name")


def _user(session: Session, username: str, field: str) -> User:
    user = session.scalars(select(User).where(User.username == username.lower())).first()
    if user is None:
        raise Invalid(f"{field}: no user {username!r}", field=field)
    return user


def _unique(users: Sequence[User]) -> list[User]:
    return list({u.id: u for u in users}.values())


# ---------------------------------------------------------------- as configuration (teams.yaml)

def export_config(session: Session) -> list[dict[str, Any]]:
    """Every team, retired ones too, by name, as teams.yaml lists them."""
    return [{"name": t.name, "description": t.description, "lead": t.lead.username if t.lead else None,
             "members": t.member_names, "contact_email": t.contact_email, "retired": t.is_retired}
            for t in session.scalars(_teams(retired=True))]


def check_config(session: Session, items: list[TeamItem]) -> list[tuple[tuple[int | str, ...], str]]:
    """What in teams.yaml's (valid) items apply would refuse: unknown users, a lead not listed among the
    members, a retired team listed as active. Each problem with the path of its field."""
    wanted = {u for item in items for u in [*item.members, *([item.lead] if item.lead else [])]}
    known = set(session.scalars(select(User.username).where(User.username.in_(wanted)))) if wanted else set()
    retired = set(session.scalars(select(Team.name_key).where(Team.retired_at.is_not(None))))
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for i, item in enumerate(items):
        if item.lead and item.lead not in known:
            problems.append(((i, "lead"), f"no user named {item.lead!r}"))
        elif item.lead and item.lead not in item.members:
            problems.append(((i, "lead"), f"{item.lead} leads the team and must be listed in members too"))
        problems += [((i, "members", j), f"no user named {u!r}") for j, u in enumerate(item.members) if u not in known]
        problems += [((i, "members", j), f"{u!r} is listed twice") for j, u in enumerate(item.members)
                     if u in item.members[:j]]
        if name_key(item.name) in retired and not item.retired:
            problems.append(((i, "retired"), f"team {item.name} is retired and cannot be brought back; "
                                              "write retired: true, or give the team a new name"))
    return problems


def apply_config(session: Session, actor: Actor, items: list[dict[str, Any]]) -> list[str]:
    """Make the teams what `items` (teams.yaml) say: create the new ones, change fields and members,
    retire those marked `retired: true`. Teams the file leaves out are kept as they are. The changes
    go through the use cases above, so each is audited as if an admin made it. Returns the changes,
    in words (none: nothing changed).

    Raises Forbidden (not an admin); Invalid naming the field (as check_config finds)."""
    from casemgr.fields import parse
    from casemgr.teams.schemas import TeamItem

    _require_admin(actor)
    parsed = [parse(TeamItem, raw) for raw in items]
    problems = check_config(session, parsed)
    if problems:
        (path, message) = problems[0]
        raise Invalid(f"{path[1]}: {message}", field=str(path[1]))
    done: list[str] = []
    for item in parsed:
        team = session.scalars(select(Team).where(Team.name_key == name_key(item.name)).options(*_OPTIONS)).first()
        if team is None:
            team = create_team(session, actor, NewTeam(name=item.name, description=item.description, lead=item.lead,
                                                       members=item.members, contact_email=item.contact_email))
            done.append(f"teams: created team {team.name}")
        else:
            done += _apply_team(session, actor, team, item)
        if item.retired and not team.is_retired:
            retire_team(session, actor, team.id)
            done.append(f"teams: retired team {team.name}")
    return done


def _apply_team(session: Session, actor: Actor, team: Team, item: TeamItem) -> list[str]:
    current = {"name": team.name, "description": team.description, "contact_email": team.contact_email,
               "lead": team.lead.username if team.lead else None}
    changed = {k: getattr(item, k) for k, v in current.items() if getattr(item, k) != v}
    done = []
    if changed:
        update_team(session, actor, team.id, TeamUpdate(**changed))
        done.append(f"teams: changed team {team.name}: {', '.join(changed)}")
    for username in item.members:
        if username not in team.member_names:
            add_member(session, actor, team.id, username)
            done.append(f"teams: added {username} to team {team.name}")
    for username in team.member_names:
        if username not in item.members:
            remove_member(session, actor, team.id, username)
            done.append(f"teams: removed {username} from team {team.name}")
    return done
