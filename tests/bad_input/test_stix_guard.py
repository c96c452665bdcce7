"""The STIX guard (casemgr/indicators/bundle.py and stix.py): a bundle is strict JSON (no NaN or Infinity,
no number beyond STIX's integers, no NUL), and no pattern nests or chains deeper than the pattern parser can
go, for the API, the UI upload and the CLI import alike; a forged TAXII `next` token is a 400 TAXII error."""

from __future__ import annotations

import base64
import io
import json

import pytest

from tests.indicators.conftest import bundle_of, indicator, post_bundle

GOOD = "[domain-name:value = 'evil.example']"
TAXII = "application/taxii+json;version=2.1"


def _bundle_text(**extra: str) -> str:
    """A one-indicator bundle with raw JSON text spliced in after `"confidence": `, etc."""
    obj = indicator(GOOD, id="indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
    text = json.dumps(bundle_of(obj))
    for name, raw in extra.items():
        text = text.replace('"pattern_type"', f'"{name}": {raw}, "pattern_type"')
    return text


NOT_JSON = [("NaN", "objects[0].confidence is NaN"), ("Infinity", "objects[0].confidence is Infinity"),
            ("-Infinity", "objects[0].confidence is -Infinity")]
TOO_LONG = "9" * 5001


def _import_three_ways(world, text: str, run_cli, tmp_path) -> list[tuple[int, str]]:
    """(status or exit code, message) from the API, the UI upload and the CLI import of the same bundle."""
    case = world.case
    api = post_bundle(world.api, case, text)
    ui = world.web.post(f"/cases/{case['id']}/stix/upload",
                        data={"bundle": (io.BytesIO(text.encode()), "b.json")}, content_type="multipart/form-data")
    path = tmp_path / "b.json"
    path.write_text(text)
    cli = run_cli("stix", "import", str(path), "--case", case["reference"])
    return [(api.status_code, api.get_json()["error"]["message"]), (ui.status_code, ui.get_data(as_text=True)),
            (cli.exit_code, cli.output)]


@pytest.mark.parametrize(("raw", "where"), NOT_JSON)
def test_nan_and_infinity_are_refused_naming_where_everywhere(world, run_cli, tmp_path, raw, where):
    objects = f"/api/v1/cases/{world.case['id']}/stix/objects"
    before = world.api.get(objects).get_json()["total"]
    results = _import_three_ways(world, _bundle_text(confidence=raw), run_cli, tmp_path)
    assert [status for status, _ in results] == [400, 400, 1]
    assert all(where in message for _, message in results), results
    assert world.api.get(objects).get_json()["total"] == before  # nothing kept


@pytest.mark.parametrize(("raw", "where"), [(TOO_LONG, "objects[0].confidence is a whole number of 5001 digits"),
                                            ("1e999", "objects[0].confidence is 1e999, a number too large")])
def test_a_number_beyond_what_stix_carries_is_refused_naming_where(world, run_cli, tmp_path, raw, where):
    results = _import_three_ways(world, _bundle_text(confidence=raw), run_cli, tmp_path)
    assert [status for status, _ in results] == [422, 422, 1]
    assert all(where in message for _, message in results), results


def test_a_nul_in_a_bundle_string_is_refused_naming_where(world):
    response = post_bundle(world.api, world.case, _bundle_text(name='"evil\\u0000name"'))
    assert response.status_code == 422
    assert response.get_json()["error"]["message"].startswith("objects[0].name holds a NUL character")


def test_ordinary_numbers_still_import(world):
    text = _bundle_text(confidence="85", x_score="0.5", x_big="9007199254740991")
    response = post_bundle(world.api, world.case, text)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("pattern", [
    "(" * 3000 + GOOD + ")" * 3000,
    "[" + "(" * 3000 + "domain-name:value = 'x'" + ")" * 3000 + "]",
    " AND ".join([GOOD] * 1500),
    "[" + " OR ".join(["domain-name:value = 'x'"] * 1500) + "]",
])
def test_a_pattern_nested_or_chained_too_deep_is_refused_not_a_crash(world, pattern):
    pasted = world.api.post(f"/api/v1/cases/{world.case['id']}/indicators", json={"pattern": pattern[:20_000]})
    assert (pasted.status_code, pasted.get_json()["error"]["field"]) == (422, "pattern")
    imported = post_bundle(world.api, world.case, bundle_of(indicator(pattern)))
    assert imported.status_code == 422, imported.get_json()
    assert "pattern" in imported.get_json()["error"]["rejected"][0]["reason"]


def test_a_pattern_with_brackets_inside_strings_is_not_counted(world):
    quoted = "[file:name = '" + "(" * 200 + "']"
    assert world.api.post(f"/api/v1/cases/{world.case['id']}/indicators",
                          json={"pattern": quoted}).status_code == 201


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("token", [
    "forged", "%C3%A9t%C3%A9", "x" * 5000, _token("9999-12-31T23:59:59-23:59|1"),
    _token("0001-01-01T00:00:00+23:59|1"), _token("2026-01-01T00:00:00+00:00|" + "9" * 30),
    _token("2026-01-01T00:00:00+00:00|-99999999999999999999"), _token("2026-01-01T00:00:00|1"),
])
def test_a_forged_taxii_next_token_is_a_400_taxii_error(world, token):
    url = f"/taxii2/api/collections/{world.values['collection_id']}/objects/?next={token}"
    for path in (url, url.replace("/objects/", "/manifest/")):
        response = world.api.get(path, headers={"Accept": TAXII})
        assert response.status_code == 400, response.get_data(as_text=True)[:200]
        assert response.headers["Content-Type"] == TAXII
        assert response.get_json()["details"] == {"field": "next"}


def test_a_handed_out_next_token_still_pages(world):
    for n in range(2):
        world.api.post(f"/api/v1/cases/{world.case['id']}/indicators",
                       json={"type": "domain-name", "value": f"page{n}.example"})
    found = world.api.get("/taxii2/api/collections/", headers={"Accept": TAXII}).get_json()["collections"]
    mine = next(c["id"] for c in found if world.case["reference"] in c["title"])
    base = f"/taxii2/api/collections/{mine}/objects/"
    first = world.api.get(f"{base}?limit=1", headers={"Accept": TAXII}).get_json()
    assert first["more"] is True
    second = world.api.get(f"{base}?limit=1&next={first['next']}", headers={"Accept": TAXII})
    assert second.status_code == 200
    assert second.get_json()["objects"] != first["objects"]

