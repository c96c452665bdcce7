"""The case page frame: header and tab bar, and the placeholder tabs later work fills."""

from __future__ import annotations

import pytest

from casemgr.cases.tabs import PLACEHOLDERS

ALL_TABS = ["evidence", "indicators", "playbooks", "report"]


@pytest.mark.parametrize("tab", sorted(PLACEHOLDERS))  # the tabs not built yet
def test_placeholder_tab_shows_header_and_what_will_come(api, login, open_case, tab):
    case = open_case(api("analyst"), title="Ransomware on file server", tlp="red")
    page = login("analyst").get(f"/cases/{case['id']}/{tab}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert case["reference"] in html
    assert "Ransomware on file server" in html
    assert "TLP:RED" in html
    assert f'data-tab="{tab}" aria-current="page"' in html
    assert 'data-testid="tab-placeholder"' in html
    for other in ("overview", "timeline", "evidence", "indicators", "playbooks", "report"):
        assert f'data-tab="{other}"' in html


@pytest.mark.parametrize("tab", ALL_TABS)  # placeholders or real: the same rule
def test_tab_of_restricted_case_is_404_to_outsiders(api, login, open_case, tab):
    case = open_case(api("analyst"), restricted=True)
    assert login("analyst").get(f"/cases/{case['id']}/{tab}").status_code == 404
    assert login("auditor").get(f"/cases/{case['id']}/{tab}").status_code == 200
