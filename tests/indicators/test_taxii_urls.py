"""TAXII discovery names the API root by the configured base URL or a relative URL, never by the Host
header a client sent."""

from __future__ import annotations

import pytest

from casemgr.config import ConfigError, Settings
from tests.conftest import ApiClient

TAXII = "application/taxii+json;version=2.1"


def discover(client: ApiClient, host: str) -> dict:
    response = client.get("/taxii2/", headers={"Host": host, "Accept": TAXII})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_forged_host_header_does_not_reach_the_discovery_document(api):
    found = discover(api("analyst"), "evil.example")
    assert found["api_roots"] == ["/taxii2/api/"]
    assert found["default"] == "/taxii2/api/"
    assert "evil.example" not in str(found)


def test_the_configured_base_url_names_the_api_root(api, make_app):
    base = api("analyst")
    client = ApiClient(make_app(base_url="https://ir.example.org/casemgr").test_client(), base.token, base.user)
    found = discover(client, "evil.example")
    assert found["api_roots"] == ["https://ir.example.org/casemgr/taxii2/api/"]
    assert found["default"] == found["api_roots"][0]


@pytest.mark.parametrize("value", ["ir.example.org", "ftp://ir.example.org", "https://", "https://u:p@ir.example.org",
                                   "https://ir.example.org/?x=1", "https://ir.example.org/#top",
                                   "https://ir.example.org:99999"])
def test_a_bad_base_url_names_the_variable(tmp_path, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"CASEMGR_INSTANCE_DIR": str(tmp_path), "CASEMGR_BASE_URL": value})
    assert caught.value.variable == "CASEMGR_BASE_URL"


def test_a_base_url_is_kept_without_its_trailing_slash(tmp_path):
    settings = Settings.from_env({"CASEMGR_INSTANCE_DIR": str(tmp_path), "CASEMGR_BASE_URL": "https://ir.example.org/"})
    assert settings.base_url == "https://ir.example.org"
