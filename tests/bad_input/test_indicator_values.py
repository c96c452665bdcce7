"""Control characters in an indicator value are refused, for every indicator type, naming the value and the
character: C0 and C1 controls and DEL (U+0000 to U+001F, U+007F to U+009F) and the line separators U+2028
and U+2029. They are refused, not stripped: a value is evidence and is kept as given or not at all."""

from __future__ import annotations

import pytest

from casemgr.indicators.observables import ObservableType

# A value of each type with a slot where the character goes; each is accepted without it.
VALUES = {
    ObservableType.IPV4_ADDR: "10.0{}.0.1", ObservableType.IPV6_ADDR: "fe80::1%eth{}0",
    ObservableType.DOMAIN_NAME: "ev{}il.example", ObservableType.URL: "http://evil.example/a{}b",
    ObservableType.EMAIL_ADDR: "a{}b@evil.example", ObservableType.MD5: "d41d8cd98f00b204e9800998ecf8427{}e",
    ObservableType.SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd8070{}9",
    ObservableType.SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85{}5",
    ObservableType.SHA512: "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2"
                           "877eec2f63b931bd47417a81a538327af927da3{}e",
    ObservableType.FILE_NAME: "invoice{}.exe", ObservableType.WINDOWS_REGISTRY_KEY: "HKLM\\Software\\Ev{}il",
    ObservableType.USER_ACCOUNT: "bob{}admin", ObservableType.MUTEX: "Global\\evil{}mutex",
    ObservableType.PROCESS_NAME: "evil{}.exe", ObservableType.USER_AGENT: "Mozilla/5.0{} (evil)",
    ObservableType.AUTONOMOUS_SYSTEM: "AS{}64500",
}
CHARACTERS = ["\x01", "\x1b", "\x7f", "\x85", "\x9f", "\u2028"]


def test_every_indicator_type_has_a_sample():
    assert set(VALUES) == set(ObservableType)


@pytest.mark.parametrize("type_", list(ObservableType))
def test_a_control_character_in_any_indicator_value_is_refused_naming_it(world, type_):
    url = f"/api/v1/cases/{world.case['id']}/indicators"
    plain = world.api.post(url, json={"type": type_.value, "value": VALUES[type_].format("")})
    assert plain.status_code in (200, 201), plain.get_json()
    for char in CHARACTERS:
        response = world.api.post(url, json={"type": type_.value, "value": VALUES[type_].format(char)})
        assert response.status_code == 422, (type_, char, response.get_json())
        error = response.get_json()["error"]
        assert error["field"] == "value"
        assert f"U+{ord(char):04X}" in error["message"], error["message"]
        assert "control characters" in error["message"]


def test_surrounding_white_space_is_still_stripped(world):
    response = world.api.post(f"/api/v1/cases/{world.case['id']}/indicators",
                              json={"type": "domain-name", "value": "\tspaced.example\n"})
    assert response.status_code == 201
    assert response.get_json()["value"] == "spaced.example"


def test_bidirectional_marks_are_data_not_controls(world):
    """U+202E (right-to-left override) in a file name is a classic lure: it is kept, exactly."""
    response = world.api.post(f"/api/v1/cases/{world.case['id']}/indicators",
                              json={"type": "file-name", "value": "invoice\u202egpj.exe"})
    assert response.status_code == 201
    assert response.get_json()["pattern"] == "[file:name = 'invoice\u202egpj.exe']"
