"""From a STIX object (a JSON dict) to the indexed columns of its `stix_objects` row.

Shared by capture (objects we build) and import (objects we receive), so that both index alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from casemgr.indicators import stix
from casemgr.indicators.observables import Observable, ObservableType

_FRACTION = re.compile(r"(\.\d{6})\d+")
IPV4_MAPPED = 0xFFFF_0000_0000  # ::ffff:0:0/96: IPv4 sorts apart from every other IPv6 range
_IP_TYPES = {ObservableType.IPV4_ADDR, ObservableType.IPV6_ADDR}


def dumps(obj: Mapping[str, Any]) -> str:
    """The stored text of an object: compact JSON, keys in the order received."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def parse_timestamp(value: object) -> dt.datetime | None:
    """A STIX timestamp as an aware datetime (sub-microsecond digits dropped), or None if absent or invalid."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def value_digest(value: str) -> str:
    """The lookup key of a normalized value (values may be longer than an index entry allows)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def ip_hex(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    number = int(address) + IPV4_MAPPED if address.version == 4 else int(address)
    return f"{number:032x}"


def network_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    """(first, last) address of a network as 32 hex digits each."""
    return ip_hex(network.network_address), ip_hex(network.broadcast_address)


def holder_starts(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The first address (as `ip_hex`) of every network that holds `network`, itself included: the
    `ip_start` a stored network must have to hold it. Masks on the integer (`supernet()` builds a network
    object per prefix: 129 of them for an IPv6 address, a fifth of a lookup's Python time)."""
    bits = network.max_prefixlen
    number = int(network.network_address)
    offset = IPV4_MAPPED if network.version == 4 else 0
    return sorted({f"{(number & (((1 << p) - 1) << (bits - p))) + offset:032x}"
                   for p in range(network.prefixlen + 1)})


def ip_range(observable: Observable) -> tuple[str, str] | None:
    if observable.type not in _IP_TYPES:
        return None
    return network_range(ipaddress.ip_network(observable.value, strict=False))


def _name(obj: Mapping[str, Any]) -> str | None:
    for key in ("name", "value", "key", "account_login", "relationship_type"):
        found = obj.get(key)
        if isinstance(found, str) and found:
            return found[:500]
    return None


def object_row(obj: Mapping[str, Any], observables: Sequence[Observable], text: str | None = None) -> dict[str, Any]:
    """The column values of one object (without case, added_at or added_by)."""
    kind = str(obj.get("type"))
    object_id = str(obj.get("id"))
    row: dict[str, Any] = {
        "stix_id": object_id,
        "type": kind,
        "created": parse_timestamp(obj.get("created")),
        "modified": parse_timestamp(obj.get("modified")),
        "stix_json": text if text is not None else dumps(obj),
        "value_type": None, "value": None, "value_digest": None, "ip_start": None, "ip_end": None,
        "pattern": None, "name": _name(obj), "valid_from": None, "valid_until": None, "confidence": None,
        "tlp": None, "source_ref": None, "target_ref": None, "revoked": obj.get("revoked") is True,
    }
    if observables:
        first = observables[0]
        row["value_type"] = first.type.value
        row["value"] = first.value
        row["value_digest"] = value_digest(first.value)
        found = ip_range(first)
        if found is not None:
            row["ip_start"], row["ip_end"] = found
    refs = obj.get("object_marking_refs")
    if isinstance(refs, list):
        row["tlp"] = stix.tlp_of(refs)
    if kind == "marking-definition":
        row["tlp"] = stix.tlp_defined_by(object_id) or row["tlp"]
    elif kind == "indicator":
        pattern = obj.get("pattern")
        row["pattern"] = pattern if isinstance(pattern, str) else None
        row["valid_from"] = parse_timestamp(obj.get("valid_from"))
        row["valid_until"] = parse_timestamp(obj.get("valid_until"))
    elif kind == "relationship":
        row["source_ref"], row["target_ref"] = _ref(obj.get("source_ref")), _ref(obj.get("target_ref"))
    elif kind == "sighting":
        row["source_ref"] = _ref(obj.get("sighting_of_ref"))
    confidence = obj.get("confidence")
    if isinstance(confidence, int) and not isinstance(confidence, bool):
        row["confidence"] = confidence
    return row


def _ref(value: object) -> str | None:
    return value[:300] if isinstance(value, str) else None
