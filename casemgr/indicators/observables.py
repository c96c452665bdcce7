"""Indicator types: validate and normalize a value, build its STIX pattern and the matching SCO.

Plain Python only (no stix2 here): the STIX objects themselves are built in casemgr/indicators/stix.py.
The normalized value is the dedupe and correlation key, so every type normalizes to one spelling:
addresses and networks in `ipaddress` form, domains as lower-case A-labels (IDNA 2008 / UTS 46),
hashes as lower-case hex, registry hives fully expanded, ASNs as a bare number.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import idna
from email_validator import EmailNotValidError, validate_email

from casemgr.errors import Invalid

FIELD = "value"
MAX_VALUE_LENGTH = 8192  # a URL or a user agent can be long; nothing legitimate is longer


class ObservableType(StrEnum):
    IPV4_ADDR = "ipv4-addr"
    IPV6_ADDR = "ipv6-addr"
    DOMAIN_NAME = "domain-name"
    URL = "url"
    EMAIL_ADDR = "email-addr"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"
    FILE_NAME = "file-name"
    WINDOWS_REGISTRY_KEY = "windows-registry-key"
    USER_ACCOUNT = "user-account"
    MUTEX = "mutex"
    PROCESS_NAME = "process-name"
    USER_AGENT = "user-agent"
    AUTONOMOUS_SYSTEM = "autonomous-system"


# Hash types: our type name -> (STIX hash algorithm name from the hash-algorithm-ov vocabulary, hex length).
HASHES: dict[ObservableType, tuple[str, int]] = {
    ObservableType.MD5: ("MD5", 32),
    ObservableType.SHA1: ("SHA-1", 40),
    ObservableType.SHA256: ("SHA-256", 64),
    ObservableType.SHA512: ("SHA-512", 128),
}

# The object path each type is matched on (STIX 2.1 patterning, section 9). STIX 2.1 removed `process:name`
# (it was a 2.0 property): a process's executable name is `image_ref.name`, a reference to a file object.
# The User-Agent lives in the HTTP request extension of network-traffic (STIX 2.1 section 6.12.2).
OBJECT_PATHS: dict[ObservableType, str] = {
    ObservableType.IPV4_ADDR: "ipv4-addr:value",
    ObservableType.IPV6_ADDR: "ipv6-addr:value",
    ObservableType.DOMAIN_NAME: "domain-name:value",
    ObservableType.URL: "url:value",
    ObservableType.EMAIL_ADDR: "email-addr:value",
    **{t: f"file:hashes.'{name}'" for t, (name, _) in HASHES.items()},
    ObservableType.FILE_NAME: "file:name",
    ObservableType.WINDOWS_REGISTRY_KEY: "windows-registry-key:key",
    ObservableType.USER_ACCOUNT: "user-account:account_login",
    ObservableType.MUTEX: "mutex:name",
    ObservableType.PROCESS_NAME: "process:image_ref.name",
    ObservableType.USER_AGENT: "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
    ObservableType.AUTONOMOUS_SYSTEM: "autonomous-system:number",
}

REGISTRY_HIVES = {
    "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE", "HKLM": "HKEY_LOCAL_MACHINE",
    "HKEY_CURRENT_USER": "HKEY_CURRENT_USER", "HKCU": "HKEY_CURRENT_USER",
    "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT", "HKCR": "HKEY_CLASSES_ROOT",
    "HKEY_USERS": "HKEY_USERS", "HKU": "HKEY_USERS",
    "HKEY_CURRENT_CONFIG": "HKEY_CURRENT_CONFIG", "HKCC": "HKEY_CURRENT_CONFIG",
    "HKEY_PERFORMANCE_DATA": "HKEY_PERFORMANCE_DATA",
    "HKEY_DYN_DATA": "HKEY_DYN_DATA",
}

# Refused in every indicator value (after the surrounding white space is stripped): the C0 and C1 control
# characters and DEL (Unicode category Cc), and the line and paragraph separators. None is part of an
# address, name or hash; each would break the one-line display, CSV exports and log lines.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
UNPRINTABLE_WORDS = "control characters (U+0000 to U+001F, U+007F to U+009F) and line separators (U+2028, U+2029)"
_HEX = re.compile(r"[0-9a-f]+")
_ASN = re.compile(r"(?:AS|ASN)?\s*(\d{1,10})", re.IGNORECASE)
_URL_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
MAX_ASN = 4_294_967_295  # 32-bit AS numbers (RFC 6793)


@dataclass(frozen=True)
class Observable:
    """A validated, normalized indicator value of one type."""

    type: ObservableType
    value: str

    @property
    def object_path(self) -> str:
        return OBJECT_PATHS[self.type]

    @property
    def pattern(self) -> str:
        """The STIX 2.1 pattern matching exactly this value, e.g. `[ipv4-addr:value = '1.2.3.4']`."""
        is_number = self.type is ObservableType.AUTONOMOUS_SYSTEM  # an integer literal, not a string
        literal = self.value if is_number else quote_pattern_string(self.value)
        return f"[{self.object_path} = {literal}]"

    def sco_properties(self) -> list[tuple[str, dict[str, Any]]]:
        """The STIX Cyber-observable objects describing this value, as (SCO type, properties) in reference order.

        A process SCO refers to the file SCO before it by the placeholder `"$0"` in `image_ref` (ids are
        only known once stix.py has built the file object). A user agent has no SCO: network-traffic
        requires a protocol and an endpoint, which a bare User-Agent string does not give.
        """
        t, v = self.type, self.value
        if t in HASHES:
            return [("file", {"hashes": {HASHES[t][0]: v}})]
        simple: dict[ObservableType, tuple[str, str]] = {
            ObservableType.IPV4_ADDR: ("ipv4-addr", "value"),
            ObservableType.IPV6_ADDR: ("ipv6-addr", "value"),
            ObservableType.DOMAIN_NAME: ("domain-name", "value"),
            ObservableType.URL: ("url", "value"),
            ObservableType.EMAIL_ADDR: ("email-addr", "value"),
            ObservableType.FILE_NAME: ("file", "name"),
            ObservableType.WINDOWS_REGISTRY_KEY: ("windows-registry-key", "key"),
            ObservableType.USER_ACCOUNT: ("user-account", "account_login"),
            ObservableType.MUTEX: ("mutex", "name"),
        }
        if t in simple:
            sco_type, prop = simple[t]
            return [(sco_type, {prop: v})]
        if t is ObservableType.AUTONOMOUS_SYSTEM:
            return [("autonomous-system", {"number": int(v)})]
        if t is ObservableType.PROCESS_NAME:
            return [("file", {"name": v}), ("process", {"image_ref": "$0"})]
        return []


def quote_pattern_string(value: str) -> str:
    """A STIX pattern string literal: single quotes, with `\\` and `'` escaped by a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unquote_pattern_string(literal: str) -> str:
    """The inverse of quote_pattern_string for a literal the pattern grammar accepted."""
    return re.sub(r"\\(['\\])", r"\1", literal[1:-1])


def parse_type(raw: object) -> ObservableType:
    """The indicator type named by `raw`. Raises Invalid(field="type") listing the accepted names."""
    try:
        return ObservableType(str(raw).strip().lower())
    except ValueError:
        accepted = ", ".join(t.value for t in ObservableType)
        raise Invalid(f"unknown indicator type {raw!r}; use one of: {accepted}", field="type") from None


# The types whose values are written defanged in reports and alerts (hxxp://, evil[.]com, 1.2.3[.]4, [@]).
# Only these are refanged: the fanger also rewrites " dot " and "(dot)", which are plain text in a user agent,
# a file name or a registry key.
DEFANGED_TYPES = frozenset({ObservableType.IPV4_ADDR, ObservableType.IPV6_ADDR, ObservableType.DOMAIN_NAME,
                            ObservableType.URL, ObservableType.EMAIL_ADDR})
_TYPE_WORDS = "an IP address, domain name, URL, e-mail address or hash"


def refang(text: str) -> str:
    """`text` with defanged forms written plainly (hxxp:// -> http://, [.] -> ., [@] -> @, (dot) -> ., ...).

    The one refanging function: the free-text extractor and every typed-in value use it. ioc-fanger is the
    library ioc-finder itself refangs with, so both read a defanged value the same way. ioc-fanger reads the
    `::/` of an IPv6 network (2001:db8::/32) as a defanged `://`: that sequence is kept as written.
    """
    import ioc_fanger  # noqa: PLC0415 -- loads its pattern file; only pay for it when a value is read

    parts = text.split("::/")
    return "::/".join(str(ioc_fanger.fang(part)) for part in parts)


def normalize_input(type_: ObservableType | str, raw: object, *, hint: bool = True) -> Observable:
    """A value a person typed or pasted (the add box, the API, the search box), validated and normalized as
    `normalize` does; a value of a type written defanged (an address, domain, URL or e-mail address) that is
    not valid as typed is read refanged. Raises as `normalize`; with `hint`, the message also names the type
    the value looks like, if another one accepts it."""
    t = type_ if isinstance(type_, ObservableType) else parse_type(type_)
    try:
        return normalize(t, raw)
    except Invalid as exc:
        error = exc
    if t in DEFANGED_TYPES and isinstance(raw, str) and (fanged := refang(raw)) != raw:
        try:
            return normalize(t, fanged)
        except Invalid as exc:
            error, raw = exc, fanged
    other = guess_type(raw) if hint and isinstance(raw, str) and error.field == FIELD else None
    if other is None or other is t:
        raise error
    raise Invalid(f"{error.message}; it looks like {_ARTICLE.get(other, 'a')} {other.value}: choose the type "
                  f"{other.value}", field=FIELD) from None


def guess_type(value: str) -> ObservableType | None:
    """The first indicator type (of the addresses, names and hashes) that accepts `value` (refanged), or None."""
    for kind in (ObservableType.URL, ObservableType.EMAIL_ADDR, ObservableType.IPV4_ADDR,
                 ObservableType.IPV6_ADDR, *HASHES, ObservableType.DOMAIN_NAME):
        try:
            normalize_input(kind, value, hint=False)
        except Invalid:
            continue
        return kind
    return None


def not_any_type(value: str) -> Invalid:
    """The error for a value no indicator type accepts, in plain words."""
    return Invalid(f"{value!r} is not {_TYPE_WORDS}; check it for typing errors, or choose its type", field=FIELD)


def normalize(type_: ObservableType | str, raw: object) -> Observable:
    """Validate and normalize a value of the given indicator type.

    Raises Invalid(field="type") for an unknown type and Invalid(field="value") saying what is wrong.
    """
    t = type_ if isinstance(type_, ObservableType) else parse_type(type_)
    if not isinstance(raw, str):
        raise Invalid(f"the {t.value} value must be a string", field=FIELD)
    value = raw.strip()
    if not value:
        raise Invalid(f"the {t.value} value is empty", field=FIELD)
    if len(value) > MAX_VALUE_LENGTH:
        raise Invalid(f"the {t.value} value is longer than {MAX_VALUE_LENGTH} characters", field=FIELD)
    found = _UNPRINTABLE.search(value)
    if found:
        raise Invalid(f"the {t.value} value contains the character U+{ord(found.group()):04X} at position "
                      f"{found.start() + 1}; {UNPRINTABLE_WORDS} cannot be part of an indicator value", field=FIELD)
    return Observable(t, _NORMALIZERS[t](value, t))


# ---------------------------------------------------------------- per type

def _ip(value: str, t: ObservableType) -> str:
    version = 4 if t is ObservableType.IPV4_ADDR else 6
    other = "ipv6-addr" if version == 4 else "ipv4-addr"
    try:
        if "/" in value:
            network = ipaddress.ip_network(value, strict=True)
            found_version = network.version
            single = network.prefixlen == network.max_prefixlen  # 1.2.3.4/32 is the address 1.2.3.4
            normalized = str(network.network_address) if single else str(network)
        else:
            address = ipaddress.ip_address(value)
            found_version, normalized = address.version, str(address)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            loose = ipaddress.ip_network(value, strict=False)
            raise Invalid(f"{value!r} has host bits set; the network is {loose}", field=FIELD) from None
        kind = "IPv4" if version == 4 else "IPv6"
        raise Invalid(f"{value!r} is not a valid {kind} address or CIDR network",
                      field=FIELD) from None
    if found_version != version:
        raise Invalid(f"{value!r} is an IPv{found_version} address; use the type {other}", field=FIELD)
    return normalized


def domain_name(value: str) -> str:
    """A domain name as lower-case A-labels, without a trailing dot. Raises Invalid(field="value")."""
    name = value[:-1] if value.endswith(".") else value
    try:
        ascii_name = idna.encode(name, uts46=True, std3_rules=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise Invalid(f"{value!r} is not a valid domain name: {_idna_words(exc)}",
                      field=FIELD) from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise Invalid(f"{value!r} is not a fully qualified domain name (it has no dot)", field=FIELD)
    if labels[-1].isdigit():
        raise Invalid(f"{value!r} looks like an IP address, not a domain name", field=FIELD)
    if len(ascii_name) > 253:
        raise Invalid(f"{value!r} is longer than 253 characters", field=FIELD)
    return ascii_name


_CODEPOINT = re.compile(r"Codepoint U\+([0-9A-F]{4,6}) not allowed at position (\d+)")


def _idna_words(exc: idna.IDNAError) -> str:
    """What the IDNA library's message means, for a person."""
    text = str(exc)
    found = _CODEPOINT.search(text)
    if found:
        char = chr(int(found.group(1), 16))
        shown = f"{char!r} (U+{found.group(1)})" if char.isprintable() and not char.isspace() else f"U+{found.group(1)}"
        return (f"the character {shown} at position {found.group(2)} cannot be part of a domain name "
                "(letters, digits and hyphens, separated by dots)")
    if "Empty Label" in text or "Empty domain" in text:
        return "it has an empty part (two dots in a row, or a dot at the start)"
    if "label too long" in text.lower():
        return "a part between dots is longer than 63 characters"
    if "too long" in text.lower():
        return "it is too long (a domain name has at most 253 characters)"
    if "hyphen" in text.lower():
        return "a part between dots starts or ends with a hyphen"
    return "it is not letters, digits and hyphens separated by dots"


_ARTICLE = {ObservableType.URL: "a", ObservableType.EMAIL_ADDR: "an", ObservableType.IPV4_ADDR: "an",
            ObservableType.IPV6_ADDR: "an", ObservableType.MD5: "an", ObservableType.SHA1: "a",
            ObservableType.SHA256: "a", ObservableType.SHA512: "a", ObservableType.DOMAIN_NAME: "a"}


def _domain(value: str, _t: ObservableType) -> str:
    return domain_name(value)


def _url(value: str, _t: ObservableType) -> str:
    if any(c.isspace() for c in value):
        raise Invalid(f"{value!r} is not a valid URL: it contains spaces", field=FIELD)
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as exc:
        why = ("its port is not a number from 0 to 65535" if "port" in str(exc).lower()
               else "the host in square brackets is not an IPv6 address" if "[" in value
               else "it cannot be read as scheme://host/path")
        raise Invalid(f"{value!r} is not a valid URL: {why} (e.g. https://evil.example/login)", field=FIELD) from None
    scheme = parts.scheme.lower()
    if not scheme or not _URL_SCHEME.fullmatch(scheme):
        raise Invalid(f"{value!r} is not a valid URL: it has no scheme such as http://",
                      field=FIELD)
    host = parts.hostname
    if not host:
        raise Invalid(f"{value!r} is not a valid URL: it has no host", field=FIELD)
    if parts.netloc.startswith("[") or ":" in host:
        host_out = f"[{_ip(host, ObservableType.IPV6_ADDR)}]"
    else:
        try:
            host_out = _ip(host, ObservableType.IPV4_ADDR)
        except Invalid:
            host_out = domain_name(host)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host_out + (f":{port}" if port is not None else "")
    return urllib.parse.urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def _email(value: str, _t: ObservableType) -> str:
    try:
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise Invalid(f"{value!r} is not a valid email address: {exc}", field=FIELD) from None
    return checked.ascii_email or f"{checked.local_part}@{domain_name(checked.domain)}"


def _hash(value: str, t: ObservableType) -> str:
    name, length = HASHES[t]
    digest = value.lower()
    if not _HEX.fullmatch(digest):
        raise Invalid(f"a {name} hash is hexadecimal (0-9, a-f); {value!r} is not", field=FIELD)
    if len(digest) != length:
        raise Invalid(f"a {name} hash has {length} hex digits; {value!r} has {len(digest)}", field=FIELD)
    return digest


def _text(value: str, _t: ObservableType) -> str:
    return value  # free text: any printable character (control characters are refused by `normalize`)


def _file_name(value: str, t: ObservableType) -> str:
    value = _text(value, t)
    if "/" in value or "\\" in value:
        raise Invalid(f"{value!r} is a path; give the file name only (e.g. evil.exe)", field=FIELD)
    return value


def _registry_key(value: str, t: ObservableType) -> str:
    value = _text(value, t).rstrip("\\")
    hive, _, rest = value.partition("\\")
    full = REGISTRY_HIVES.get(hive.upper())
    if full is None:
        hives = ", ".join(sorted({h for h in REGISTRY_HIVES.values()}))
        raise Invalid(f"{value!r} does not start with a registry hive ({hives}, or HKLM, HKCU, HKCR, HKU, HKCC)",
                      field=FIELD)
    if "\\\\" in rest:
        raise Invalid(f"{value!r} has an empty key name (two backslashes in a row)", field=FIELD)
    return f"{full}\\{rest}" if rest else full


def _asn(value: str, _t: ObservableType) -> str:
    match = _ASN.fullmatch(value)
    if not match or not 0 < int(match.group(1)) <= MAX_ASN:
        raise Invalid(f"{value!r} is not an autonomous system number (AS1234 or 1234, 1 to {MAX_ASN})",
                      field=FIELD)
    return str(int(match.group(1)))


_NORMALIZERS = {
    ObservableType.IPV4_ADDR: _ip,
    ObservableType.IPV6_ADDR: _ip,
    ObservableType.DOMAIN_NAME: _domain,
    ObservableType.URL: _url,
    ObservableType.EMAIL_ADDR: _email,
    ObservableType.MD5: _hash,
    ObservableType.SHA1: _hash,
    ObservableType.SHA256: _hash,
    ObservableType.SHA512: _hash,
    ObservableType.FILE_NAME: _file_name,
    ObservableType.WINDOWS_REGISTRY_KEY: _registry_key,
    ObservableType.USER_ACCOUNT: _text,
    ObservableType.MUTEX: _text,
    ObservableType.PROCESS_NAME: _file_name,
    ObservableType.USER_AGENT: _text,
    ObservableType.AUTONOMOUS_SYSTEM: _asn,
}


# ---------------------------------------------------------------- reading simple patterns back

# One comparison `[object-type:path = literal]`, written so that everything it matches is also valid for the
# STIX 2.1 pattern grammar (stix2-patterns' ANTLR grammar): a lower-case object type, dotted path steps that
# are identifiers (never exactly a keyword such as AND, LIKE or true: those lex as keywords) or quoted
# strings (no list indexes), the `=` operator, and a string literal whose only escapes are \' and \\ or a
# non-negative integer. Whitespace is limited to what the grammar skips. bundle.py relies on this subset
# property to skip re-running the full validator; tests/indicators check it against stix2-patterns.
_WS = r"[ \t\r\n]*"
_STRING = r"'(?:[^'\\]|\\['\\])*'"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
SIMPLE_PATTERN = re.compile(
    rf"\[{_WS}(?P<type>[a-z][a-z0-9-]*):(?P<path>{_IDENT}(?:\.(?:{_IDENT}|{_STRING}))*)"
    rf"{_WS}={_WS}(?:(?P<string>{_STRING})|(?P<number>0|[1-9][0-9]{{0,18}})){_WS}\]"
)
_PATH_STEP = re.compile(rf"{_IDENT}|{_STRING}")
_KEYWORDS = {"AND", "OR", "NOT", "FOLLOWEDBY", "LIKE", "MATCHES", "ISSUPERSET", "ISSUBSET", "EXISTS", "LAST", "IN",
             "START", "STOP", "SECONDS", "true", "false", "WITHIN", "REPEATS", "TIMES"}


@dataclass(frozen=True)
class SimpleComparison:
    """A pattern of one equality comparison, e.g. `[file:hashes.'SHA-256' = '...']`."""

    object_type: str
    path: tuple[str, ...]  # unquoted steps, e.g. ("hashes", "SHA-256")
    value: str | int


def parse_simple_pattern(pattern: str) -> SimpleComparison | None:
    """The single comparison of a simple pattern, or None for anything else (which may still be valid)."""
    match = SIMPLE_PATTERN.fullmatch(pattern.strip(" \t\r\n"))
    if match is None:
        return None
    steps = tuple(unquote_pattern_string(s) if s.startswith("'") else s
                  for s in _PATH_STEP.findall(match.group("path")))
    raw_steps = [s for s in _PATH_STEP.findall(match.group("path")) if not s.startswith("'")]
    if match.group("type") in _KEYWORDS or any(step in _KEYWORDS for step in raw_steps):
        return None
    string = match.group("string")
    value: str | int = unquote_pattern_string(string) if string is not None else int(match.group("number"))
    return SimpleComparison(match.group("type"), steps, value)


_HASH_NAMES = {name.replace("-", ""): t for t, (name, _) in HASHES.items()}
_KEY_PATHS: dict[tuple[str, tuple[str, ...]], ObservableType] = {
    ("ipv4-addr", ("value",)): ObservableType.IPV4_ADDR,
    ("ipv6-addr", ("value",)): ObservableType.IPV6_ADDR,
    ("domain-name", ("value",)): ObservableType.DOMAIN_NAME,
    ("url", ("value",)): ObservableType.URL,
    ("email-addr", ("value",)): ObservableType.EMAIL_ADDR,
    ("file", ("name",)): ObservableType.FILE_NAME,
    ("windows-registry-key", ("key",)): ObservableType.WINDOWS_REGISTRY_KEY,
    ("user-account", ("account_login",)): ObservableType.USER_ACCOUNT,
    ("mutex", ("name",)): ObservableType.MUTEX,
    ("process", ("image_ref", "name")): ObservableType.PROCESS_NAME,
    ("process", ("name",)): ObservableType.PROCESS_NAME,  # STIX 2.0 spelling, still common in feeds
    ("network-traffic", ("extensions", "http-request-ext", "request_header", "User-Agent")):
        ObservableType.USER_AGENT,
    ("autonomous-system", ("number",)): ObservableType.AUTONOMOUS_SYSTEM,
}


def hash_type(algorithm: str) -> ObservableType | None:
    """Our hash type for a STIX hash algorithm name ('SHA-256', 'SHA256', 'sha-256', ...)."""
    return _HASH_NAMES.get(algorithm.upper().replace("-", "").replace("_", ""))


def observable_from_comparison(comparison: SimpleComparison) -> Observable | None:
    """The normalized observable a simple comparison matches, or None (unknown path or invalid value)."""
    path = comparison.path
    kind: ObservableType | None
    if comparison.object_type in {"file", "artifact"} and len(path) == 2 and path[0] == "hashes":
        kind = hash_type(path[1])
    else:
        kind = _KEY_PATHS.get((comparison.object_type, path))
    if kind is None:
        return None
    try:
        return normalize(kind, str(comparison.value))
    except Invalid:
        return None


def observable_from_pattern(pattern: str) -> Observable | None:
    """The normalized observable of a simple one-comparison pattern, else None. Does not validate the pattern."""
    comparison = parse_simple_pattern(pattern)
    return observable_from_comparison(comparison) if comparison else None
