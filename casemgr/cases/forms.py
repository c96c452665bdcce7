"""HTML form and query-string shapes for the case pages, turned into the service's command dicts.

Only the representation differs from the API: lists arrive as repeated fields or comma-separated
text, checkboxes as present/absent, times from <input type="datetime-local"> in UTC. The edit form
carries each field's value as it was shown (`was.<field>`), and only the fields the user actually
changed are sent: an untouched field is never re-applied, and a lifecycle time asks for a reason
only when it was changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from werkzeug.datastructures import MultiDict

from casemgr.cases.models import Case
from casemgr.cases.schemas import CaseQuery

LIST_FIELDS = ("status", "priority")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EDIT_FIELDS = ("title", "description", "category", "subcategory", "tags", "source", "impact", "urgency", "tlp",
               "pap", "restricted", "occurred_at", "detected_at", "reported_at", "acknowledged_at",
               "contained_at", "resolved_at", "closed_at", "owner", "team", "members")
TIME_FIELDS = ("occurred_at", "detected_at", "reported_at", "acknowledged_at", "contained_at", "resolved_at",
               "closed_at")


def query_args(args: MultiDict[str, str]) -> dict[str, Any]:
    """The list page's query string as CaseQuery input (unknown parameters are ignored).

    A plain date in `until` means "up to the end of that day" (the schema's `until` is exclusive)."""
    data: dict[str, Any] = {}
    for name in CaseQuery.model_fields:
        values = [v for v in args.getlist(name) if v.strip()]
        if not values:
            continue
        data[name] = ",".join(values) if name in LIST_FIELDS else values[-1]
    data |= {k: args.get(k) for k in args if k.startswith("field.") and (args.get(k) or "").strip()}
    until = data.get("until")
    if isinstance(until, str) and _DATE_ONLY.match(until.strip()):
        with contextlib.suppress(ValueError, OverflowError):  # an impossible date is left for the schema to name
            data["until"] = (dt.date.fromisoformat(until.strip()) + dt.timedelta(days=1)).isoformat()
    return data


def filter_args(args: MultiDict[str, str]) -> dict[str, Any]:
    """The current filters, for links (sort, pages) that keep them; lists stay lists."""
    return {k: (args.getlist(k) if k in LIST_FIELDS else args.get(k)) for k in args
            if k in CaseQuery.model_fields or k.startswith("field.")}


def tags(text: str | None) -> list[str]:
    return [t.strip() for t in re.split(r"[,\s]+", text or "") if t.strip()]


def new_case(form: MultiDict[str, str]) -> dict[str, Any]:
    """The create form as NewCase input (custom fields, `field.CODE`, into `custom_fields`)."""
    data: dict[str, Any] = {k: v for k, v in form.items() if k not in {"csrf_token", "tags", "members", "restricted"}
                            and not k.startswith("field.")}
    data["tags"] = tags(form.get("tags"))
    data["members"] = [m for m in form.getlist("members") if m]
    data["restricted"] = form.get("restricted") == "on"
    data["custom_fields"] = {name[len("field."):]: value for name, value in _custom(form, "field.").items()}
    return data


def _custom(form: MultiDict[str, str], prefix: str) -> dict[str, Any]:
    """The custom fields' inputs under `prefix` (`field.CODE`, or `was.field.CODE`): text, or for a multi-choice
    (its inputs start with an empty hidden one, so that none ticked is sent too) the options ticked."""
    values: dict[str, Any] = {}
    for name in dict.fromkeys(k for k in form if k.startswith(prefix)):
        given = form.getlist(name)
        key = "field." + name[len(prefix):]
        values[key] = sorted(v for v in given if v) if len(given) > 1 or name.endswith("[]") else given[0].strip()
    return values


def shown(case: Case) -> dict[str, Any]:
    """The edit form's values for `case`, as the form shows them (strings and lists of strings)."""
    values: dict[str, Any] = {}
    for name in EDIT_FIELDS:
        value = getattr(case, name, None)
        if name == "tags":
            value = ", ".join(case.tag_names)
        elif name == "members":
            value = case.member_names
        elif name == "owner":
            value = case.owner.username if case.owner else ""
        elif name == "team":
            value = case.team_name or ""
        elif name == "restricted":
            value = "on" if case.restricted else ""
        elif isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")
        elif value is None:
            value = ""
        else:
            value = getattr(value, "value", value)
        values[name] = value
    return values


def submitted(form: MultiDict[str, str]) -> dict[str, Any]:
    """The edit form's values as submitted, in the same shapes as `shown`."""
    values: dict[str, Any] = {}
    for name in EDIT_FIELDS:
        if name == "members":
            values[name] = sorted(m for m in form.getlist("members") if m)
        elif name == "restricted":
            values[name] = "on" if form.get("restricted") == "on" else ""
        else:
            values[name] = form.get(name, "").strip()
    return values | _custom(form, "field.")


def case_update(form: MultiDict[str, str]) -> dict[str, Any]:
    """The edit form as CaseUpdate input: the version, the fields whose value differs from what the
    form showed (`was.<field>`), the reason for changed lifecycle times, and the reason for lowering the
    TLP or lifting the restriction."""
    data: dict[str, Any] = {"version": form.get("version", "")}
    now = submitted(form)
    for name in EDIT_FIELDS:
        if name not in form and f"was.{name}" not in form:
            continue  # not on this form (e.g. team and members are for managers)
        was: Any = sorted(m for m in form.getlist(f"was.{name}") if m) if name == "members" \
            else form.get(f"was.{name}", "")
        if now[name] == was:
            continue
        if name == "tags":
            data[name] = tags(now[name])
        elif name == "restricted":
            data[name] = now[name] == "on"
        else:
            data[name] = now[name] if now[name] != "" or name not in TIME_FIELDS else None
    shown, sent = _custom(form, "was.field."), _custom(form, "field.")
    changed = {name[len("field."):]: sent.get(name, "") for name in {*shown, *sent}
               if sent.get(name, "") != shown.get(name, "") and sent.get(name, []) != shown.get(name, [])}
    if changed:
        data["custom_fields"] = changed
    if form.get("time_reason", "").strip():
        data["time_reason"] = form["time_reason"]
    if form.get("reason", "").strip():
        data["reason"] = form["reason"]
    return data


def was(form: MultiDict[str, str]) -> dict[str, Any]:
    """The values the edit form showed (its `was.<field>` inputs), in the shapes of `shown`."""
    return {name: sorted(m for m in form.getlist(f"was.{name}") if m) if name == "members"
            else form.get(f"was.{name}", "") for name in EDIT_FIELDS} | _custom(form, "was.field.")


def priority_override(form: MultiDict[str, str]) -> dict[str, Any]:
    """The priority form: a fixed priority with its reason, or "" to follow the matrix again."""
    return {"version": form.get("version", ""), "priority_override": form.get("priority_override") or None,
            "priority_reason": form.get("priority_reason", "").strip() or None}


BULK_FIELDS = ("action", "owner", "tag", "duplicate_of", "summary")
CHIP_LABELS = {"q": "search", "state": "", "status": "status", "priority": "priority", "category": "category",
               "subcategory": "subcategory", "owner": "owner", "team": "team", "tag": "tag", "tlp": "TLP",
               "restricted": "restricted", "escalated": "escalated",
               "no_commander": "no incident commander", "date_field": "date", "since": "from",
               "until": "until"}


def bulk(form: MultiDict[str, str]) -> dict[str, Any]:
    """The bulk bar under the case list as BulkAction input: the ticked cases and the chosen action's field."""
    data: dict[str, Any] = {"cases": [c for c in form.getlist("cases") if c.strip()]}
    action = form.get("action", "")
    data["action"] = action
    needs = {"assign": "owner", "tag": "tag", "duplicate": "duplicate_of"}.get(action)
    for name in BULK_FIELDS[1:]:
        if name == needs or (name == "summary" and action == "duplicate"):
            data[name] = form.get(name, "")
    return data


def back(form: MultiDict[str, str]) -> str:
    """The case list's query string the bulk form was sent from (list parameters only), to go back to it."""
    return urlencode([(k, v) for k, v in parse_qsl(form.get("back", "")[:2000]) if k in CaseQuery.model_fields])


def active_filters(args: MultiDict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The filters in use, as chips: (what it says, the list's arguments without it) for a remove link."""
    current = filter_args(args)
    chips: list[tuple[str, dict[str, Any]]] = []
    for name, label in CHIP_LABELS.items():
        value = current.get(name)
        if not value or (name == "date_field" and not (current.get("since") or current.get("until"))):
            continue
        shown = ", ".join(value) if isinstance(value, list) else value
        without = {k: v for k, v in current.items() if k not in {name, "page"}}
        chips.append((f"{label}: {shown}" if label else shown, without))
    for name, value in current.items():
        if name.startswith("field.") and value:
            chips.append((f"{name[len('field.'):]}: {value}", {k: v for k, v in current.items()
                                                                if k not in {name, "page"}}))
    return chips
