"""Candidate observables from free text (alerts, emails, reports), for an analyst to review.

Finding and re-fanging (hxxp://, evil[.]com, 1.2.3[.]4, [@], (dot), ...) is done by ioc-finder (which uses
ioc-fanger); each hit is then validated and normalized like a typed-in value, so what the analyst accepts
is exactly what an indicator would store. Known-benign values (private, reserved and other non-global
addresses; the organization's own domains and their subdomains; well-known benign hashes such as the empty
file's) are flagged with the reason, never dropped.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from ioc_finder import find_iocs

from casemgr.errors import Invalid
from casemgr.indicators.observables import HASHES, Observable, ObservableType, domain_name, normalize

# ioc-finder result key -> our indicator type, in the order candidates are listed.
_IOC_TYPES: dict[str, ObservableType] = {
    "urls": ObservableType.URL,
    "email_addresses": ObservableType.EMAIL_ADDR,
    "domains": ObservableType.DOMAIN_NAME,
    "ipv4_cidrs": ObservableType.IPV4_ADDR,
    "ipv4s": ObservableType.IPV4_ADDR,
    "ipv6_cidrs": ObservableType.IPV6_ADDR,
    "ipv6s": ObservableType.IPV6_ADDR,
    "md5s": ObservableType.MD5,
    "sha1s": ObservableType.SHA1,
    "sha256s": ObservableType.SHA256,
    "sha512s": ObservableType.SHA512,
    "registry_key_paths": ObservableType.WINDOWS_REGISTRY_KEY,
    "asns": ObservableType.AUTONOMOUS_SYSTEM,
    "user_agents": ObservableType.USER_AGENT,
}
MAX_TEXT = 2_000_000  # characters; a pasted report, not a disk image


@dataclass(frozen=True)
class Candidate:
    type: ObservableType
    value: str
    is_known_benign: bool
    reason: str | None  # why it is known-benign; None otherwise

    @property
    def observable(self) -> Observable:
        return Observable(self.type, self.value)


def own_domains(raw: Iterable[str]) -> frozenset[str]:
    """Normalize an allow list of the organization's domains. Raises Invalid(field="own_domains")."""
    normalized = set()
    for item in raw:
        if item.strip():
            try:
                normalized.add(domain_name(item.strip()))
            except Invalid as exc:
                raise Invalid(exc.message, field="own_domains") from None
    return frozenset(normalized)


def extract(text: str, *, allow_list: Iterable[str] = ()) -> list[Candidate]:
    """The distinct observables found in `text`, defanged forms included, in a stable order (by type, then as
    found). `allow_list` names the organization's own domains (their subdomains match too).

    Raises Invalid(field="text") if the text is too long.
    """
    if len(text) > MAX_TEXT:
        raise Invalid(f"the text is longer than {MAX_TEXT} characters; split it", field="text")
    domains = own_domains(allow_list)
    found = find_iocs(text, included_ioc_types=list(_IOC_TYPES), parse_address_from_cidr=False)
    seen: set[tuple[ObservableType, str]] = set()
    candidates: list[Candidate] = []
    for key, kind in _IOC_TYPES.items():
        values = found.get(key, [])
        if not isinstance(values, list):
            continue
        for raw in values:
            try:
                observable = normalize(kind, _from_finder(key, raw))
            except Invalid:
                continue  # the finder's regexes are looser than our validation: not a usable candidate
            if (observable.type, observable.value) in seen:
                continue
            seen.add((observable.type, observable.value))
            reason = benign_reason(observable, domains)
            candidates.append(Candidate(observable.type, observable.value, reason is not None, reason))
    return candidates


def benign_reason(observable: Observable, allow_list: frozenset[str]) -> str | None:
    """Why an observable is known-benign (an address outside the global internet, one of our own domains, or a
    well-known benign hash such as the empty file's), or None. `allow_list` holds normalized domains (see
    own_domains)."""
    t = observable.type
    if t in HASHES:
        known = benign_hashes().get(observable.value)
        return f"well-known benign hash: {known}" if known else None
    if t in {ObservableType.IPV4_ADDR, ObservableType.IPV6_ADDR}:
        return _address_reason(observable.value)
    host: str | None = None
    if t is ObservableType.DOMAIN_NAME:
        host = observable.value
    elif t is ObservableType.EMAIL_ADDR:
        host = observable.value.rpartition("@")[2]
    elif t is ObservableType.URL:
        host = urllib.parse.urlsplit(observable.value).hostname
    if host is None:
        return None
    address_reason = _address_reason(host)
    if address_reason is not None or _is_address(host):
        return address_reason
    for own in allow_list:
        if host == own or host.endswith("." + own):
            return f"the organization's own domain ({own})"
    return None


@functools.cache
def benign_hashes() -> dict[str, str]:
    """Lower-case hex digest -> what file it is, from data/benign_hashes.json (documented there)."""
    text = resources.files("casemgr.indicators").joinpath("data/benign_hashes.json").read_text(encoding="utf-8")
    return {entry[name]: entry["description"] for entry in json.loads(text)["hashes"]
            for name in ("md5", "sha1", "sha256", "sha512")}


def _from_finder(key: str, raw: str) -> str:
    if key == "asns":
        return raw.upper().removeprefix("ASN").removeprefix("AS")
    return raw


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_network(host, strict=False)
    except ValueError:
        return False
    return True


def _address_reason(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    # Check the most specific categories first; is_private also covers loopback, link-local and documentation.
    checks = [
        ("is_loopback", "loopback address"),
        ("is_link_local", "link-local address"),
        ("is_multicast", "multicast address"),
        ("is_unspecified", "unspecified address"),
        ("is_reserved", "reserved address range"),
        ("is_private", "private or special-purpose address range"),
    ]
    for attribute, reason in checks:
        if getattr(network, attribute):
            return f"{reason} ({value})"
    if not network.network_address.is_global:
        return f"address not routed on the internet ({value})"
    return None
