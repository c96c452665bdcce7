"""Configuration as files: export the configuration to a folder of YAML files, check such a folder,
apply it. The sections (one file each) are in casemgr/configfiles/sections.py; the format of each
file is in docs/configuration-files.md.

- `check_folder` reads every file, reports every problem it finds (file, line, field, in plain words)
  and changes nothing: after the files' own checks it tries the changes in a savepoint and rolls it
  back, so that what apply would refuse is reported by check too.
- `apply_folder` checks first and changes nothing if anything is wrong; otherwise it applies every
  section in one transaction (the caller's: the CLI commits once, and a failure anywhere rolls back
  everything). Each change is audited by the domain's service, plus one `config.apply` entry listing
  them. Applying what was exported from the same instance changes nothing.
- Nothing is deleted: an item in the database that a file leaves out is kept as it is and reported;
  an item is retired only when its file says `retired: true`. A section whose file is not in the
  folder is left alone.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from casemgr import fields
from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.configfiles import yamlfile
from casemgr.configfiles.sections import Section, sections
from casemgr.configfiles.yamlfile import Document, Problem
from casemgr.errors import DomainError, Invalid

MAX_FILE_BYTES = 5 * 1024 * 1024


class ConfigRefused(Invalid):
    """The files have problems; nothing was changed. `problems`: every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the configuration files; nothing was changed")
        self.problems = problems


@dataclass
class Loaded:
    """A section's file, read and validated: its document and its items (raw, as apply takes them)."""

    section: Section
    document: Document
    items: list[dict[str, Any]]


@dataclass
class Report:
    """What check or apply found: the files read, the sections without a file, the problems, the
    changes (apply: made; check: that apply would make), and what the files leave out."""

    files: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    left_out: dict[str, list[str]] = field(default_factory=dict)


def _require(actor: Actor) -> None:
    require(actor, Permission.INSTANCE_CONFIGURE, "only admins export, check and apply the configuration files")


# ---------------------------------------------------------------- export


def export_folder(session: Session, actor: Actor, folder: Path) -> list[tuple[Path, int]]:
    """Write each section's file into `folder` (made if missing; files of the same name are replaced).
    Returns each file written with its number of items. Raises Forbidden; Invalid (not a folder)."""
    _require(actor)
    if folder.exists() and not folder.is_dir():
        raise Invalid(f"{folder}: not a folder", field="dir")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for section in sections():
        items = section.export(session)
        header = (f"casemgr configuration: {section.name}.\n{section.about}\n"
                  "Written by `casemgr config export`; the format is in docs/configuration-files.md.")
        path = folder / section.file
        path.write_text(yamlfile.dump(header, {section.list_key: items}), encoding="utf-8")
        written.append((path, len(items)))
    return written


# ---------------------------------------------------------------- check and apply


def check_folder(session: Session, actor: Actor, folder: Path) -> Report:
    """Every problem in the files of `folder`, and the changes apply would make; changes nothing.
    Raises Forbidden; Invalid (no such folder)."""
    _require(actor)
    report, loaded = _read(session, folder)
    if not report.problems:
        nested = session.begin_nested()
        try:
            report.changes = _apply_all(session, actor, loaded)
        except ConfigRefused as exc:
            report.problems = exc.problems
        finally:
            nested.rollback()
            _forget(session)
    return report


def apply_folder(session: Session, actor: Actor, folder: Path) -> Report:
    """Check the files of `folder`, then make the database say what they say, all or nothing.

    Raises ConfigRefused with every problem (nothing changed); Forbidden; Invalid (no such folder)."""
    _require(actor)
    report, loaded = _read(session, folder)
    if report.problems:
        raise ConfigRefused(report.problems)
    report.changes = _apply_all(session, actor, loaded)
    if report.changes:
        audit.record(session, actor, "config.apply", "configuration", None,
                     {"files": report.files, "changes": report.changes})
    return report


def _apply_all(session: Session, actor: Actor, loaded: list[Loaded]) -> list[str]:
    changes: list[str] = []
    for one in loaded:
        try:
            changes += one.section.apply(session, actor, one.items)
        except DomainError as exc:  # what no check saw: report it on the section's file, and change nothing
            index = exc.details.get("index") if isinstance(exc.details, dict) else None
            if isinstance(index, int):  # the item the domain refused, and its field where it names one
                path: tuple[int | str, ...] = (one.section.list_key, index, *([exc.field] if exc.field else []))
                raise ConfigRefused([one.document.problem(path, _without_field(exc))]) from None
            raise ConfigRefused([Problem(one.document.file, one.document.line((one.section.list_key,)),
                                         exc.field or "", _without_field(exc))]) from None
    return changes


def _without_field(exc: DomainError) -> str:
    prefix = f"{exc.field}: "
    return exc.message[len(prefix):] if exc.field and exc.message.startswith(prefix) else exc.message


def _forget(session: Session) -> None:
    from casemgr.cases import taxonomy

    taxonomy.forget(session)  # the rolled-back savepoint may have read a taxonomy it changed


def _read(session: Session, folder: Path) -> tuple[Report, list[Loaded]]:
    if not folder.is_dir():
        raise Invalid(f"{folder}: no such folder", field="dir")
    known = {s.file: s for s in sections()}
    report = Report()
    loaded = []
    for path in sorted(folder.iterdir()):
        if path.suffix in {".yaml", ".yml"} and path.name not in known:
            report.problems.append(Problem(path.name, 0, "", "not a casemgr configuration file; the files are "
                                           + ", ".join(known)))
    for section in sections():
        path = folder / section.file
        if not path.is_file():
            report.absent.append(section.file)
            continue
        report.files.append(section.file)
        one, problems = _load(session, section, path)
        report.problems += problems
        if one is not None and not problems:
            loaded.append(one)
            report.left_out[section.name] = section.left_out(session, one.items)
    report.problems.sort(key=lambda p: (p.file, p.line))
    return report, loaded


def _load(session: Session, section: Section, path: Path) -> tuple[Loaded | None, list[Problem]]:
    file = section.file
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [Problem(file, 0, "", f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, 0, "", f"not UTF-8 text (byte {exc.start})")]
    document, problems = yamlfile.read(file, text)
    if document is None:
        return None, problems
    data = document.data
    key = section.list_key
    if not isinstance(data, dict) or key not in data:
        return None, [*problems, document.problem((), f"the file should hold one key, {key}:, "
                                                       "with the list of items under it")]
    problems += [document.problem((k,), f"unknown key; this file holds only {key}") for k in data if k != key]
    raw = data[key]
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        return None, [*problems, document.problem((key,), "should be a list of items, each starting with -")]
    valid: list[tuple[int, Any]] = []
    for i, item in enumerate(raw):
        try:
            valid.append((i, section.item.model_validate(item)))
        except ValidationError as exc:
            problems += [document.problem((key, i, *e["loc"]), _words(section.item, e)) for e in exc.errors()]
    first: dict[str, int] = {}
    for i, item in valid:
        k = section.key(item)
        if k in first:
            where = (key, i, section.key_field)
            problems.append(document.problem(where, f"{getattr(item, section.key_field)!r} is given twice (also "
                                                    f"{key}[{first[k]}], line {document.line((key, first[k]))})"))
        first.setdefault(k, i)
    if section.check is not None and valid:
        for (index, *rest), message in section.check(session, [item for _, item in valid]):
            problems.append(document.problem((key, valid[int(index)][0], *rest), message))
    return Loaded(section, document, raw), problems


def _words(model: type[BaseModel], error: Any) -> str:
    """A pydantic error in plain words (casemgr.fields.problem), unknown keys with the keys allowed there."""
    if error["type"] == "extra_forbidden":
        return f"unknown key; the keys here are {', '.join(_model_at(model, error['loc'][:-1]).model_fields)}"
    if error["type"] == "missing":
        return "missing; every item needs it"
    if error["type"] == "string_pattern_mismatch" and error["loc"]:
        declared = _model_at(model, error["loc"][:-1]).model_fields.get(str(error["loc"][-1]))
        if declared is not None and declared.description:
            return f"{error['input']!r} is not in the accepted form ({declared.description})"
    return fields.problem(model, error)[1]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The schema of the mapping at `loc` inside an item of `model` (subcategories[0] -> SubcategoryItem)."""
    for part in loc:
        declared = model.model_fields.get(part) if isinstance(part, str) else None
        if declared is None:
            continue
        inner = [a for a in typing.get_args(declared.annotation) or (declared.annotation,)
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:
            model = inner[0]
    return model
