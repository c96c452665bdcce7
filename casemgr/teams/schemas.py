"""Input commands for teams, shared by the admin pages, the API and `casemgr team`.

`TeamUpdate` changes only the fields that were sent (the service reads `model_fields_set`); sending
null or a blank value clears the description, the lead or the contact address.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from casemgr.fields import FileItem, Input, lower, single_line

# The free-text team values cases had before teams were records followed this pattern too.
TEAM_NAME_PATTERN = r"^[\w][\w .&/+-]{0,63}$"
DESCRIPTION_MAX = 2_000


def _email(value: str) -> str:
    """A contact address as written (trimmed), checked for its form only: no DNS lookup at input time."""
    # Imported here: `casemgr case list` loads this module through the cases service, and needs no idna.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address: {exc}") from None


TeamName = Annotated[str, Field(min_length=1, max_length=64, pattern=TEAM_NAME_PATTERN,
                                description="letters, digits, spaces and . & / + - (unique whatever the case)"),
                     AfterValidator(single_line)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Username = Annotated[str, BeforeValidator(lower), Field(min_length=1, max_length=64)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NewTeam(Command):
    """Create a team (admins)."""

    name: TeamName
    description: Description = ""
    lead: Username | None = Field(default=None, description="username of the team lead")
    members: list[Username] = Field(default_factory=list, max_length=500, description="usernames")
    contact_email: Email | None = Field(default=None, description="the team's contact address")


class TeamUpdate(Command):
    """Change a team (admins): only the fields sent; null clears description, lead or contact address."""

    name: TeamName | None = None
    description: Description | None = None
    lead: Username | None = None
    contact_email: Email | None = None


class TeamMember(Command):
    username: Username


class TeamQuery(Input):
    model_config = ConfigDict(extra="ignore")
    retired: bool = Field(default=False, description="include retired teams")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class TeamItem(FileItem):
    """A team in teams.yaml: `members` is the whole list (the lead among them)."""

    name: TeamName
    description: Description = ""
    lead: Username | None = None
    members: list[Username] = Field(default_factory=list, max_length=500)
    contact_email: Email | None = None
    retired: bool = False
