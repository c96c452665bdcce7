"""The playbook library: importing playbook files as versions, choosing the current one, reading and comparing them.

- A playbook (its file's id) keeps every version ever imported. Importing the same id and version again with
  the same content (hash) changes nothing; with other content it is refused (409): give the file a new version.
- The current version (the one new runs use) is the highest imported; a lower version imported later is kept,
  not made current. A manager may choose another current version, or retire a playbook.
- Every import is audited (`playbook.import`) with the id, version and content hash.
Reading needs playbook.view; importing, choosing the current version and retiring need playbook.manage.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Invalid, NotFound
from casemgr.playbooks import definition, loader
from casemgr.playbooks.definition import SharedStep, version_key
from casemgr.playbooks.models import Playbook, PlaybookRun, PlaybookVersion, SourceFormat

__all__ = ["ImportPlaybook", "ImportResult", "PlaybookRefused", "definition_of", "diff", "get_playbook",
           "get_version", "import_text", "list_playbooks", "retire", "set_current", "suggested_for",
           "sync_folder", "versions_with_runs"]


@dataclass(frozen=True)
class ImportPlaybook:
    """A playbook file to import: its text and the name it came with (problems name it)."""

    text: str
    file_name: str


@dataclass(frozen=True)
class ImportResult:
    version: PlaybookVersion
    created: bool  # False: that version was stored already with the same content


class PlaybookRefused(Invalid):
    """A playbook file the loader refused: every problem, each "file:line: field: message"."""

    def __init__(self, problems: list[loader.Problem] | list[str]) -> None:
        lines = [str(p) for p in problems]
        more = f" (and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''})" if len(lines) > 1 else ""
        super().__init__(f"the playbook was refused: {lines[0]}{more}", details={"problems": lines})
        self.problems = lines


def _require_view(actor: Actor) -> None:
    require(actor, Permission.PLAYBOOK_VIEW, "you may not read playbooks")


def _require_manage(actor: Actor, doing: str) -> None:
    require(actor, Permission.PLAYBOOK_MANAGE, f"only playbook managers may {doing}")


# ---------------------------------------------------------------- importing

def import_text(session: Session, actor: Actor, cmd: ImportPlaybook, *,
                shared: Mapping[str, SharedStep] | None = None) -> ImportResult:
    """Import a playbook file as a version (shared steps: `shared`, default the shipped playbooks/steps).

    Raises Forbidden; PlaybookRefused (422, every problem); Conflict (that version stored with other content)."""
    _require_manage(actor, "import playbooks")
    if cmd.file_name.lower().endswith(".json"):  # an OASIS CACAO 2.0 playbook (docs/cacao.md)
        return _store(session, actor, _from_cacao(cmd), cmd, SourceFormat.CACAO)
    if shared is None:
        shared, problems = loader.read_shared_steps(loader.SHIPPED / "steps")
        if problems:
            raise PlaybookRefused(problems)
    pb, problems = loader.load_text(cmd.text, cmd.file_name, shared, registry=loader.Registry.from_db(session))
    if pb is None:
        raise PlaybookRefused(problems)
    return _store(session, actor, pb, cmd, SourceFormat.YAML)


def _from_cacao(cmd: ImportPlaybook) -> definition.Playbook:
    from casemgr.playbooks import cacao  # jsonschema and the OASIS schemas: loaded only for a CACAO file

    try:
        return cacao.from_cacao(cmd.text)
    except cacao.CacaoRefused as exc:
        raise PlaybookRefused([f"{cmd.file_name}: {p}" for p in exc.problems]) from None


def _store(session: Session, actor: Actor, pb: definition.Playbook, cmd: ImportPlaybook,
           source_format: SourceFormat) -> ImportResult:
    digest = loader.content_hash(pb)
    playbook = session.scalars(select(Playbook).where(Playbook.code == pb.id).with_for_update()).first()
    if playbook is not None:
        stored = session.scalars(select(PlaybookVersion).where(PlaybookVersion.playbook_id == playbook.id,
                                                               PlaybookVersion.version == pb.version)).first()
        if stored is not None:
            if stored.content_hash == digest:
                return ImportResult(stored, created=False)
            raise _conflict(pb)
    major, minor, patch = version_key(pb.version)
    user = actor.user
    try:
        with session.begin_nested():  # a concurrent import of the same id or version: 409, not a 500
            if playbook is None:
                playbook = Playbook(code=pb.id, title=pb.title, created_at=clock(session).now())
                session.add(playbook)
                session.flush()
            version = PlaybookVersion(
                playbook_id=playbook.id, version=pb.version, major=major, minor=minor, patch=patch, title=pb.title,
                description=pb.description, categories=list(pb.categories), definition=pb.canonical(),
                content_hash=digest, source=cmd.text, source_format=source_format,
                source_name=cmd.file_name[:255], imported_at=clock(session).now(),
                imported_by_id=user.id if user is not None else None, imported_by_name=actor.name[:128])
            session.add(version)
            session.flush()
    except IntegrityError:
        raise _conflict(pb) from None
    current = playbook.current_version
    if current is None or (version.major, version.minor, version.patch) > (current.major, current.minor,
                                                                             current.patch):
        playbook.current_version = version
        playbook.title = version.title
    session.flush()
    audit.record(session, actor, "playbook.import", "playbook", playbook.id, {
        "id": pb.id, "version": pb.version, "hash": digest, "file": cmd.file_name,
        "current": playbook.current_version_id == version.id})
    return ImportResult(version, created=True)


def _conflict(pb: definition.Playbook) -> Conflict:
    return Conflict(f"version {pb.version} of {pb.id} is already stored with other content; "
                    "give the file a new version", field="version")


def sync_folder(session: Session, actor: Actor, folder: Path) -> list[ImportResult]:
    """Import every playbook of `folder` (*.yaml, shared steps from folder/steps). Nothing is imported when a
    file has a problem. Raises Forbidden; PlaybookRefused; Conflict."""
    _require_manage(actor, "import playbooks")
    if not folder.is_dir():
        return []
    shared, problems = loader.read_shared_steps(folder / "steps")
    results: list[ImportResult] = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        pb, found = loader.load_text(text, loader.display_name(path), shared,
                                     registry=loader.Registry.from_db(session))
        problems += found
        if pb is not None and not problems:
            results.append(_store(session, actor, pb, ImportPlaybook(text, path.name), SourceFormat.YAML))
    if problems:
        raise PlaybookRefused(sorted(problems))
    return results


# ---------------------------------------------------------------- reading

_OPTIONS = (selectinload(Playbook.current_version), selectinload(Playbook.versions))


def list_playbooks(session: Session, actor: Actor, *, category: str | None = None,
                   retired: bool = False) -> list[Playbook]:
    """The playbooks by id (not retired unless `retired`); with `category`, those whose current version applies
    to it (or to every category). Raises Forbidden."""
    _require_view(actor)
    where = [] if retired else [Playbook.retired_at.is_(None)]
    found = list(session.scalars(select(Playbook).where(*where).order_by(Playbook.code).options(*_OPTIONS)))
    if category is not None:
        found = [p for p in found if p.current_version is not None
                 and (not p.current_version.categories or category in p.current_version.categories)]
    return found


def get_playbook(session: Session, actor: Actor, code: str) -> Playbook:
    """One playbook by its id, with its versions. Raises Forbidden; NotFound."""
    _require_view(actor)
    found = session.scalars(select(Playbook).where(Playbook.code == code).options(*_OPTIONS)).first()
    if found is None:
        raise NotFound(f"no playbook {code!r}")
    return found


def get_version(session: Session, actor: Actor, code: str, version: str | None = None) -> PlaybookVersion:
    """A version of a playbook (default: the current one). Raises Forbidden; NotFound."""
    playbook = get_playbook(session, actor, code)
    if version is None:
        if playbook.current_version is None:
            raise NotFound(f"playbook {code} has no current version")
        return playbook.current_version
    found = next((v for v in playbook.versions if v.version == version), None)
    if found is None:
        have = ", ".join(v.version for v in playbook.versions)
        raise NotFound(f"playbook {code} has no version {version!r}; it has {have}")
    return found


_DEFINITIONS: dict[str, definition.Playbook] = {}  # by content hash: a stored version never changes
_MAX_DEFINITIONS = 256


def definition_of(version: PlaybookVersion) -> definition.Playbook:
    """The definition a stored version holds, parsed once per content hash (a bounded memo)."""
    found = _DEFINITIONS.get(version.content_hash)
    if found is None:
        found = definition.Playbook.model_validate(version.definition)
        if len(_DEFINITIONS) >= _MAX_DEFINITIONS:
            _DEFINITIONS.pop(next(iter(_DEFINITIONS)))
        _DEFINITIONS[version.content_hash] = found
    return found


def suggested_for(session: Session, actor: Actor, case: Case) -> list[Playbook]:
    """The playbooks (not retired) whose current version applies to the case's category or to every one.
    The caller has checked that the actor may see the case. Raises Forbidden."""
    return list_playbooks(session, actor, category=case.category)


def versions_with_runs(session: Session, playbook: Playbook) -> dict[int, int]:
    """How many runs use each version of `playbook` (version id -> runs; versions without runs are absent)."""
    ids = [v.id for v in playbook.versions]
    if not ids:
        return {}
    rows = session.execute(select(PlaybookRun.version_id, func.count()).where(PlaybookRun.version_id.in_(ids))
                           .group_by(PlaybookRun.version_id))
    return {version_id: count for version_id, count in rows.tuples()}


def canonical_yaml(version: PlaybookVersion) -> str:
    """A version's definition as YAML, in the order of the format (what a diff compares)."""
    return yaml.safe_dump(definition_of(version).canonical(), sort_keys=False, allow_unicode=True, width=100)


def diff(session: Session, actor: Actor, code: str, old: str, new: str) -> list[str]:
    """The unified diff (lines) between two versions' canonical YAML. Raises Forbidden; NotFound."""
    before, after = get_version(session, actor, code, old), get_version(session, actor, code, new)
    return list(difflib.unified_diff(canonical_yaml(before).splitlines(), canonical_yaml(after).splitlines(),
                                     fromfile=f"{code} {old}", tofile=f"{code} {new}", lineterm=""))


# ---------------------------------------------------------------- managing

def set_current(session: Session, actor: Actor, code: str, version: str) -> Playbook:
    """Make `version` the one new runs use. Raises Forbidden; NotFound."""
    _require_manage(actor, "choose a playbook's current version")
    chosen = get_version(session, actor, code, version)
    playbook = chosen.playbook
    before = playbook.current_version.version if playbook.current_version else None
    if before != version:
        playbook.current_version = chosen
        playbook.title = chosen.title
        session.flush()
        audit.record(session, actor, "playbook.set_current", "playbook", playbook.id,
                     {"id": code, "version": version, "was": before})
    return playbook


def retire(session: Session, actor: Actor, code: str) -> Playbook:
    """Retire a playbook: it is no longer suggested nor listed; runs in progress go on.
    Raises Forbidden; NotFound; Conflict (retired already)."""
    _require_manage(actor, "retire playbooks")
    playbook = get_playbook(session, actor, code)
    if playbook.retired_at is not None:
        raise Conflict(f"playbook {code} was retired already")
    playbook.retired_at = clock(session).now()
    session.flush()
    audit.record(session, actor, "playbook.retire", "playbook", playbook.id, {"id": code})
    return playbook
