"""An upload cut off mid-body (client disconnect) against a real server leaves no record and no file."""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse

from .conftest import multipart, stored_files, unfinished_upload


def _post_then_hang_up(base_url: str, token: str, case_id: int, sent: int, declared: int) -> None:
    url = urllib.parse.urlsplit(base_url)
    request = unfinished_upload(url.netloc, token, case_id, os.urandom(sent), "partial.img", declared=declared,
                                description="will be cut")
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # the client goes away mid-upload
        while sock.recv(65536):  # wait until the server has given up on the request
            pass


def _case_evidence(base_url: str, token: str, case_id: int) -> dict:
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", f"/api/v1/cases/{case_id}/evidence", headers={"Authorization": f"Bearer {token}"})
    try:
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def test_interrupted_uploads_leave_nothing(live_server, api, open_case, settings, run_cli):
    analyst = api("analyst")
    case = open_case(analyst)
    for sent in (0, 1000, 5 * 1024 * 1024):
        _post_then_hang_up(live_server, analyst.token, case["id"], sent, declared=64 * 1024 * 1024)
        assert stored_files(settings) == [], f"after cutting off at {sent} bytes"
        assert _case_evidence(live_server, analyst.token, case["id"])["total"] == 0
    gc = run_cli("evidence", "gc", "--min-age", "0")
    assert gc.exit_code == 0
    assert "is clean" in gc.output


def test_a_complete_upload_over_the_same_server_works(live_server, api, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    data = os.urandom(3 * 1024 * 1024)
    body, content_type = multipart(data, "complete.img")
    url = urllib.parse.urlsplit(live_server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", f"/api/v1/cases/{case['id']}/evidence", body=iter([body[:1000], body[1000:]]),
                 headers={"Authorization": f"Bearer {analyst.token}", "Content-Type": content_type,
                          "Content-Length": str(len(body))})
    response = conn.getresponse()
    assert response.status == 201, response.read()
    assert json.loads(response.read())["size"] == len(data)
    conn.close()
    assert len(stored_files(settings)) == 1


def test_other_changes_go_through_while_an_upload_is_in_flight(live_server, api, open_case, settings):
    """A slow upload must not hold the database's write lock (SQLite has one) while it streams."""
    analyst = api("analyst")
    case = open_case(analyst)
    data = os.urandom(2 * 1024 * 1024)
    body, content_type = multipart(data, "slow.img")
    url = urllib.parse.urlsplit(live_server)
    slow = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    other = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        slow.putrequest("POST", f"/api/v1/cases/{case['id']}/evidence")
        for name, value in (("Authorization", f"Bearer {analyst.token}"), ("Content-Type", content_type),
                            ("Content-Length", str(len(body)))):
            slow.putheader(name, value)
        slow.endheaders()
        slow.send(body[: len(body) // 2])  # half the file is in; the server is encrypting and waiting

        other.request("POST", f"/api/v1/cases/{case['id']}/notes", body=json.dumps({"body": "meanwhile"}),
                      headers={"Authorization": f"Bearer {analyst.token}", "Content-Type": "application/json"})
        noted = other.getresponse()
        assert noted.status == 201, noted.read()

        slow.send(body[len(body) // 2:])
        finished = slow.getresponse()
        assert finished.status == 201, finished.read()
        assert json.loads(finished.read())["size"] == len(data)
    finally:
        slow.close()
        other.close()
    assert len(stored_files(settings)) == 1
