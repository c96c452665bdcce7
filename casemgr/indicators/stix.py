"""The one place that talks to the stix2 and stix2-patterns libraries.

Everything returned here is a plain JSON-ready dict (never a stix2 object), so the rest of the app stores
and serves the STIX JSON exactly as built or received.

How a case appears in STIX: the case is an `incident` SDO whose id is derived from the case's own stable id
(so exporting twice gives the same id), and which carries an external reference
`{"source_name": "casemgr", "external_id": <case reference>}`. Every sighting of an indicator in a case
carries the same external reference, and `where_sighted_refs` names the organization's identity. External
references are standard STIX 2.1 (no custom property or extension a consumer would have to know), and
(created_by_ref, external_id) is unambiguous across organizations. Sighting ids are derived from
(indicator id, case id), so a re-sighting is a new version (same id, newer `modified`) of the same object.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import stix2
import stix2.exceptions
import stix2.registry
import stix2.v21
import stix2.v21.base
from stix2patterns.validator import run_validator

from casemgr.cases.models import Tlp  # TLP 2.0 levels, lowest to highest: the cases' own
from casemgr.errors import Invalid
from casemgr.indicators.observables import Observable

# Our namespace for ids derived from our own keys (organization name, case id). Fixed forever: changing it
# would change every derived id.
NAMESPACE = uuid.UUID("3c1d6f0e-58b4-4f55-9a3e-7f1b0c2d9e41")
EXTERNAL_SOURCE = "casemgr"
# The organization identity is a fixed object derived from the name, so its timestamps are fixed too.
IDENTITY_CREATED = "2020-01-01T00:00:00.000Z"
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
# stix2 writes the timestamps of the objects it builds with strftime, which gives year 999 as "999": no valid STIX
# timestamp. Objects we build start in year 1000; received ones are stored and served as written.
MIN_YEAR = 1000
_PATTERN_ERROR = re.compile(r"(?:FAIL: )?Error found at line (\d+):(\d+)\. (.*)", re.DOTALL)
# The pattern grammar's parser (ANTLR) recurses once per nesting level and per chained operator, and gives up
# with a RecursionError near 300 nested parentheses or 1,000 chained comparisons: patterns are refused well
# before, before any parsing. Real patterns nest a few levels and chain a few dozen comparisons at most.
MAX_PATTERN_DEPTH = 100
MAX_PATTERN_OPERATORS = 500
_PATTERN_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
_PATTERN_OPERATOR = re.compile(r"\b(?:AND|OR|FOLLOWEDBY)\b")
# stix2-patterns' parser takes time quadratic in a run of digits that is no number (0000...: 20,000 of them
# held a worker for minutes); no number in a pattern needs more digits than this.
MAX_PATTERN_DIGITS = 64
_PATTERN_DIGITS = re.compile(rf"\d{{{MAX_PATTERN_DIGITS + 1},}}")


# ---------------------------------------------------------------- fixed objects

@cache
def _tlp_objects() -> dict[Tlp, dict[str, Any]]:
    text = resources.files("casemgr.indicators").joinpath("data/tlp2.json").read_text(encoding="utf-8")
    return {Tlp(obj["extensions"][TLP2_EXTENSION]["tlp_2_0"]): obj for obj in json.loads(text)}


def tlp_marking(level: Tlp | str) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object for a level (a fresh copy)."""
    return json.loads(json.dumps(_tlp_objects()[Tlp(level)]))


def tlp_markings() -> list[dict[str, Any]]:
    """All five TLP 2.0 marking definitions, CLEAR to RED."""
    return [tlp_marking(level) for level in Tlp]


# The STIX 2.1 specification's own predefined TLP 1.0 markings (still what most feeds use): WHITE is CLEAR.
TLP1_LEVELS = {
    stix2.TLP_WHITE.id: Tlp.CLEAR,
    stix2.TLP_GREEN.id: Tlp.GREEN,
    stix2.TLP_AMBER.id: Tlp.AMBER,
    stix2.TLP_RED.id: Tlp.RED,
}


@cache
def _tlp_levels() -> dict[str, Tlp]:
    return {**TLP1_LEVELS, **{obj["id"]: level for level, obj in _tlp_objects().items()}}


def tlp_defined_by(marking_id: str) -> Tlp | None:
    """The TLP level a marking-definition id stands for (TLP 2.0, or the spec's TLP 1.0 ones), or None."""
    return _tlp_levels().get(marking_id)


def tlp_of(marking_refs: Iterable[str]) -> Tlp | None:
    """The highest TLP level among marking ids (an object's `object_marking_refs`), or None.

    Knows the TLP 2.0 marking definitions and the STIX 2.1 specification's TLP 1.0 ones (WHITE counts as CLEAR).
    """
    by_id = _tlp_levels()
    found = [by_id[ref] for ref in marking_refs if isinstance(ref, str) and ref in by_id]
    order = list(Tlp)
    return max(found, key=order.index) if found else None


def organization_identity(name: str) -> dict[str, Any]:
    """The organization's `identity` SDO: its id is derived from the name, so every export names the same one."""
    clean = name.strip()
    if not clean:
        raise Invalid("the organization name is empty", field="organization_name")
    identity_id = f"identity--{uuid.uuid5(NAMESPACE, 'organization:' + clean.casefold())}"
    return _json(stix2.v21.Identity(id=identity_id, name=clean, identity_class="organization",
                                    created=IDENTITY_CREATED, modified=IDENTITY_CREATED))


# ---------------------------------------------------------------- building our own objects

@dataclass(frozen=True)
class CaseRef:
    """What STIX needs to know about a case: a stable id (e.g. the case's UUID) and its reference."""

    id: str
    reference: str
    title: str = ""

    @property
    def incident_id(self) -> str:
        return f"incident--{uuid.uuid5(NAMESPACE, 'case:' + self.id)}"

    @property
    def external_reference(self) -> dict[str, str]:
        return {"source_name": EXTERNAL_SOURCE, "external_id": self.reference}


def timestamp(moment: datetime) -> str:
    """A STIX timestamp in UTC with millisecond precision, e.g. 2026-01-02T03:04:05.678Z."""
    if moment.tzinfo is None:
        raise ValueError("STIX timestamps need a time-zone-aware datetime")
    utc = moment.astimezone(UTC)
    # The year by hand: strftime's %Y gives year 999 as "999", which is no STIX timestamp.
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build_indicator(
    *,
    observable: Observable | None = None,
    pattern: str | None = None,
    identity_id: str,
    tlp: Tlp | str,
    now: datetime,
    confidence: int = 50,
    indicator_types: Sequence[str] = ("malicious-activity",),
    name: str | None = None,
    description: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    stix_id: str | None = None,
) -> dict[str, Any]:
    """A STIX 2.1 indicator for an observable, or for a raw pattern (validated first).

    Raises Invalid naming the field: "pattern" (with the error position), "confidence", "valid_until".
    """
    if (observable is None) == (pattern is None):
        raise ValueError("give exactly one of observable or pattern")
    if observable is not None:
        pattern_text = observable.pattern
        default_name = f"{observable.type.value}: {observable.value}"
    else:
        pattern_text = validate_pattern(pattern or "")
        default_name = pattern_text
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100:
        raise Invalid("confidence is a whole number from 0 to 100", field="confidence")
    for field, moment in (("valid_from", valid_from), ("valid_until", valid_until)):
        if moment is not None and moment.astimezone(UTC).year < MIN_YEAR:
            raise Invalid(f"{field}: must be in the year {MIN_YEAR} or later", field=field)
    start = valid_from or now
    if valid_until is not None and valid_until <= start:
        raise Invalid("valid_until must be later than valid_from", field="valid_until")
    created = timestamp(now)
    properties: dict[str, Any] = {
        "id": stix_id or f"indicator--{uuid.uuid4()}",
        "created": created,
        "modified": created,
        "name": name or default_name[:250],
        "indicator_types": list(indicator_types),
        "pattern": pattern_text,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": timestamp(start),
        "confidence": confidence,
        "created_by_ref": identity_id,
        "object_marking_refs": [tlp_marking(tlp)["id"]],
    }
    if description:
        properties["description"] = description
    if valid_until is not None:
        properties["valid_until"] = timestamp(valid_until)
    return _json(stix2.v21.Indicator(**properties))


def build_observables(observable: Observable, *, tlp: Tlp | str) -> list[dict[str, Any]]:
    """The SCOs for an observable (ids deterministic from their values, as STIX 2.1 specifies; a process,
    which has no id-contributing property, gets a random UUIDv4 id as the specification requires).

    Empty for a user agent (see Observable.sco_properties).
    """
    marking = [tlp_marking(tlp)["id"]]
    built: list[dict[str, Any]] = []
    for sco_type, properties in observable.sco_properties():
        props = dict(properties)
        if props.get("image_ref") == "$0":
            # A process has no id-contributing property, so STIX 2.1 (section 2.9) requires a UUIDv4 id.
            props["image_ref"] = built[0]["id"]
            props["id"] = f"process--{uuid.uuid4()}"
        cls = stix2.registry.class_for_type(sco_type, "2.1", "observables")
        built.append(_json(cls(object_marking_refs=marking, **props)))
    return built


def build_sighting(
    indicator_id: str,
    *,
    identity_id: str,
    case: CaseRef,
    tlp: Tlp | str,
    now: datetime,
    first_seen: datetime,
    last_seen: datetime | None = None,
    count: int = 1,
    created: datetime | None = None,
) -> dict[str, Any]:
    """A sighting of an indicator in a case (where_sighted_refs = the organization).

    The id is derived from (indicator, case): pass `created` from the first version when updating count or
    last_seen, so the new object is a newer version of the same sighting. Raises Invalid on bad counts/times.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 999_999_999:
        raise Invalid("count is a whole number from 0 to 999999999", field="count")
    last = last_seen or first_seen
    if last < first_seen:
        raise Invalid("last_seen must not be earlier than first_seen", field="last_seen")
    return _json(stix2.v21.Sighting(
        id=sighting_id(indicator_id, case),
        created=timestamp(created or now),
        modified=timestamp(now),
        sighting_of_ref=indicator_id,
        where_sighted_refs=[identity_id],
        first_seen=timestamp(first_seen),
        last_seen=timestamp(last),
        count=count,
        created_by_ref=identity_id,
        external_references=[case.external_reference],
        object_marking_refs=[tlp_marking(tlp)["id"]],
    ))


def sighting_id(indicator_id: str, case: CaseRef) -> str:
    """The id of the sighting of an indicator in a case (the same for every version of it)."""
    return f"sighting--{uuid.uuid5(NAMESPACE, 'sighting:' + indicator_id + ':' + case.id)}"


def build_incident(
    case: CaseRef,
    *,
    identity_id: str,
    tlp: Tlp | str,
    created: datetime,
    modified: datetime,
    description: str | None = None,
) -> dict[str, Any]:
    """The `incident` SDO standing for a case in exports (id derived from the case id)."""
    properties: dict[str, Any] = {
        "id": case.incident_id,
        "created": timestamp(created),
        "modified": timestamp(modified),
        "name": f"{case.reference}: {case.title}" if case.title else case.reference,
        "created_by_ref": identity_id,
        "external_references": [case.external_reference],
        "object_marking_refs": [tlp_marking(tlp)["id"]],
    }
    if description:
        properties["description"] = description
    return _json(stix2.v21.Incident(**properties))


def build_relationship(source_id: str, relationship_type: str, target_id: str, *, identity_id: str,
                       tlp: Tlp | str, now: datetime) -> dict[str, Any]:
    """A relationship SRO, e.g. (indicator, "related-to", incident)."""
    created = timestamp(now)
    return _json(stix2.v21.Relationship(
        source_ref=source_id, relationship_type=relationship_type, target_ref=target_id,
        created=created, modified=created, created_by_ref=identity_id,
        object_marking_refs=[tlp_marking(tlp)["id"]],
    ))


# ---------------------------------------------------------------- patterns

@dataclass(frozen=True)
class PatternError:
    message: str
    line: int | None
    column: int | None


def pattern_too_complex(pattern: str) -> str | None:
    """Why a pattern nests or chains too deeply to be parsed safely, or None. Cheap: no parsing."""
    if len(pattern) > MAX_PATTERN_DIGITS and _PATTERN_DIGITS.search(_PATTERN_STRING.sub("''", pattern)):
        return (f"the pattern has a run of more than {MAX_PATTERN_DIGITS} digits outside a string; "
                "no number is that long")
    if pattern.count("(") + pattern.count("[") <= MAX_PATTERN_DEPTH and len(pattern) < 2 * MAX_PATTERN_OPERATORS:
        return None  # too few brackets to nest deeper, too short to chain more operators
    bare = _PATTERN_STRING.sub("''", pattern)  # brackets and words inside string literals do not count
    depth = deepest = 0
    for char in bare:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    if deepest > MAX_PATTERN_DEPTH:
        return f"the pattern nests {deepest} levels of brackets and parentheses deep; at most {MAX_PATTERN_DEPTH}"
    operators = len(_PATTERN_OPERATOR.findall(bare))
    if operators > MAX_PATTERN_OPERATORS:
        return f"the pattern chains {operators} AND/OR/FOLLOWEDBY operators; at most {MAX_PATTERN_OPERATORS}"
    return None


def pattern_errors(pattern: str) -> list[PatternError]:
    """stix2-patterns' findings for a STIX 2.1 pattern; empty when it is valid."""
    too_complex = pattern_too_complex(pattern)
    if too_complex is not None:
        return [PatternError(too_complex, None, None)]
    found: list[PatternError] = []
    try:
        findings = run_validator(pattern, stix_version="2.1")
    except RecursionError:  # not expected below the limits above; never a crash
        return [PatternError("the pattern nests or chains too deeply to be parsed", None, None)]
    for raw in findings:
        match = _PATTERN_ERROR.fullmatch(raw)
        if match:
            found.append(PatternError(match.group(3), int(match.group(1)), int(match.group(2))))
        else:
            found.append(PatternError(raw.removeprefix("FAIL: "), None, None))
    return found


def validate_pattern(pattern: str) -> str:
    """A raw pasted STIX 2.1 pattern, stripped, if valid.

    Raises Invalid(field="pattern") whose message gives the position, with details
    {"position": {"line": L, "column": C}} (column counted from 0, as stix2-patterns does).
    """
    text = pattern.strip() if isinstance(pattern, str) else ""
    if not text:
        raise Invalid("the STIX pattern is empty", field="pattern")
    errors = pattern_errors(text)
    if not errors:
        return text
    # The brackets hint comes first but carries no useful position; prefer the grammar error after it.
    first = next((e for e in errors if "missing square brackets" not in e.message), errors[0])
    if first.line is None:
        raise Invalid(f"invalid STIX pattern: {first.message}", field="pattern")
    raise Invalid(f"invalid STIX pattern at line {first.line}, column {first.column}: {first.message}",
                  field="pattern", details={"position": {"line": first.line, "column": first.column}})


# ---------------------------------------------------------------- checking received objects

class ObjectRejected(Exception):
    """A received object is not valid STIX 2.1; str() is the reason shown to the user."""


class _PrecheckedIndicator(stix2.v21.Indicator):
    """An indicator whose pattern the caller has already proven valid (see bundle.py's fast path).

    stix2's Indicator re-runs the full ANTLR pattern validator on every object, which is three quarters of
    stix2.parse's time. Every other check (properties, timestamps, references, vocabularies) still runs.
    """

    def _check_object_constraints(self) -> None:
        stix2.v21.base._DomainObject._check_object_constraints(self)
        valid_from, valid_until = self.get("valid_from"), self.get("valid_until")
        if valid_from and valid_until and valid_until <= valid_from:
            raise ValueError(f"{self.id} 'valid_until' must be greater than 'valid_from'")


def check_object(obj: Mapping[str, Any], *, pattern_prechecked: bool = False) -> None:
    """Validate one received STIX 2.1 object with stix2 (custom properties allowed). Raises ObjectRejected.

    `pattern_prechecked=True` is for an indicator whose STIX pattern the caller has already validated.
    The object itself is not modified (stix2 works on its own copy of the properties).
    """
    pattern = obj.get("pattern")
    if obj.get("type") == "indicator" and isinstance(pattern, str):
        too_complex = pattern_too_complex(pattern)
        if too_complex is not None:
            raise ObjectRejected(f"invalid pattern: {too_complex}")
    try:
        if pattern_prechecked and obj.get("type") == "indicator":
            _PrecheckedIndicator(allow_custom=True, **obj)
        else:
            stix2.parse(obj, allow_custom=True, version="2.1")
    except (stix2.exceptions.STIXError, ValueError, TypeError) as exc:
        raise ObjectRejected(_reason(exc)) from None
    except RecursionError:
        raise ObjectRejected("the object nests too deeply to be checked") from None


def is_registered_type(type_name: str) -> bool:
    """Whether stix2 knows this STIX 2.1 object type (SDO, SRO, SCO, marking definition, ...)."""
    return bool(stix2.registry.class_for_type(type_name, "2.1", "objects")
                or stix2.registry.class_for_type(type_name, "2.1", "observables"))


def is_observable_type(type_name: str) -> bool:
    return bool(stix2.registry.class_for_type(type_name, "2.1", "observables"))


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def _json(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(obj.serialize())
    return result
