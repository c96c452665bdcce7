"""Extracting candidate observables from free text, defanged forms included; known-benign values flagged."""

from __future__ import annotations

import pytest

from casemgr.errors import Invalid
from casemgr.indicators import extract as extract_module
from casemgr.indicators.extract import extract, own_domains

ALERT = """\
From: "IT Support" <support[@]acme-helpdesk(dot)net>
Subject: Password expiry

Our sandbox saw the attachment beacon to hxxp://evil-cdn[.]com/gate.php?id=7 and hxxps://login.acme-helpdesk[.]net/
then connect to 185.220.101[.]45 and 10.20.30.40;
also seen: 192.168.0.0/16, 127.0.0.1, fe80::1, 2a00:1450:4001:80b::200e.
Dropped file SHA-256 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855,
MD5 d41d8cd98f00b204e9800998ecf8427e.
Persistence: HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run
Hosting ASN AS13335. Our own portal https://portal.acme.com/login and jane.doe@acme.com were mentioned too.
"""


def as_tuples(candidates):
    return [(c.type.value, c.value, c.is_known_benign, c.reason) for c in candidates]


def test_defanged_alert_yields_normalized_candidates_with_benign_flags():
    found = as_tuples(extract(ALERT, allow_list=["ACME.com"]))
    expected = [
        ("url", "http://evil-cdn.com/gate.php?id=7", False, None),
        ("url", "https://login.acme-helpdesk.net/", False, None),
        ("url", "https://portal.acme.com/login", True, "the organization's own domain (acme.com)"),
        ("email-addr", "support@acme-helpdesk.net", False, None),
        ("email-addr", "jane.doe@acme.com", True, "the organization's own domain (acme.com)"),
        ("domain-name", "acme-helpdesk.net", False, None),
        ("domain-name", "evil-cdn.com", False, None),
        ("domain-name", "login.acme-helpdesk.net", False, None),
        ("domain-name", "portal.acme.com", True, "the organization's own domain (acme.com)"),
        ("domain-name", "acme.com", True, "the organization's own domain (acme.com)"),
        ("ipv4-addr", "192.168.0.0/16", True, "private or special-purpose address range (192.168.0.0/16)"),
        ("ipv4-addr", "185.220.101.45", False, None),
        ("ipv4-addr", "10.20.30.40", True, "private or special-purpose address range (10.20.30.40)"),
        ("ipv4-addr", "127.0.0.1", True, "loopback address (127.0.0.1)"),
        ("ipv6-addr", "fe80::1", True, "link-local address (fe80::1)"),
        ("ipv6-addr", "2a00:1450:4001:80b::200e", False, None),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e", True, "well-known benign hash: the empty file (0 bytes)"),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", True,
         "well-known benign hash: the empty file (0 bytes)"),
        ("windows-registry-key", "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run", False, None),
        ("autonomous-system", "13335", False, None),
    ]
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("hxxp://evil[.]com/a", ("url", "http://evil.com/a")),
    ("hxxps://evil[.]com/b", ("url", "https://evil.com/b")),
    ("visit evil[.]com now", ("domain-name", "evil.com")),
    ("evil(.)example(.)org", ("domain-name", "evil.example.org")),
    ("evil[dot]org", ("domain-name", "evil.org")),
    ("1.2.3[.]4", ("ipv4-addr", "1.2.3.4")),
    ("8[.]8[.]8[.]8", ("ipv4-addr", "8.8.8.8")),
    ("bad[@]evil[.]com", ("email-addr", "bad@evil.com")),
    ("bad(at)evil(dot)com", ("email-addr", "bad@evil.com")),
])
def test_defanged_forms(text, expected):
    found = {(c.type.value, c.value) for c in extract(text)}
    assert expected in found


def test_each_value_is_listed_once():
    found = extract("1.2.3.4 1.2.3[.]4 1[.]2[.]3[.]4 EVIL.com evil[.]com")
    assert [(c.type.value, c.value) for c in found] == [("domain-name", "evil.com"), ("ipv4-addr", "1.2.3.4")]


def test_subdomains_of_the_allow_list_are_benign_but_lookalikes_are_not():
    found = {c.value: c.is_known_benign for c in extract("mail.acme.com notacme.com acme.com.evil.net",
                                                         allow_list=["acme.com"])}
    assert found == {"mail.acme.com": True, "notacme.com": False, "acme.com.evil.net": False}


def test_benign_urls_by_address():
    found = {c.value: c.reason for c in extract("http://10.1.2.3/admin and http://203.0.113.7/x",
                                                 allow_list=[]) if c.type.value == "url"}
    assert found["http://10.1.2.3/admin"] == "private or special-purpose address range (10.1.2.3)"
    assert "203.0.113.7" in found["http://203.0.113.7/x"]  # a documentation range: not on the internet


def test_nothing_found_in_plain_prose():
    assert extract("The quick brown fox jumps over the lazy dog.") == []


def test_candidates_become_observables_with_patterns():
    (candidate,) = extract("beacon to 185.220.101[.]45")
    assert candidate.observable.pattern == "[ipv4-addr:value = '185.220.101.45']"


def test_a_bad_allow_list_entry_is_refused_naming_the_setting():
    with pytest.raises(Invalid) as caught:
        own_domains(["acme.com", "not a domain"])
    assert caught.value.field == "own_domains"
    assert own_domains([" ACME.com ", ""]) == frozenset({"acme.com"})


def test_oversized_text_is_refused():
    with pytest.raises(Invalid) as caught:
        extract("a" * (extract_module.MAX_TEXT + 1))
    assert caught.value.field == "text"


def test_values_the_finder_drops_for_their_top_level_domain_are_listed_with_why():
    found = {(c.type.value, c.value): c.caution for c in extract(
        "hxxp://evil[.]example/login billing[@]evil[.]example x.test login[.]portal[.]zzzunknown evil[.]com")}
    assert found == {
        ("url", "http://evil.example/login"): "reserved top-level domain .example",
        ("email-addr", "billing@evil.example"): "reserved top-level domain .example",
        ("domain-name", "evil.com"): None,
        ("domain-name", "evil.example"): "reserved top-level domain .example",
        ("domain-name", "x.test"): "reserved top-level domain .test",
        ("domain-name", "login.portal.zzzunknown"): "unknown top-level domain .zzzunknown",
    }


def test_a_name_the_finder_cuts_short_is_listed_whole():
    """ioc-finder reads foo.com.invalid as foo.com: the whole name is listed too, with why."""
    found = {c.value: c.caution for c in extract("see foo.com.invalid")}
    assert found["foo.com.invalid"] == "reserved top-level domain .invalid"


def test_file_names_written_plainly_are_not_offered_as_domains():
    assert extract("opened invoice.pdf then ran payload.exe and setup.ps1") == []


def test_a_defanged_name_is_found_after_punctuation_but_not_inside_a_word():
    found = {c.value for c in extract("(login[.]portal[.]zzzunknown) and xlogin[.]zzz")}
    assert "login.portal.zzzunknown" in found
    assert "xlogin.zzz" in found
    assert "ogin.zzz" not in found
