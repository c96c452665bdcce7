"""Input commands for cases, shared by the web forms, the API and the CLI.

These check shapes (types, lengths, vocabularies); rules that need the database or the case
(taxonomy membership, who may do what, what a transition needs) live in casemgr/cases/service.py.
Datetimes without a time zone are taken as UTC. A blank value means "not given" (casemgr.fields.Input).
Descriptions, notes and event bodies take any text, stored as written (rendered inert by casemgr.markdown).

Update commands (`CaseUpdate`) change only the fields that were sent: the service reads
`cmd.model_fields_set`. Sending `null` (or a blank value) clears a field that may be empty (owner,
team, subcategory, the description, the times, an override); fields that may not be empty refuse it
naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from casemgr.cases.models import (
    CaseStatus,
    EscalationKind,
    Level,
    LinkKind,
    Pap,
    Priority,
    Resolution,
    Severity,
    Source,
    Tlp,
)
from casemgr.fields import FileItem, Input, aware_utc, lower, single_line

TITLE_MAX = 200
MARKDOWN_MAX = 100_000
REASON_MAX = 5_000
TAG_PATTERN = r"^[a-z0-9][a-z0-9._:+-]{0,63}$"
REFERENCE = re.compile(r"IR-\d{4}-\d{4,9}", re.IGNORECASE)


def _case_reference(value: Any) -> Any:
    """Another case named by its reference (IR-2026-0002, any letter case), or by its numeric id
    as the API has always accepted (a JSON number, or digits)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and REFERENCE.fullmatch(value.strip()):
        return value.strip().upper()
    raise ValueError("give the other case's reference, e.g. IR-2026-0002")


# Checked whole by the validator, so an error names the field alone (not a member of the union).
CaseReference = Annotated[int | str, BeforeValidator(_case_reference)]


Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX), AfterValidator(single_line)]
# Any text is accepted and stored as written: casemgr.markdown.render makes it inert when shown.
Markdown = Annotated[str, Field(max_length=MARKDOWN_MAX)]
Reason = Annotated[str, Field(min_length=1, max_length=REASON_MAX)]
Slug = Annotated[str, BeforeValidator(lower), Field(min_length=1, max_length=64)]
Tag = Annotated[str, BeforeValidator(lower), Field(pattern=TAG_PATTERN,
                                                   description="lower-case letters, digits and . _ : + -")]
# A team record, by name in any letter case (casemgr/teams); the service refuses an unknown or retired one.
Team = Annotated[str, Field(min_length=1, max_length=64, description="a team's name (GET /api/v1/teams)")]
Username = Annotated[str, BeforeValidator(lower), Field(min_length=1, max_length=64)]
# Custom field values, code -> value; each is checked against its field by casemgr.cases.custom_fields.clean
# (text, a number, true/false, a list of options for multi-choice, an ISO 8601 date-time, a username).
FieldValue = str | int | float | bool | list[Annotated[str, Field(max_length=100)]] | None
CustomFields = Annotated[dict[Annotated[str, Field(max_length=64)], FieldValue], Field(
    max_length=200, description="custom field code -> value (GET /api/v1/case-fields); null or blank: no value")]
When = Annotated[dt.datetime, AfterValidator(aware_utc)]


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NewCase(Command):
    """Open a case. Priority follows from impact x urgency; the reference is assigned."""

    title: Title
    description: Markdown = ""
    category: Slug = Field(description="a taxonomy category code, e.g. malicious-code (GET /api/v1/taxonomy)")
    subcategory: Slug | None = Field(
        default=None, description="a subcategory code of the category, e.g. ransomware")
    impact: Level
    urgency: Level
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    source: Source | None = None
    tlp: Tlp = Tlp.AMBER
    pap: Pap = Pap.AMBER
    restricted: bool = False
    occurred_at: When | None = None
    detected_at: When | None = None
    reported_at: When | None = Field(
        default=None, description="default: now")
    owner: Username | None = Field(
        default=None, description="username; analysts may only name themselves")
    team: Team | None = None
    members: list[Username] = Field(default_factory=list, max_length=100, description="usernames (managers)")
    custom_fields: CustomFields = Field(default_factory=dict)


class CaseUpdate(Command):
    """Change a case. `version` is the version the change was based on (409 when stale)."""

    version: int = Field(ge=1, description="the case's version this change is based on")
    title: Title | None = None
    description: Markdown | None = None
    category: Slug | None = None
    subcategory: Slug | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    source: Source | None = None
    impact: Level | None = None
    urgency: Level | None = None
    priority_override: Priority | None = Field(
        default=None, description="managers: fix the priority regardless of the matrix; null returns to the matrix")
    priority_reason: Reason | None = None
    severity_override: Severity | None = Field(
        default=None, description="fix the severity regardless of the priority; null: follow the priority")
    severity_reason: Reason | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    restricted: bool | None = None
    occurred_at: When | None = None
    detected_at: When | None = None
    reported_at: When | None = None
    acknowledged_at: When | None = None
    contained_at: When | None = None
    resolved_at: When | None = None
    closed_at: When | None = None
    time_reason: Reason | None = Field(default=None, description="required when changing a time the lifecycle set")
    reason: Reason | None = Field(
        default=None, description="managers: required to lower the TLP or lift the restriction (on the timeline)")
    owner: Username | None = Field(default=None,
                                                                                description="username or null")
    team: Team | None = None
    members: list[Username] | None = Field(default=None, max_length=100,
                                           description="usernames (replaces the list)")
    custom_fields: CustomFields | None = Field(
        default=None, description="custom field code -> value: only the codes sent change; null or blank clears one")

    @field_validator("title", "category", "tags", "impact", "urgency", "tlp", "pap", "restricted", "members",
                     mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be emptied (null or blank)")
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _null_clears(cls, value: Any) -> Any:
        return "" if value is None else value  # a description may be empty: null or blank clears it

    def changed(self) -> set[str]:
        """The fields this command sets, besides `version`."""
        return set(self.model_fields_set) - {"version"}


class Transition(Command):
    """Move a case to another state, with what that state needs (see docs/case-lifecycle.md)."""

    to: CaseStatus
    version: int | None = Field(default=None, ge=1, description="optional: refuse if the case changed since")
    resolution: Resolution | None = Field(
        default=None, description="required to resolve")
    summary: Reason | None = Field(
        default=None, description="required to resolve: what happened and what was done")
    root_cause: Reason | None = Field(
        default=None, description="required to close (managers only)")
    reason: Reason | None = Field(
        default=None, description="required to reopen; optional comment otherwise")
    duplicate_of: CaseReference | None = Field(
        default=None, description="with resolution duplicate: the surviving case's reference (or its id)")


class Escalation(Command):
    """Escalate a case: functional (to another team or tier) or hierarchical (to a manager)."""

    kind: EscalationKind
    reason: Reason
    to_team: Team | None = Field(
        default=None, description="functional: the team that takes the case over (required)")
    to_user: Username | None = Field(
        default=None, description="hierarchical: the manager to alert (optional)")


class NewNote(Command):
    body: Annotated[str, Field(min_length=1, max_length=MARKDOWN_MAX)] = Field(
        description="Markdown")


EventSummary = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(single_line)]


class NewEvent(Command):
    """A manual timeline event: something that happened in the incident, at the time it happened."""

    occurred_at: When = Field(description="when it happened in the incident (ISO 8601; UTC if no offset); "
                                          "not in the future")
    summary: EventSummary
    body: Markdown | None = None


class EntryEdit(Command):
    """Correct a note (its body) or a manual event (its time, summary or details). Only the fields
    sent change; the earlier text is kept in the entry's history (docs/case-lifecycle.md)."""

    body: Markdown | None = Field(default=None, description="Markdown; a note's text, or an event's details "
                                                            "(null or blank clears an event's details)")
    summary: EventSummary | None = Field(default=None, description="events only")
    occurred_at: When | None = Field(default=None, description="events only: when it happened; not in the future")

    def changed(self) -> set[str]:
        return set(self.model_fields_set)


class Retraction(Command):
    """Retract a note or event: it stays on the timeline, struck through, with the reason."""

    reason: Reason = Field(description="why the entry is withdrawn (shown with it)")


class NewLink(Command):
    """Link this case to another: `related`, or `duplicate_of` (this case resolves as a duplicate of it)."""

    case: CaseReference = Field(description="the other case's reference, e.g. IR-2026-0002 (or its id)")
    kind: LinkKind = LinkKind.RELATED
    version: int | None = Field(default=None, ge=1)
    summary: Reason | None = Field(
        default=None, description="duplicate_of: optional resolution summary")


class BulkKind(enum.StrEnum):
    """What a bulk action does to each selected case (the same service call as one by one)."""

    ASSIGN = "assign"  # make `owner` the owner
    TAG = "tag"  # add `tag`
    DUPLICATE = "duplicate"  # resolve as a duplicate of `duplicate_of`


class BulkAction(Command):
    """One action applied to several cases, each under the rules of the same change made one by one."""

    cases: list[CaseReference] = Field(max_length=100, description="the cases' references (or ids); at least one")
    action: BulkKind
    owner: Username | None = Field(default=None, description="assign: the new owner's username")
    tag: Tag | None = Field(default=None, description="tag: the tag to add")
    duplicate_of: CaseReference | None = Field(
        default=None, description="duplicate: the surviving case's reference (or id)")
    summary: Reason | None = Field(default=None, description="duplicate: optional resolution summary")

    @field_validator("cases")
    @classmethod
    def _some(cls, value: list[int | str]) -> list[int | str]:
        if not value:
            raise ValueError("select at least one case")
        return value


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        return parts or None
    return value


class CaseQuery(Input):
    """Filters, text search, sort and page for the case list (query parameters or a filter form)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: str | None = Field(
        default=None, max_length=200,
        description="a case reference (whole, its number or its start) or words in title, description, notes")
    status: Annotated[list[CaseStatus] | None, BeforeValidator(_csv)] = Field(
        default=None, description="one or more states, comma-separated")
    priority: Annotated[list[Priority] | None, BeforeValidator(_csv)] = Field(
        default=None, description="one or more of P1..P5, comma-separated")
    category: Slug | None = None
    subcategory: Slug | None = None
    owner: Username | None = Field(
        default=None, description="a username, or 'none' for unassigned cases")
    team: str | None = Field(default=None, max_length=64)
    tag: Tag | None = None
    tlp: Tlp | None = None
    state: str | None = Field(
        default=None, pattern="^(open|closed)$", description="open (not resolved or closed) or closed")
    restricted: bool | None = None
    escalated: bool | None = None
    no_commander: bool | None = Field(default=None, description="true: only open P1 cases with no incident commander")
    date_field: str = Field(default="created", pattern="^(created|updated|occurred|detected)$",
                            description="which date since/until apply to")
    since: When | None = Field(default=None,
                                                                           description="inclusive, ISO 8601")
    until: When | None = Field(default=None,
                                                                           description="exclusive, ISO 8601")
    sort: str = Field(default="-created",
                      pattern="^-?(created|updated|age|priority|occurred|reference)$",
                      description="created, updated, age, priority, occurred or reference; '-' for descending "
                                  "(age: youngest first, -age: oldest first)")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)
    fields: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=20,
        description="custom field filters, given as field.CODE=value parameters (text: any letter case; "
                    "multi-choice: one of the options chosen)")

    @model_validator(mode="before")
    @classmethod
    def _field_parameters(cls, data: Any) -> Any:
        """`field.CODE=value` parameters (the query string's form) into `fields`; blank ones are not given."""
        if not isinstance(data, dict):
            return data
        given = {k[len("field."):]: v for k, v in data.items()
                 if isinstance(k, str) and k.startswith("field.") and not (isinstance(v, str) and not v.strip())}
        rest = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("field."))}
        if given:
            rest["fields"] = {**(rest.get("fields") or {}), **given}
        return rest


# ---------------------------------------------------------------- incident roles (casemgr/cases/incident_roles.py)

ROLE_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
RoleLabel = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(single_line)]


class RoleAssignment(Command):
    """Name a user in an incident role on a case (handing it over from its holder, if any)."""

    user: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="the username")


class NewRoleKind(Command):
    """An admin-defined incident role kind. Its code is stable: playbook steps name the role by it."""

    code: Annotated[str, Field(pattern=ROLE_CODE_PATTERN)] = Field(
        description="lowercase letters, digits and underscores, starting with a letter (2-64), e.g. forensics_lead")
    label: RoleLabel
    description: Annotated[str, Field(max_length=REASON_MAX)] | None = None


class RoleKindUpdate(Command):
    """Change a kind's label or description, or retire it (retired: true) or bring it back."""

    label: RoleLabel | None = None
    description: Annotated[str, Field(max_length=REASON_MAX)] | None = None
    retired: bool | None = None


class RoleRelease(Command):
    """Release an incident role on a case (the form carries no field)."""


# ---------------------------------------------------------------- the taxonomy and role kinds as files

CATEGORY_CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
TaxonomyCode = Annotated[str, Field(pattern=CATEGORY_CODE_PATTERN,
                                    description="lower-case letters, digits and hyphens, e.g. malicious-code")]
TaxonomyName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(single_line)]
TaxonomyText = Annotated[str, Field(max_length=2_000)]


class SubcategoryItem(FileItem):
    """A subcategory in taxonomy.yaml."""

    code: TaxonomyCode
    name: TaxonomyName
    description: TaxonomyText = ""
    retired: bool = False


class CategoryItem(FileItem):
    """A category in taxonomy.yaml, with its subcategories in the order the forms offer them."""

    code: TaxonomyCode
    name: TaxonomyName
    description: TaxonomyText = ""
    retired: bool = False
    subcategories: list[SubcategoryItem] = Field(default_factory=list, max_length=500)


class RoleKindItem(FileItem):
    """An incident role kind in incident-roles.yaml."""

    code: Annotated[str, Field(pattern=ROLE_CODE_PATTERN, description="lower-case letters, digits and _, starting "
                                                                      "with a letter, e.g. forensics_lead")]
    label: RoleLabel
    description: Annotated[str, Field(max_length=REASON_MAX)] = ""
    retired: bool = False
