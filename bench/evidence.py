"""Evidence intake and download throughput through the real HTTP paths, against the crypto floor.

A werkzeug server (the app as deployed, threaded) runs in a subprocess on a fresh SQLite instance.
The client streams a multipart upload from a generator (http.client, Content-Length known up
front) and then reads the content back, discarding it. In the same run the floor is measured:
AES-256-GCM (64 KiB segments, encrypt_into) plus SHA-256 over the same bytes in memory, both
with the cryptography library, on one thread; and MD5 alone over the same bytes, which bounds
intake: MD5 is one sequential chain that no second core can speed up. Memory is the serving
process's peak RSS (VmHWM) growth over its idle peak, for 100 MiB and for 1 GiB, each on a fresh
server.

`python -m bench evidence` (or `python -m bench.evidence [SIZE_MIB ...]`).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIB = 1024 * 1024
BLOCK = os.urandom(MIB)
BOUNDARY = "casemgr-bench-boundary"
SIZES_MIB = (100, 1024)


def _floor(total: int) -> float:
    """MB/s of AES-256-GCM (64 KiB segments) + SHA-256 over `total` bytes, in memory."""
    aead = AESGCM(AESGCM.generate_key(256))
    segment = 64 * 1024
    out = bytearray(segment + 16)
    nonce = bytes(12)
    digest = hashes.Hash(hashes.SHA256())
    started = time.perf_counter()
    for _ in range(total // MIB):
        view = memoryview(BLOCK)
        digest.update(BLOCK)
        for offset in range(0, MIB, segment):
            aead.encrypt_into(nonce, view[offset:offset + segment], b"", out)
    return total / (time.perf_counter() - started) / 1e6


def _md5_alone(total: int) -> float:
    """MB/s of MD5 alone over `total` bytes, in memory: MD5 cannot be split across cores, so no
    single pass that computes it (as intake must) can go faster than this on this CPU."""
    digest = hashlib.md5()  # noqa: S324 - a reference figure, not a security use
    started = time.perf_counter()
    for _ in range(total // MIB):
        digest.update(BLOCK)
    return total / (time.perf_counter() - started) / 1e6


def _prepare(root: Path) -> dict[str, str]:
    """A fresh instance (keys, database, user, token, case); returns the environment and ids."""
    from casemgr import build_database, migrate
    from casemgr.auth import service as auth
    from casemgr.auth.actor import Actor
    from casemgr.auth.models import Role
    from casemgr.auth.schemas import NewToken, NewUser
    from casemgr.cases import service as cases
    from casemgr.cases.schemas import NewCase
    from casemgr.config import Settings, generate_secret_key
    from casemgr.evidence.keyring import KEYRING_FILE, Keyring
    from casemgr.signing import Signer

    instance = root / "instance"
    instance.mkdir(mode=0o700)
    (instance / "secret_key").write_text(generate_secret_key())
    Signer.generate(instance / "signing_key.pem")
    Keyring.create(instance / KEYRING_FILE)
    env = {"CASEMGR_INSTANCE_DIR": str(instance), "CASEMGR_EVIDENCE_DIR": str(root / "evidence"),
           "CASEMGR_DATABASE_URL": f"sqlite:///{instance / 'casemgr.db'}"}
    settings = Settings.from_env(env)
    migrate.upgrade(settings.database_url)
    db = build_database(settings)
    system = Actor.system("bench")
    with db.transaction() as s:
        user = auth.create_user(s, system, NewUser(username="bench", role=Role.ANALYST,
                                                   password="correct horse battery staple 42"))
        token = auth.create_token(s, system, user.username, NewToken(name="bench")).secret
        actor = Actor(user=user, via="cli")
        case = cases.create_case(s, actor, NewCase.model_validate({
            "title": "Benchmark", "category": "malicious-code", "impact": "low", "urgency": "low"}))
        case_id = case.id
    db.dispose()
    return {**env, "BENCH_TOKEN": token, "BENCH_CASE": str(case_id)}


def _serve() -> None:
    """Child process: serve the app on a free port, print the port, run until killed."""
    import logging

    from werkzeug.serving import make_server

    from casemgr import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _body(size: int) -> tuple[int, Iterator[bytes]]:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="image.dd"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(size // MIB):
            yield BLOCK
        yield tail

    return len(head) + size + len(tail), chunks()


def _run_one(size: int, env: dict[str, str]) -> dict[str, float]:
    child = subprocess.Popen([sys.executable, "-m", "bench.evidence", "--serve"], env={**os.environ, **env},
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        headers = {"Authorization": f"Bearer {env['BENCH_TOKEN']}"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("GET", f"/api/v1/cases/{env['BENCH_CASE']}/evidence", headers=headers)  # warm up
        conn.getresponse().read()
        idle = _hwm_kib(child.pid)

        length, chunks = _body(size)
        started = time.perf_counter()
        conn.request("POST", f"/api/v1/cases/{env['BENCH_CASE']}/evidence", body=chunks,
                     headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                              "Content-Length": str(length)})
        response = conn.getresponse()
        item = json.loads(response.read())
        upload_s = time.perf_counter() - started
        if response.status != 201:
            raise RuntimeError(f"upload failed: {response.status} {item}")
        expected = hashlib.sha256()
        for _ in range(size // MIB):
            expected.update(BLOCK)
        if item["sha256"] != expected.hexdigest():
            raise RuntimeError("the server recorded a different SHA-256")

        started = time.perf_counter()
        conn.request("GET", f"/api/v1/evidence/{item['id']}/content?purpose=benchmark", headers=headers)
        response = conn.getresponse()
        received = 0
        buffer = bytearray(MIB)
        view = memoryview(buffer)
        while got := response.readinto(view):
            received += got
        download_s = time.perf_counter() - started
        if response.status != 200 or received != size:
            raise RuntimeError(f"download failed: {response.status}, {received} of {size} bytes")
        conn.close()
        return {"upload": size / upload_s / 1e6, "download": size / download_s / 1e6,
                "rss_growth_mib": (_hwm_kib(child.pid) - idle) / 1024}
    finally:
        child.terminate()
        child.wait(timeout=30)


def main(sizes_mib: tuple[int, ...] = SIZES_MIB) -> None:
    results = {}
    for size_mib in sizes_mib:
        with tempfile.TemporaryDirectory(prefix="casemgr-bench-evidence-") as tmp:
            env = _prepare(Path(tmp))
            results[size_mib] = _run_one(size_mib * MIB, env)
    largest = max(sizes_mib)
    floor = _floor(largest * MIB)
    md5 = _md5_alone(largest * MIB)
    ours = results[largest]
    print(f"floor (AES-256-GCM + SHA-256, in memory, one thread): {floor:8.1f} MB/s over {largest} MiB")
    print(f"MD5 alone (in memory, one thread; caps any pass with MD5):   {md5:8.1f} MB/s"
          f"  = {md5 / floor:.0%} of the floor")
    print(f"intake   (HTTP upload, encrypt + SHA-256/SHA-1/MD5 + fsync): {ours['upload']:8.1f} MB/s"
          f"  = {ours['upload'] / floor:.0%} of the floor")
    print(f"download (HTTP, decrypt + authenticate + SHA-256):           {ours['download']:8.1f} MB/s"
          f"  = {ours['download'] / floor:.0%} of the floor")
    for size_mib, r in results.items():
        print(f"serving process peak RSS growth, {size_mib:>5} MiB file: {r['rss_growth_mib']:6.1f} MiB"
              f"  (upload {r['upload']:.0f} MB/s, download {r['download']:.0f} MB/s)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
    else:
        main(tuple(int(a) for a in sys.argv[1:]) or SIZES_MIB)
