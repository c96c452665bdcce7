"""What an import does to a bundle before validating it as STIX 2.1: convert STIX 2.0, map TLP marking variants.

STIX 2.0 (a bundle with `spec_version: "2.0"`, or objects without `spec_version` and none with 2.1) is
converted object by object with the stix2-elevator's STIX 2.0 -> 2.1 stepper (OASIS), then validated as 2.1
like every import. The stepper renames what 2.1 renamed (`labels` -> `indicator_types`, ...), adds
`spec_version`, `pattern_type`, `is_family`, and turns an observed-data's embedded observables into
separate observable objects (SCOs) with 2.1 ids. It has no report of its own beyond its log, so what it
changed is found by comparing each object before and after and said in plain words (with anything it logged).
Custom properties (`x_...`) are kept as they came: the stepper would rename them (it strips its own
`x_elevator_` prefix from every custom property name, mangling `x_mitre_version` into `sion`). An object it
cannot convert is refused (422) naming its position and id.

TLP marking variants: OpenCTI exports its TLP markings as `definition_type: "TLP"` with
`definition: {"TLP": "TLP:AMBER"}` (which STIX 2.1 does not allow: refused whole before), TLP:AMBER+STRICT
under OpenCTI's own id, and TLP:CLEAR as a statement marking with `x_opencti_definition`; MISP writes its
`tlp:amber+strict` style tags as statement markings. Each marking definition recognised as a TLP level
(other than the official TLP 2.0 ones, and the specification's own TLP 1.0 definitions, which are valid and
understood) is replaced by the official TLP 2.0 marking definition of that level, and every reference to it
(`object_marking_refs`, `granular_markings`) by the TLP 2.0 id. The import summary lists each mapping.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import re
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from casemgr.indicators import stix
from casemgr.indicators.bundle import NotABundle, check_envelope

# OpenCTI's fixed id for TLP:AMBER+STRICT (pycti's MarkingDefinition id of ("TLP", "TLP:AMBER+STRICT")), used
# in its exports and by its connectors, with or without the marking definition in the same bundle.
KNOWN_VARIANT_IDS = {"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": stix.Tlp.AMBER_STRICT}
_LEVEL = re.compile(r"^\s*(?:tlp\s*[:=]\s*)?(clear|white|green|amber\s*\+\s*strict|amber|red)\s*$", re.IGNORECASE)
_STEPPER_LOCK = threading.Lock()  # the elevator keeps its options and log in module globals


@dataclass
class MarkingMapping:
    source_id: str
    source: str  # what the variant looked like, in plain words
    level: stix.Tlp
    target_id: str
    references: int = 0  # how many references to it were replaced

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source_id, "was": self.source, "tlp": self.level.value, "to": self.target_id,
                "references": self.references}


@dataclass
class Conversion:
    converted_from: str | None = None  # "2.0" when the bundle was stepped up to 2.1
    notes: list[str] = field(default_factory=list)  # what the conversion changed, in plain words
    markings: list[MarkingMapping] = field(default_factory=list)


def prepare(decoded: Any) -> tuple[dict[str, Any], Conversion]:
    """The decoded upload as a STIX 2.1 bundle (converted from 2.0 if it was 2.0, TLP variants mapped) and what
    was done to it. Raises NotABundle / UnsupportedStixVersion (422) as check_envelope does, and NotABundle
    naming the object when a STIX 2.0 object cannot be converted."""
    conversion = Conversion()
    if _is_stix20(decoded):
        decoded = _step_up(decoded, conversion)
    check_envelope(decoded)
    conversion.markings = map_tlp_markings(decoded)
    return decoded, conversion


# ---------------------------------------------------------------- STIX 2.0

def _is_stix20(decoded: Any) -> bool:
    if not isinstance(decoded, dict) or decoded.get("type") != "bundle":
        return False
    if "spec_version" in decoded:
        return decoded["spec_version"] == "2.0"
    objects = decoded.get("objects")
    if not isinstance(objects, list) or not objects:
        return False
    dicts = [o for o in objects if isinstance(o, dict)]
    return not any("spec_version" in o for o in dicts) and any("created" in o for o in dicts)


def _step_up(bundle: dict[str, Any], conversion: Conversion) -> dict[str, Any]:
    objects = bundle.get("objects")
    if not isinstance(objects, list):
        raise NotABundle('the STIX 2.0 bundle\'s "objects" is not a list', field="objects")
    conversion.converted_from = "2.0"
    counts: dict[str, int] = {}
    stepped: list[Any] = []
    with _STEPPER_LOCK, _stepper() as (step_object, log):
        for index, obj in enumerate(objects):
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or not isinstance(obj.get("id"), str):
                stepped.append(obj)  # left for validation to refuse, with its position
                continue
            custom = {k: v for k, v in obj.items() if k.startswith("x_")}
            work = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("x_")}
            try:
                results = step_object(work)
            except Exception as exc:  # noqa: BLE001 - the converter's own errors on malformed 2.0 input vary
                raise NotABundle(f"object {index} ({obj['id']}) could not be converted from STIX 2.0: "
                                 f"{_plain_error(exc)}", field=f"objects[{index}]") from None
            for result in results:
                if result.get("id") == obj["id"]:
                    result.update(custom)
                    _note_changes(obj, result, counts)
                else:
                    counts["sco"] = counts.get("sco", 0) + 1
            stepped.extend(results)
        logged = list(log)
    bundle = {k: v for k, v in bundle.items() if k != "spec_version"}
    bundle["objects"] = stepped
    conversion.notes = _notes(counts, len(objects), len(stepped)) + logged
    return bundle


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"the converter says: {record.getMessage()}")


class _stepper:  # noqa: N801 - used as a context manager, like a function
    def __enter__(self) -> tuple[Any, list[str]]:
        # Imported only when a STIX 2.0 bundle comes: the elevator's STIX 1 dependencies (cybox, maec, lxml) take
        # seconds to load, warn on import, and maec prints a line about numpy to standard output.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            from stix2elevator import options
            from stix2elevator.stix_stepper import step_object
        options.initialize_options({"spec_version": "2.1", "missing_policy": "ignore"})
        self.handler = _Log()
        self.logger = logging.getLogger("stix2elevator.options")
        # Its messages go to the import summary, not to the server's standard error.
        self.saved, self.logger.handlers = self.logger.handlers, [self.handler]
        self.level, self.logger.level = self.logger.level, logging.WARNING
        return step_object, self.handler.messages

    def __exit__(self, *exc: object) -> None:
        self.logger.handlers, self.logger.level = self.saved, self.level


def _plain_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"it has no {exc.args[0]!r} property"
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


_RENAMED = {"indicator": "indicator_types", "malware": "malware_types", "report": "report_types",
            "threat-actor": "threat_actor_types", "tool": "tool_types"}


def _note_changes(before: Mapping[str, Any], after: Mapping[str, Any], counts: dict[str, int]) -> None:
    kind = str(before.get("type"))
    if kind in _RENAMED and "labels" in before and "labels" not in after:
        key = f"labels:{kind}"
        counts[key] = counts.get(key, 0) + 1
    if kind == "indicator" and before.get("pattern") != after.get("pattern"):
        counts["pattern"] = counts.get("pattern", 0) + 1
    if kind == "malware" and "is_family" not in before:
        counts["is_family"] = counts.get("is_family", 0) + 1
    if kind == "observed-data" and "objects" in before:
        counts["observed-data"] = counts.get("observed-data", 0) + 1
    if any(k.startswith("x_") for k in before):
        counts["custom"] = counts.get("custom", 0) + 1
    if before.get("confidence") != after.get("confidence"):
        counts["confidence"] = counts.get("confidence", 0) + 1


def _notes(counts: Mapping[str, int], before: int, after: int) -> list[str]:
    notes = [f"The bundle was STIX 2.0: its {before} object(s) were converted to STIX 2.1 with the stix2-elevator "
             "(each now says spec_version 2.1) and then checked as STIX 2.1."]
    for kind, prop in _RENAMED.items():
        number = counts.get(f"labels:{kind}", 0)
        if number:
            notes.append(f"{number} {kind} object(s): their labels became {prop}, as STIX 2.1 names them.")
    if counts.get("pattern"):
        notes.append(f"{counts['pattern']} indicator pattern(s) were rewritten in STIX 2.1 pattern syntax.")
    if counts.get("is_family"):
        notes.append(f"{counts['is_family']} malware object(s) got is_family = false "
                     "(STIX 2.0 could not say whether a malware is a family).")
    if counts.get("observed-data"):
        notes.append(f"{counts['observed-data']} observed-data object(s): the observables embedded in them became "
                     f"{counts.get('sco', 0)} separate observable object(s) (SCOs) with STIX 2.1 ids, "
                     "which the observed-data now refers to.")
    if counts.get("confidence"):
        notes.append(f"{counts['confidence']} object(s): their confidence was put on the STIX 2.1 scale of 0 to 100.")
    if counts.get("custom"):
        notes.append(f"{counts['custom']} object(s) keep their custom properties (x_...) as they were.")
    if after != before:
        notes.append(f"The converted bundle holds {after} object(s) ({before} before).")
    return notes


# ---------------------------------------------------------------- TLP marking variants

def map_tlp_markings(bundle: dict[str, Any]) -> list[MarkingMapping]:
    """Replace the TLP marking variants of an envelope-checked bundle by the TLP 2.0 marking definitions (see
    the module docstring), in place; the mappings made, in the order found."""
    objects = bundle.get("objects", [])
    found: dict[str, MarkingMapping] = {}
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "marking-definition" and isinstance(obj.get("id"), str):
            variant = _variant(obj)
            if variant is not None:
                level, source = variant
                found[obj["id"]] = MarkingMapping(obj["id"], source, level, stix.tlp_marking(level)["id"])
    referenced = {ref for obj in objects if isinstance(obj, dict) for ref in _refs(obj)}
    for ref in sorted(referenced & set(KNOWN_VARIANT_IDS) - set(found)):
        level = KNOWN_VARIANT_IDS[ref]
        found[ref] = MarkingMapping(ref, f"OpenCTI's id for TLP:{level.value.upper()} (its definition not in the "
                                         "bundle)", level, stix.tlp_marking(level)["id"])
    if not found:
        return []
    present = {obj.get("id") for obj in objects if isinstance(obj, dict)}
    mapped: list[Any] = []
    for obj in objects:
        if isinstance(obj, dict) and obj.get("id") in found and obj.get("type") == "marking-definition":
            target = found[obj["id"]].target_id
            if target not in present:  # the official definition, once
                mapped.append(stix.tlp_marking(found[obj["id"]].level))
                present.add(target)
            continue
        if isinstance(obj, dict):
            _replace_refs(obj, found)
        mapped.append(obj)
    bundle["objects"] = mapped
    return list(found.values())


def _variant(obj: Mapping[str, Any]) -> tuple[stix.Tlp, str] | None:
    """(level, description) if the marking definition stands for a TLP level in a form other than the official
    TLP 2.0 one or the specification's TLP 1.0 one; None otherwise."""
    object_id = str(obj["id"])
    official = stix.tlp_defined_by(object_id)
    kind, definition = obj.get("definition_type"), obj.get("definition")
    if official is not None and object_id in stix.TLP1_LEVELS and kind == "tlp" and isinstance(definition, Mapping) \
            and set(definition) == {"tlp"}:
        return None  # the STIX 2.1 specification's own TLP 1.0 definition: valid, understood
    if official is not None and object_id not in stix.TLP1_LEVELS and "definition_type" not in obj:
        return None  # an official TLP 2.0 definition
    candidates: list[tuple[object, str]] = []
    if isinstance(kind, str) and kind.lower() == "tlp" and isinstance(definition, Mapping):
        for key, value in definition.items():
            if str(key).lower() == "tlp":
                candidates.append((value, f'a TLP marking with definition_type "{kind}" and definition '
                                          f'{{"{key}": "{value}"}} (OpenCTI\'s form)' if kind == "TLP" else
                                   f'a TLP marking with definition {{"{key}": "{value}"}}'))
    if str(obj.get("x_opencti_definition_type", "")).upper() == "TLP":
        candidates.append((obj.get("x_opencti_definition"), f"OpenCTI's {obj.get('x_opencti_definition')} marking "
                                                            "(a statement with x_opencti_definition)"))
    if kind == "statement" and isinstance(definition, Mapping):
        statement = definition.get("statement")
        candidates.append((statement, f'a statement marking "{statement}" (MISP\'s form of a TLP tag)'))
    if kind is None and isinstance(obj.get("name"), str):
        candidates.append((obj.get("name"), f'a marking named "{obj.get("name")}"'))
    for value, source in candidates:
        level = _level(value)
        if level is not None:
            return level, source
    if official is not None:
        return official, f"the id of TLP:{official.value.upper()} with a definition STIX 2.1 does not allow"
    return None


def _level(value: object) -> stix.Tlp | None:
    if not isinstance(value, str):
        return None
    match = _LEVEL.fullmatch(value)
    if match is None:
        return None
    word = re.sub(r"\s+", "", match.group(1).lower())
    return stix.Tlp.CLEAR if word == "white" else stix.Tlp(word)


def _refs(obj: Mapping[str, Any]) -> Iterator[str]:
    refs = obj.get("object_marking_refs")
    if isinstance(refs, list):
        yield from (r for r in refs if isinstance(r, str))
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        yield from (g["marking_ref"] for g in granular if isinstance(g, dict) and isinstance(g.get("marking_ref"), str))


def _replace_refs(obj: dict[str, Any], found: Mapping[str, MarkingMapping]) -> None:
    refs = obj.get("object_marking_refs")
    if isinstance(refs, list) and any(r in found for r in refs if isinstance(r, str)):
        new: list[Any] = []
        for ref in refs:
            if isinstance(ref, str) and ref in found:
                found[ref].references += 1
                ref = found[ref].target_id  # noqa: PLW2901
            if ref not in new:
                new.append(ref)
        obj["object_marking_refs"] = new
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        for marking in granular:
            if isinstance(marking, dict) and isinstance(marking.get("marking_ref"), str) \
                    and marking["marking_ref"] in found:
                found[marking["marking_ref"]].references += 1
                marking["marking_ref"] = found[marking["marking_ref"]].target_id
