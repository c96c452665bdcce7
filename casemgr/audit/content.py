"""Case content in the audit log: an entry names a field of case content, it never holds its value.

Admins read the audit log but see no case content (casemgr/cases/access.py). So:

- Writers pass their summary through `without_content()` before `audit.record()`. A top-level key that holds
  case content (a filename, a download purpose, a seal or transfer reason, evidence provenance, free text)
  becomes a name in `content_fields`; in `changes` (field -> [from, to]) a free-text field or the tags become
  a name in `text_changed` (the convention the cases service started with). Everything else stays: who,
  when, what kind of action, the case and object ids, states, priorities, usernames, hashes and sizes.
- The values stay where the case's readers find them: the case timeline (changes with their reasons) and
  each evidence item's custody log (filename, purpose, reasons, provenance). An evidence entry keeps the
  custody entry's `custody_seq` and `custody_hash`, which pin the audit entry to that custody entry.
- Entries written before this rule may hold content, and the hash chain forbids rewriting them. So every
  read of the log for someone who does not read every case (admins) goes through `for_reader()`, which
  applies the same `without_content()` to the entry's summary: old and new entries look alike. Auditors and
  the CLI operator, who may read every case, see entries as recorded. The SIEM stream (`CASEMGR_AUDIT_LOG_FILE`,
  syslog) carries entries as recorded too, since its receiver checks the hash chain over them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from casemgr.auth.actor import Actor
from casemgr.cases import access

if TYPE_CHECKING:
    from casemgr.audit.models import AuditEntry

# Top-level summary keys whose value is case content.
CONTENT_KEYS = frozenset({"filename", "purpose", "reason", "description", "collected_by", "source",
                          "acquisition_method", "title", "body", "summary", "text"})
# Fields of a case whose change is named, not copied ("changes" -> "text_changed").
CHANGED_TEXT = frozenset({"title", "description", "priority_reason", "severity_reason", "resolution_summary",
                          "root_cause", "time_reason", "tags", "reason"})


def without_content(summary: dict[str, Any]) -> dict[str, Any]:
    """`summary` with every case content value replaced by its field's name (see the module docstring)."""
    result: dict[str, Any] = {}
    named: set[str] = set(summary.get("content_fields") or [])
    for key, value in summary.items():
        if key in CONTENT_KEYS and value is not None:
            named.add(key)
        elif key not in {"changes", "content_fields", "text_changed"}:
            result[key] = value
    changes = summary.get("changes")
    texts: set[str] = set(summary.get("text_changed") or [])
    if isinstance(changes, dict):
        # Custom field values (casemgr/cases/custom_fields.py) are case content of any kind: named only.
        kept = {k: v for k, v in changes.items() if k not in CHANGED_TEXT and not k.startswith("custom_fields.")}
        texts |= {k for k in changes if k in CHANGED_TEXT or k.startswith("custom_fields.")}
        if kept:
            result["changes"] = kept
    elif changes is not None:
        result["changes"] = changes
    if texts:
        result["text_changed"] = sorted(texts)
    if named:
        result["content_fields"] = sorted(named)
    return result


def reads_content(actor: Actor) -> bool:
    """Whether `actor` sees audit entries as recorded: those who may read every case (`case.view_all`:
    managers, auditors, the CLI)."""
    return access.sees_all(actor)


class EntryView:
    """An audit entry as one reader sees it: the entry's attributes, with `summary` as projected for them.
    (A wrapper, never the entry itself changed: a changed entry would be written back and break the chain.)"""

    def __init__(self, entry: AuditEntry, summary: dict[str, Any]) -> None:
        self._entry = entry
        self.summary = summary

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)


def for_reader(actor: Actor, entry: AuditEntry) -> EntryView:
    """The entry as `actor` may read it: as recorded, or without case content (admins)."""
    summary = dict(entry.summary or {})
    return EntryView(entry, summary if reads_content(actor) else without_content(summary))
