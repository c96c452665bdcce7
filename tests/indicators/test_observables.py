"""Indicator types: validation, normalization, STIX patterns (escaping, round trip) and SCOs."""

from __future__ import annotations

import random

import pytest
from stix2patterns.validator import run_validator

from casemgr.errors import Invalid
from casemgr.indicators.bundle import CheckedObject, _simple_indicator
from casemgr.indicators.observables import (
    ObservableType,
    normalize,
    observable_from_pattern,
    parse_simple_pattern,
    parse_type,
    quote_pattern_string,
)

SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

VALID = [
    # (type, input, normalized, pattern)
    ("ipv4-addr", " 198.51.100.7 ", "198.51.100.7", "[ipv4-addr:value = '198.51.100.7']"),
    ("ipv4-addr", "10.0.0.0/8", "10.0.0.0/8", "[ipv4-addr:value = '10.0.0.0/8']"),
    ("ipv4-addr", "203.0.113.9/32", "203.0.113.9", "[ipv4-addr:value = '203.0.113.9']"),
    ("ipv6-addr", "2001:DB8:0:0::1", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
    ("ipv6-addr", "2001:db8::/32", "2001:db8::/32", "[ipv6-addr:value = '2001:db8::/32']"),
    ("domain-name", "Evil.EXAMPLE.com.", "evil.example.com", "[domain-name:value = 'evil.example.com']"),
    ("domain-name", "bücher.example", "xn--bcher-kva.example", "[domain-name:value = 'xn--bcher-kva.example']"),
    ("url", "HTTP://Evil.COM:8080/Path?q=1#f", "http://evil.com:8080/Path?q=1#f",
     "[url:value = 'http://evil.com:8080/Path?q=1#f']"),
    ("url", "https://[2001:DB8::1]/x", "https://[2001:db8::1]/x", "[url:value = 'https://[2001:db8::1]/x']"),
    ("url", "http://1.2.3.4/a'b", "http://1.2.3.4/a'b", "[url:value = 'http://1.2.3.4/a\\'b']"),
    ("email-addr", "Attacker@Evil.COM", "Attacker@evil.com", "[email-addr:value = 'Attacker@evil.com']"),
    ("md5", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e",
     "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']"),
    ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"),
    ("sha256", SHA256.upper(), SHA256, f"[file:hashes.'SHA-256' = '{SHA256}']"),
    ("sha512", "ab" * 64, "ab" * 64, f"[file:hashes.'SHA-512' = '{'ab' * 64}']"),
    ("file-name", "invoice.pdf.exe", "invoice.pdf.exe", "[file:name = 'invoice.pdf.exe']"),
    ("windows-registry-key", "hklm\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\",
     "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
     "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run']"),
    ("user-account", "CORP\\svc_backup", "CORP\\svc_backup", "[user-account:account_login = 'CORP\\\\svc_backup']"),
    ("mutex", "Global\\MsWinZonesCacheCounterMutexA", "Global\\MsWinZonesCacheCounterMutexA",
     "[mutex:name = 'Global\\\\MsWinZonesCacheCounterMutexA']"),
    ("process-name", "rundll32.exe", "rundll32.exe", "[process:image_ref.name = 'rundll32.exe']"),
    ("user-agent", "Mozilla/5.0 (compatible; EvilBot/1.0)", "Mozilla/5.0 (compatible; EvilBot/1.0)",
     "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = "
     "'Mozilla/5.0 (compatible; EvilBot/1.0)']"),
    ("autonomous-system", "AS13335", "13335", "[autonomous-system:number = 13335]"),
    ("autonomous-system", "asn 64512", "64512", "[autonomous-system:number = 64512]"),
    ("autonomous-system", "4200000000", "4200000000", "[autonomous-system:number = 4200000000]"),
]


@pytest.mark.parametrize(("kind", "raw", "normalized", "pattern"), VALID)
def test_valid_values_normalize_to_a_valid_pattern_that_reads_back(kind, raw, normalized, pattern):
    observable = normalize(kind, raw)
    assert observable.value == normalized
    assert observable.pattern == pattern
    assert run_validator(observable.pattern, stix_version="2.1") == []
    assert observable_from_pattern(observable.pattern) == observable


def test_every_type_is_covered_by_the_valid_examples():
    assert {kind for kind, *_ in VALID} == {t.value for t in ObservableType}


INVALID = [
    ("ipv4-addr", "256.1.1.1", "not a valid IPv4"),
    ("ipv4-addr", "1.2.3", "not a valid IPv4"),
    ("ipv4-addr", "01.2.3.4", "not a valid IPv4"),
    ("ipv4-addr", "10.1.2.3/8", "host bits set; the network is 10.0.0.0/8"),
    ("ipv4-addr", "2001:db8::1", "IPv6 address; use the type ipv6-addr"),
    ("ipv6-addr", "1.2.3.4", "IPv4 address; use the type ipv4-addr"),
    ("ipv6-addr", "2001:db8:::1", "not a valid IPv6"),
    ("domain-name", "evil..com", "not a valid domain name"),
    ("domain-name", "-evil.com", "not a valid domain name"),
    ("domain-name", "ev il.com", "not a valid domain name"),
    ("domain-name", "localhost", "no dot"),
    ("domain-name", "1.2.3.4", "looks like an IP address"),
    ("domain-name", ("a" * 60 + ".") * 5 + "com", "too long"),
    ("url", "evil.com/path", "no scheme"),
    ("url", "http:///path", "no host"),
    ("url", "http://evil.com:99999/", "not a valid URL"),
    ("url", "http://evil .com/", "it contains spaces"),
    ("url", "http://ev!l.com/", "not a valid domain name"),
    ("email-addr", "attacker", "not a valid email address"),
    ("email-addr", "a b@evil.com", "not a valid email address"),
    ("email-addr", "a@@evil.com", "not a valid email address"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427", "32 hex digits"),
    ("sha1", "zz39a3ee5e6b4b0d3255bfef95601890afd80709", "hexadecimal"),
    ("sha256", SHA256 + "0", "64 hex digits"),
    ("sha512", "ab" * 63, "128 hex digits"),
    ("file-name", "C:\\Temp\\evil.exe", "is a path"),
    ("file-name", "evil\x00.exe", "control characters"),
    ("windows-registry-key", "HKEY_NOWHERE\\Software", "does not start with a registry hive"),
    ("windows-registry-key", "Software\\Run", "does not start with a registry hive"),
    ("windows-registry-key", "HKLM\\Software\\\\Run", "empty key name"),
    ("user-account", "bob\nadmin", "control characters"),
    ("mutex", "\x07bell", "control characters"),
    ("process-name", "/usr/bin/evil", "is a path"),
    ("user-agent", "Mozilla\r\nX-Injected: 1", "control characters"),
    ("autonomous-system", "AS0", "not an autonomous system number"),
    ("autonomous-system", "AS4294967296", "not an autonomous system number"),
    ("autonomous-system", "ASX", "not an autonomous system number"),
    ("sha256", "   ", "is empty"),
    ("mutex", "x" * 8193, "longer than 8192"),
]


@pytest.mark.parametrize(("kind", "raw", "message"), INVALID)
def test_invalid_values_are_refused_naming_the_value_field(kind, raw, message):
    with pytest.raises(Invalid) as caught:
        normalize(kind, raw)
    assert caught.value.field == "value"
    assert caught.value.status == 422
    assert message in caught.value.message


def test_every_type_has_invalid_examples():
    assert {kind for kind, *_ in INVALID} == {t.value for t in ObservableType}


def test_non_string_value_is_refused():
    with pytest.raises(Invalid, match="must be a string") as caught:
        normalize("ipv4-addr", 16909060)
    assert caught.value.field == "value"


def test_unknown_type_is_refused_naming_the_type_field_and_listing_the_choices():
    with pytest.raises(Invalid) as caught:
        parse_type("ip-address")
    assert caught.value.field == "type"
    assert "ipv4-addr" in caught.value.message
    assert "autonomous-system" in caught.value.message
    with pytest.raises(Invalid):
        normalize("hash", SHA256)


HOSTILE = [
    "it's",
    "'",
    "''",
    "\\",
    "\\\\",
    "\\'",
    "'\\",
    "a\\'] OR [ipv4-addr:value = '1.2.3.4",
    "'] AND [file:name = 'x",
    "C:\\Users\\Public\\'evil'.dll",
    "trailing backslash\\",
    "\u202eexe.txt",
    "emoji \U0001f4a9 ümlaut",
    "brackets [ ] ( ) = != : .",
    "[mutex:name = 'x']",
]


@pytest.mark.parametrize(("kind", "value"), [
    (kind, value) for kind in ("mutex", "user-account", "user-agent", "file-name") for value in HOSTILE
    if not (kind == "file-name" and "\\" in value)  # a backslash in a file name is a path separator: refused
])
def test_hostile_values_give_valid_patterns_that_round_trip(kind, value):
    observable = normalize(kind, value)
    assert observable.value == value.strip()
    errors = run_validator(observable.pattern, stix_version="2.1")
    assert errors == [], (observable.pattern, errors)
    comparison = parse_simple_pattern(observable.pattern)
    assert comparison is not None
    assert comparison.value == value.strip()
    assert observable_from_pattern(observable.pattern) == observable


def test_an_injection_attempt_stays_one_comparison():
    observable = normalize("mutex", "x'] OR [ipv4-addr:value = '1.2.3.4")
    assert observable.pattern == "[mutex:name = 'x\\'] OR [ipv4-addr:value = \\'1.2.3.4']"
    comparison = parse_simple_pattern(observable.pattern)
    assert comparison is not None
    assert (comparison.object_type, comparison.path) == ("mutex", ("name",))


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("md5", "d41d8cd98f00b204e9800998ecf8427e", [("file", {"hashes": {"MD5": "d41d8cd98f00b204e9800998ecf8427e"}})]),
    ("sha256", SHA256, [("file", {"hashes": {"SHA-256": SHA256}})]),
    ("ipv4-addr", "10.0.0.0/8", [("ipv4-addr", {"value": "10.0.0.0/8"})]),
    ("windows-registry-key", "HKCU\\Run", [("windows-registry-key", {"key": "HKEY_CURRENT_USER\\Run"})]),
    ("user-account", "bob", [("user-account", {"account_login": "bob"})]),
    ("autonomous-system", "AS1", [("autonomous-system", {"number": 1})]),
    ("process-name", "evil.exe", [("file", {"name": "evil.exe"}), ("process", {"image_ref": "$0"})]),
    ("user-agent", "curl/8.0", []),
])
def test_sco_properties(kind, raw, expected):
    assert normalize(kind, raw).sco_properties() == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ("[ipv4-addr:value = '10.0.0.0/8']", ("ipv4-addr", "10.0.0.0/8")),
    ("  [ domain-name:value='EVIL.com' ]  ", ("domain-name", "evil.com")),
    (f"[file:hashes.'SHA-256' = '{SHA256.upper()}']", ("sha256", SHA256)),
    (f"[file:hashes.SHA256 = '{SHA256}']", ("sha256", SHA256)),
    ("[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
    ("[process:name = 'evil.exe']", ("process-name", "evil.exe")),
    ("[autonomous-system:number = 13335]", ("autonomous-system", "13335")),
])
def test_dedupe_key_from_a_simple_pattern(pattern, expected):
    observable = observable_from_pattern(pattern)
    assert observable is not None
    assert (observable.type.value, observable.value) == expected


@pytest.mark.parametrize("pattern", [
    "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'evil.com']",
    "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']",
    "[ipv4-addr:value ISSUBSET '10.0.0.0/8']",
    "[ipv4-addr:value != '1.2.3.4']",
    "[file:name MATCHES '^evil']",
    "[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS",
    "[x509-certificate:serial_number = '01']",
    "[ipv4-addr:value = '999.1.1.1']",
    "[ipv4-addr:value = '1.2.3.4'",
    "[file:extensions.'windows-pebinary-ext'.sections[*].entropy = 7]",
])
def test_no_dedupe_key_for_other_patterns(pattern):
    assert observable_from_pattern(pattern) is None


def test_the_fast_simple_pattern_reader_accepts_only_patterns_the_grammar_accepts():
    """bundle.py skips the ANTLR validator for patterns parse_simple_pattern reads (hash comparisons only with a
    digest of the right form): every pattern it lets skip the validator must be one the validator accepts."""
    rng = random.Random(20260101)
    types = ["ipv4-addr", "file", "x-foo", "a-", "true", "false", "Bad", "9x", "mutex"]
    steps = ["value", "name", "hashes", "'SHA-256'", "SHA256", "AND", "ANDROID", "true", "in", "IN", "x-y",
             "_", "'it''s'", "'a\\'b'", "[0]", "[*]", "'/*'"]
    chars = ["a", "Z", "'", "\\", "]", "[", " ", "\t", "\n", "\x0b", "\x1c", "\x85", "\u00a0", "\u2028",
             "é", "/*", "*/", "//", "=", "\x00", "\U0001f4a9"]
    spaces = ["", "", "", " ", " ", "\t", "\r\n", "\x0b", "\x0c", "\x85", "\u00a0", "\x1c", "\u3000"]
    read = hashes_fast = 0
    for _ in range(40_000):
        path = ".".join(rng.choice(steps) for _ in range(rng.randint(1, 2)))
        if rng.random() < 0.15:
            path = "hashes." + rng.choice(["'SHA-256'", "SHA256", "'MD5'", "'SHA-1'", "'SHA-512'", "'sha-256'", "'X'"])
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
        if path.startswith("hashes.") and rng.random() < 0.5:
            value = "'" + rng.choice(["a" * 64, "F0" * 16, "9" * 40, "e" * 128, "a" * 63, "g" * 32, ""]) + "'"
        elif rng.random() < 0.4:
            value = quote_pattern_string(text)
        elif rng.random() < 0.6:
            value = "'" + text + "'"
        else:
            value = rng.choice(["0", "7", "007", "-1", "+3", "1.5", "true", "h'ff'", "t'2020-01-01T00:00:00Z'"])
        pattern = (f"[{rng.choice(spaces)}{rng.choice(types)}:{path}{rng.choice(spaces)}={rng.choice(spaces)}"
                   f"{value}{rng.choice(spaces)}]")
        comparison = parse_simple_pattern(pattern)
        if comparison is None:
            continue
        read += 1
        if _simple_indicator({"pattern": pattern, "pattern_type": "stix"}, CheckedObject(0, {})):
            assert run_validator(pattern, stix_version="2.1") == [], pattern
            hashes_fast += "hashes" in comparison.path
        else:  # only hash comparisons with a digest of the wrong form (or an unknown algorithm) are declined
            assert "hashes" in comparison.path, pattern
    assert read > 400  # the generator does exercise the fast reader
    assert hashes_fast > 5  # and its hash rule, with digests the validator accepts
