"""Evidence transfers against the server as deployed (`casemgr serve`: gunicorn, threaded workers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from casemgr.config import Settings

from .conftest import stored_files, unfinished_upload


@pytest.fixture
def served(settings: Settings, instance_dir: Path) -> Iterator[str]:
    """`casemgr serve` with ONE process, on the test database; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEMGR_")}
    env.update(CASEMGR_INSTANCE_DIR=str(instance_dir), CASEMGR_DATABASE_URL=settings.database_url,
               CASEMGR_EVIDENCE_DIR=str(settings.evidence_dir))
    casemgr = Path(sys.executable).with_name("casemgr")
    server = subprocess.Popen([str(casemgr), "serve", "--port", str(port), "--workers", "1", "--threads", "4"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("casemgr serve did not answer within 30 s")
        yield base
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
        assert "Traceback" not in output, output


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
