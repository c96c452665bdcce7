"""Evidence transfers against the server as deployed (`casemgr serve`, the `served` fixture)."""

from __future__ import annotations

import os
import socket
import urllib.parse

import pytest
import requests

from .conftest import stored_files, unfinished_upload


@pytest.fixture
def served_workers() -> int:
    # One process (deployments run more): the answers below come from the process that is receiving
    # the stalled upload, so they show that it holds up only its own thread.
    return 1


def test_a_stalled_upload_holds_up_nobody_and_leaves_nothing(served, api, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    url = urllib.parse.urlsplit(served)
    request = unfinished_upload(url.netloc, analyst.token, case["id"], os.urandom(1024 * 1024), "laptop.img",
                                declared=1024 * 1024 * 1024)
    auth = {"Authorization": f"Bearer {analyst.token}"}
    with socket.create_connection((url.hostname, url.port), timeout=30) as upload:
        # An analyst's upload over a slow link: the first MiB arrives, the rest is still on its way.
        upload.sendall(request)
        # The one server process still answers everyone else at once.
        for _ in range(3):
            me = requests.get(f"{served}/api/v1/me", headers=auth, timeout=10)
            assert me.status_code == 200
            assert me.json()["username"] == analyst.user.username
        listed = requests.get(f"{served}/api/v1/cases/{case['id']}/evidence", headers=auth, timeout=10)
        assert listed.json()["total"] == 0
        upload.shutdown(socket.SHUT_WR)  # the link drops
        while upload.recv(65536):  # until the server has given up on the request
            pass
    assert stored_files(settings) == []
    assert requests.get(f"{served}/api/v1/cases/{case['id']}/evidence", headers=auth, timeout=10).json()["total"] == 0
