"""Reading an incoming STIX 2.1 bundle: envelope checks, then object-by-object validation and dedupe keys.

Design for large feeds: `read_bundle` decodes the JSON once; `check_object` judges one object and
`Stix20Guard` the order they come in. `check_objects` walks the `objects` list with both, yielding one
CheckedObject per object holding a reference to the received dict (never a copy), and `check_bundle` gives
the whole-bundle verdict from that walk; the import (imports.py) makes the same walk in chunks, in worker
processes for a large bundle, and stores each object as it goes.

Speed: stix2.parse spends about three quarters of its time re-running the ANTLR pattern validator for every
indicator. Here an indicator whose pattern is a single equality comparison (nearly every feed indicator) is
recognized by observables.SIMPLE_PATTERN, a regular expression that matches only patterns the grammar accepts,
and stix2 then checks every other property without the redundant ANTLR pass; any other pattern is validated
by stix2's usual path, once. Nothing is cached, so no verdict can be reused for a different object.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from casemgr.errors import BadRequest, Invalid
from casemgr.fields import NUL
from casemgr.indicators import stix
from casemgr.indicators.observables import (
    HASHES,
    Observable,
    hash_type,
    normalize,
    observable_from_comparison,
    parse_simple_pattern,
)

_ID = re.compile(r"([a-z0-9][a-z0-9-]*[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                 r"[0-9a-fA-F]{12}")
_CUSTOM_TYPE = re.compile(r"[a-z0-9-]{3,250}")
# Object types (other than SCOs) that STIX 2.1 requires to carry spec_version; in STIX 2.0 none did.
_NOT_SCO_WITHOUT_TIMESTAMPS = {"marking-definition", "language-content", "extension-definition"}
# Properties STIX 2.1 requires that stix2 would fill in with a default instead of refusing the object.
_REQUIRED_BUT_DEFAULTED = {"indicator": ("valid_from",)}


class MalformedJson(BadRequest):
    """The upload is not JSON at all."""

    code = "malformed_json"


class NotABundle(Invalid):
    """Valid JSON, but not a STIX bundle object."""

    code = "not_a_bundle"


class UnsupportedStixVersion(Invalid):
    """A STIX 2.0 (or other non-2.1) bundle."""

    code = "unsupported_stix_version"


class BundleRejected(Invalid):
    """Some objects are invalid and a partial import was not asked for; details["rejected"] lists them."""

    code = "bundle_rejected"


@dataclass(frozen=True)
class Rejection:
    index: int
    id: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "reason": self.reason}


@dataclass
class CheckedObject:
    """One object of a bundle after validation. `obj` is the received dict itself, unchanged."""

    index: int
    obj: Mapping[str, Any]
    rejection: Rejection | None = None
    observables: list[Observable] = field(default_factory=list)

    @property
    def id(self) -> str | None:
        value = self.obj.get("id") if isinstance(self.obj, Mapping) else None
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str | None:
        value = self.obj.get("type") if isinstance(self.obj, Mapping) else None
        return value if isinstance(value, str) else None

    @property
    def ok(self) -> bool:
        return self.rejection is None

    @property
    def dedupe_key(self) -> tuple[str, str] | None:
        """(indicator type, normalized value) of the first observable, e.g. ("ipv4-addr", "10.0.0.0/8")."""
        return (self.observables[0].type.value, self.observables[0].value) if self.observables else None


@dataclass
class BundleReport:
    bundle_id: str | None
    accepted: Counter[str] = field(default_factory=Counter)  # object type -> count
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {"bundle_id": self.bundle_id, "accepted": dict(sorted(self.accepted.items())),
                "rejected": [r.to_dict() for r in self.rejected]}

    def raise_if_rejected(self) -> None:
        """Raise BundleRejected (422) listing every rejected object, unless all objects were accepted."""
        if self.rejected:
            first = self.rejected[0]
            raise BundleRejected(
                f"{len(self.rejected)} object(s) in the bundle are invalid; nothing was imported "
                f"(first: object {first.index} {first.id or ''}: {first.reason}). "
                "Fix them, or import the valid objects only with partial=true.",
                field="objects", details={"rejected": [r.to_dict() for r in self.rejected]},
            )


# ---------------------------------------------------------------- envelope

def read_bundle(data: str | bytes) -> dict[str, Any]:
    """Decode an uploaded bundle as strict JSON and check its envelope, as an import reads it: a STIX 2.0
    bundle converted to 2.1 and TLP marking variants mapped to TLP 2.0 (casemgr/indicators/convert.py).

    Raises MalformedJson (400, with the line; or naming where a NaN or Infinity is), NotABundle (422, also for
    a number beyond STIX's 54-bit integers or a NUL character, or a 2.0 object that cannot be converted, naming
    where) or UnsupportedStixVersion (422).
    """
    from casemgr.indicators import convert  # which builds on this module

    bundle, _ = convert.prepare(strict_json(data))
    return bundle


# STIX 2.1 section 2.16: integers are signed 54-bit values. A longer number is no STIX property, and decoding
# thousands of digits is slow (Python refuses more than 4300): it is refused with where it is.
MAX_STIX_INTEGER = 2**53 - 1


class _Refused:
    """A value strict STIX JSON does not allow, put in place by the decoder and then looked for to say where."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


def strict_json(data: str | bytes) -> Any:
    """Decode JSON as RFC 8259 defines it: no NaN, Infinity or -Infinity (Python's json takes them, and they
    would be stored and exported as invalid JSON), no number beyond STIX's integers or a float's range, no
    NUL character in a string (PostgreSQL cannot store one). Raises MalformedJson or NotABundle naming where."""
    refused: list[_Refused] = []

    def refuse(what: str) -> _Refused:
        marker = _Refused(what)
        refused.append(marker)
        return marker

    def constant(name: str) -> _Refused:
        return refuse(f"{name}, which is not JSON (RFC 8259 has no NaN or Infinity)")

    def integer(text: str) -> int | _Refused:
        if len(text) <= 15 or (len(text) <= 20 and abs(int(text)) <= MAX_STIX_INTEGER):
            return int(text)
        return refuse(f"a whole number of {len(text.lstrip('-'))} digits, beyond the integers STIX 2.1 allows "
                      f"(at most {MAX_STIX_INTEGER})")

    def number(text: str) -> float | _Refused:
        value = float(text)
        return value if math.isfinite(value) else refuse(f"{text}, a number too large for JSON to carry")

    try:
        decoded = json.loads(data, parse_constant=constant, parse_int=integer, parse_float=number)
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"the upload is not UTF-8 text: {exc.reason} at byte {exc.start}",
                            field="bundle") from None
    except json.JSONDecodeError as exc:
        raise MalformedJson(f"the upload is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                            field="bundle", line=exc.lineno) from None
    except RecursionError:
        raise MalformedJson("the upload nests arrays or objects too deeply to be a STIX bundle",
                            field="bundle") from None
    if refused:
        where, marker = _find(decoded, lambda v: isinstance(v, _Refused))
        kind = MalformedJson if "NaN" in marker.what or "Infinity" in marker.what else NotABundle
        raise kind(f"{where} is {marker.what}", field="bundle")
    escaped = data.find(b"\\u0000") if isinstance(data, bytes) else data.find("\\u0000")
    if escaped >= 0:  # cheap first look; only then walk the strings
        found = _find(decoded, lambda v: isinstance(v, str) and NUL in v)
        if found is not None:
            raise NotABundle(f"{found[0]} holds a NUL character (\\u0000), which cannot be stored", field="bundle")
    return decoded


def _find(decoded: Any, wanted: Any) -> Any:
    """(path, value) of the first value inside `decoded` (keys included) for which `wanted` holds, e.g.
    ('objects[3].confidence', value); None if there is none."""
    stack: list[tuple[str, Any]] = [("the bundle", decoded)]
    while stack:
        path, value = stack.pop()
        if wanted(value):
            return path, value
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if wanted(key):
                    return f"a property name in {path}", key
                stack.append((key if path == "the bundle" else f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return None


def check_envelope(decoded: object) -> None:
    """Check that a decoded JSON value is a STIX 2.1 bundle object. Raises NotABundle or UnsupportedStixVersion."""
    if isinstance(decoded, list):
        raise NotABundle("the JSON is a list, not a STIX bundle: wrap the objects in "
                         '{"type": "bundle", "id": "bundle--<uuid>", "objects": [...]}', field="bundle")
    if not isinstance(decoded, dict):
        raise NotABundle(f"the JSON is a {type(decoded).__name__}, not a STIX bundle object", field="bundle")
    kind = decoded.get("type")
    if kind != "bundle":
        what = f"a single {kind!r} object" if isinstance(kind, str) else "an object without a STIX type"
        raise NotABundle(f"the JSON is {what}, not a STIX bundle (type must be \"bundle\")", field="bundle")
    if "spec_version" in decoded:
        # STIX 2.0 bundles carry spec_version "2.0" (converted before this check); STIX 2.1 bundles have none.
        raise UnsupportedStixVersion(
            f"the bundle says spec_version {decoded['spec_version']!r}: STIX 2.1 bundles have no spec_version, "
            'STIX 2.0 ones ("2.0") are converted on import, and no other version is accepted',
            field="spec_version")
    if not isinstance(decoded.get("id"), str) or not decoded["id"].startswith("bundle--"):
        raise NotABundle('the bundle has no valid "id" (bundle--<uuid>)', field="id")
    objects = decoded.get("objects", [])
    if not isinstance(objects, list):
        raise NotABundle('the bundle\'s "objects" is not a list', field="objects")


# ---------------------------------------------------------------- objects

def check_objects(bundle: Mapping[str, Any]) -> Iterator[CheckedObject]:
    """Validate each object of an envelope-checked bundle, in order, yielding a CheckedObject for each.

    Raises UnsupportedStixVersion if the bundle turns out to be STIX 2.0 (objects without spec_version
    before any STIX 2.1 object).
    """
    guard = Stix20Guard()
    for index, obj in enumerate(bundle.get("objects", [])):
        checked = check_object(index, obj)
        guard.check(checked)
        yield checked


class Stix20Guard:
    """Shown a bundle's checked objects in order, raises UnsupportedStixVersion at the first object of a
    STIX 2.0 bundle: one without spec_version before any STIX 2.1 object."""

    def __init__(self) -> None:
        self.seen_21 = False

    def check(self, checked: CheckedObject) -> None:
        obj = checked.obj
        if not isinstance(obj, Mapping):
            return
        if obj.get("spec_version") == "2.1":
            self.seen_21 = True
        elif not self.seen_21 and _needs_spec_version(obj):
            raise UnsupportedStixVersion(
                f"object {checked.index} ({obj.get('id')}) has no spec_version: it is a STIX 2.0 object in a bundle "
                "that also holds STIX 2.1 objects; a bundle that is STIX 2.0 throughout is converted on import, "
                'a mixed one is not: give the object its spec_version "2.1"', field="spec_version")


def check_bundle(bundle: Mapping[str, Any]) -> BundleReport:
    """Validate every object; the report counts accepted objects by type and lists each rejected one."""
    report = BundleReport(bundle_id=bundle.get("id"))
    for checked in check_objects(bundle):
        if checked.rejection:
            report.rejected.append(checked.rejection)
        else:
            report.accepted[checked.type or "?"] += 1
    return report


def check_object(index: int, obj: object) -> CheckedObject:
    """Validate one received object (position `index` in its bundle)."""
    if not isinstance(obj, Mapping):
        return _reject(index, {}, f"not a JSON object but a {type(obj).__name__}")
    checked = CheckedObject(index, obj)
    kind, object_id = obj.get("type"), obj.get("id")
    if not isinstance(kind, str) or not kind:
        return _reject(index, obj, 'no "type" property')
    if not isinstance(object_id, str):
        return _reject(index, obj, 'no "id" property')
    id_match = _ID.fullmatch(object_id)
    if not id_match or id_match.group(1) != kind:
        return _reject(index, obj, f"id {object_id!r} is not of the form {kind}--<uuid>")
    version = obj.get("spec_version")
    if version is None and _needs_spec_version(obj):
        return _reject(index, obj, "no spec_version: a STIX 2.0 object (only STIX 2.1 is accepted)")
    if version is not None and version != "2.1":
        return _reject(index, obj, f"spec_version {version!r}: only STIX 2.1 is accepted")
    if not stix.is_registered_type(kind):
        reason = _check_custom_object(obj)
        return _reject(index, obj, reason) if reason else checked
    if _needs_spec_version(obj) and kind not in _NOT_SCO_WITHOUT_TIMESTAMPS:
        # stix2 fills in a missing `modified` (and an indicator's `valid_from`) with the current time; STIX 2.1
        # requires them, and an import must store what the producer sent, not a date we made up.
        missing = [p for p in ("created", "modified", *_REQUIRED_BUT_DEFAULTED.get(kind, ())) if p not in obj]
        if missing:
            return _reject(index, obj, f"missing required propert{'ies' if len(missing) > 1 else 'y'} "
                                       f"{', '.join(missing)}")
    prechecked = False
    if kind == "indicator":
        prechecked = _simple_indicator(obj, checked)
    try:
        stix.check_object(obj, pattern_prechecked=prechecked)
    except stix.ObjectRejected as exc:
        return _reject(index, obj, str(exc))
    if stix.is_observable_type(kind):
        checked.observables = sco_observables(obj)
    return checked


def _simple_indicator(obj: Mapping[str, Any], checked: CheckedObject) -> bool:
    """Record the indicator's observable if its pattern is one simple comparison; True if the pattern is
    thereby proven valid for the STIX 2.1 grammar (so stix2 need not re-run the ANTLR validator)."""
    pattern = obj.get("pattern")
    if obj.get("pattern_type") != "stix" or not isinstance(pattern, str):
        return False
    comparison = parse_simple_pattern(pattern)
    if comparison is None:
        return False
    observable = observable_from_comparison(comparison)
    if observable is not None:
        checked.observables = [observable]
    if obj.get("pattern_version", "2.1") != "2.1":
        return False
    if "hashes" in comparison.path:
        # stix2-patterns also checks the digest format of known hash algorithms: take the fast path only for
        # the four we know and a digest of the right form, leave everything else to the full validator.
        algorithm = hash_type(comparison.path[-1]) if comparison.path[-2:-1] == ("hashes",) else None
        if algorithm is None or not isinstance(comparison.value, str):
            return False
        return re.fullmatch(f"[0-9a-fA-F]{{{HASHES[algorithm][1]}}}", comparison.value) is not None
    return True


def sco_observables(obj: Mapping[str, Any]) -> list[Observable]:
    """The normalized observables an SCO describes (a file may give several hashes and a name)."""
    kind = obj.get("type")
    candidates: list[tuple[str, object]] = []
    if kind in {"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr"}:
        candidates.append((kind, obj.get("value")))
    elif kind in {"file", "artifact"}:
        hashes = obj.get("hashes")
        if isinstance(hashes, Mapping):
            for algorithm, digest in hashes.items():
                found = hash_type(str(algorithm))
                if found is not None:
                    candidates.append((found.value, digest))
        if kind == "file" and "name" in obj:
            candidates.append(("file-name", obj.get("name")))
    elif kind == "windows-registry-key":
        candidates.append((kind, obj.get("key")))
    elif kind == "user-account":
        candidates.append((kind, obj.get("account_login")))
    elif kind == "mutex":
        candidates.append((kind, obj.get("name")))
    elif kind == "autonomous-system":
        candidates.append((kind, str(obj.get("number"))))
    found_observables = []
    for observable_type, value in candidates:
        try:
            found_observables.append(normalize(observable_type, value))
        except Invalid:
            continue  # a valid STIX object with a value we cannot normalize: no dedupe key
    return found_observables


def _needs_spec_version(obj: Mapping[str, Any]) -> bool:
    kind = obj.get("type")
    return isinstance(kind, str) and not stix.is_observable_type(kind)


def _check_custom_object(obj: Mapping[str, Any]) -> str | None:
    """Why an object of a type stix2 does not know is refused, or None to keep it as a custom object.

    STIX 2.1 custom objects are either `x-` prefixed (the 2.0 convention, still common) or declared by a
    new-sdo/new-sco/new-sro extension definition; anything else is most likely a misspelt type.
    """
    kind = str(obj.get("type"))
    if not _CUSTOM_TYPE.fullmatch(kind):
        return f"invalid object type {kind!r} (a-z, 0-9 and hyphens, 3 to 250 characters)"
    extensions = obj.get("extensions")
    declared = isinstance(extensions, Mapping) and any(
        str(key).startswith("extension-definition--") and isinstance(ext, Mapping)
        and str(ext.get("extension_type", "")).startswith("new-")
        for key, ext in extensions.items())
    if kind.startswith("x-") or declared:
        return None
    return f"unknown object type {kind!r} (custom types start with x- or are declared by an extension definition)"


def _reject(index: int, obj: Mapping[str, Any], reason: str) -> CheckedObject:
    object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    return CheckedObject(index, obj, Rejection(index, object_id, reason))
