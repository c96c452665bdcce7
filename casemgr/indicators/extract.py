"""Candidate observables from free text (alerts, emails, reports), for an analyst to review.

Re-fanging (hxxp://, evil[.]com, 1.2.3[.]4, [@], (dot), ...) is `observables.refang` (ioc-fanger), finding is
ioc-finder; each hit is then validated and normalized like a typed-in value, so what the analyst accepts
is exactly what an indicator would store. Known-benign values (private, reserved and other non-global
addresses; the organization's own domains and their subdomains; well-known benign hashes such as the empty
file's) are flagged with the reason, never dropped.

ioc-finder only reads a name as a domain when its last label is on IANA's list of top-level domains: a URL,
e-mail address or domain under a reserved name (.example, .test, RFC 2606 / 6761) or a top-level domain
it does not know vanishes from its results. Nothing pasted may vanish without a word, so a second, looser
scan finds those and lists them with a caution saying why (left unticked on the review page).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from ioc_finder import find_iocs, ioc_grammars

from casemgr.errors import Invalid
from casemgr.indicators.observables import HASHES, Observable, ObservableType, domain_name, normalize, refang

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

# Top-level names reserved for documentation, testing and local use, which never resolve on the internet:
# RFC 2606 (example, test, invalid, localhost), RFC 6762 (local), RFC 9476 (alt), ICANN 2024 (internal).
RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "alt", "internal"})

# The looser scan, over refanged text: anything shaped like a URL with a scheme, an e-mail address, a name
# under a reserved top-level domain, and a name the text wrote defanged (evil[.]zzz: meant as an indicator,
# whatever its top-level domain). A bare name under an unknown top-level domain written plainly is not
# offered: that is how file names look (report.pdf, invoice.docx).
_LOOSE_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s<>\"'`]+")
_LOOSE_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+")
_NAME = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_LOOSE_NAME = re.compile(rf"(?<![\w@.-]){_NAME}(?![\w-])")
_DEFANGED_DOT = r"(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})"
_ANY_DOT = rf"(?:{_DEFANGED_DOT}|\.)"
# Each scan starts only where a run begins (the look-behinds), so a long word is read once, not once per letter.
_DEFANGED_NAME = re.compile(rf"(?<![\w.\])}}-])[\w-]+(?:{_ANY_DOT}[\w-]+)*{_DEFANGED_DOT}[\w-]+(?:{_ANY_DOT}[\w-]+)*",
                            re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Candidate:
    type: ObservableType
    value: str
    is_known_benign: bool
    reason: str | None  # why it is known-benign; None otherwise
    caution: str | None = None  # why the finder would have left it out (e.g. "reserved top-level domain .example")

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
    fanged = refang(text)
    found = find_iocs(fanged, included_ioc_types=list(_IOC_TYPES), parse_address_from_cidr=False)
    unlisted = _unlisted(text, fanged)
    seen: set[tuple[ObservableType, str]] = set()
    candidates: list[Candidate] = []
    for key, kind in _IOC_TYPES.items():
        values = found.get(key, [])
        hits = [(_from_finder(key, raw), None) for raw in (values if isinstance(values, list) else [])]
        for raw, caution in [*hits, *unlisted.get(kind, [])]:
            try:
                observable = normalize(kind, raw)
            except Invalid:
                continue  # the finder's regexes are looser than our validation: not a usable candidate
            if (observable.type, observable.value) in seen:
                continue
            seen.add((observable.type, observable.value))
            reason = benign_reason(observable, domains)
            candidates.append(Candidate(observable.type, observable.value, reason is not None, reason, caution))
    return candidates


def tld_caution(host: str) -> str | None:
    """Why ioc-finder leaves out a host name: its top-level domain is reserved or not on its list; else None."""
    if _is_address(host.strip("[]")) or "." not in host:
        return None
    tld = host.rstrip(".").rpartition(".")[2].lower()
    if tld in ioc_grammars.TLD_SET:
        return None
    if tld in RESERVED_TLDS:
        return f"reserved top-level domain .{tld}"
    return f"unknown top-level domain .{tld}"


def _unlisted(text: str, fanged: str) -> dict[ObservableType, list[tuple[str, str]]]:
    """The URLs, e-mail addresses and domain names ioc-finder drops for their top-level domain, with why."""
    found: dict[ObservableType, list[tuple[str, str]]] = {}

    def add(kind: ObservableType, value: str, caution: str) -> None:
        found.setdefault(kind, []).append((value, caution))

    for match in _LOOSE_URL.finditer(fanged):
        url = match.group().rstrip(_TRAILING)
        try:
            host = urllib.parse.urlsplit(url).hostname
        except ValueError:
            continue
        caution = tld_caution(host) if host else None
        if host and caution:
            add(ObservableType.URL, url, caution)
            add(ObservableType.DOMAIN_NAME, host, caution)
    for match in _LOOSE_EMAIL.finditer(fanged):
        address = match.group().rstrip(_TRAILING)
        host = address.rpartition("@")[2]
        caution = tld_caution(host)
        if caution:
            add(ObservableType.EMAIL_ADDR, address, caution)
            add(ObservableType.DOMAIN_NAME, host, caution)
    for match in _LOOSE_NAME.finditer(fanged):
        caution = tld_caution(match.group())
        if caution and caution.startswith("reserved"):
            add(ObservableType.DOMAIN_NAME, match.group(), caution)
    for match in _DEFANGED_NAME.finditer(text):
        name = refang(match.group())
        caution = tld_caution(name)
        if caution:
            add(ObservableType.DOMAIN_NAME, name, caution)
    return found


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
