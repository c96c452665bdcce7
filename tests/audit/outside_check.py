"""An audit export checked the way docs/audit-log.md tells an outsider to: with hashlib, rfc8785 and cryptography
only, never casemgr's code. Each function returns the problems found (empty: the export is proven)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHECKPOINT_MEMBERS = ("entry_count", "head_hash", "created_at", "key_id")


def check_jsonl(text: str, published_key_pem: str) -> list[str]:
    lines = [json.loads(line) for line in text.split("\n") if line]  # split on \n only (step 1)
    header, *records, checkpoint = lines
    if header.get("type") != "export" or checkpoint.get("type") != "checkpoint":
        return ["the first line must be the export's header and the last its checkpoint"]
    problems = []
    for record in records:
        if json.loads(record["canonical"]) != record["entry"]:
            problems.append(f"entry #{record['entry'].get('seq')}: its fields differ from its canonical form")
    return problems + _chain([(r["canonical"], r["prev_hash"], r["hash"]) for r in records],
                             checkpoint, published_key_pem)


def check_csv(text: str, published_key_pem: str) -> list[str]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if not rows or rows[-1]["kind"] != "checkpoint":
        return ["the last row must be the checkpoint"]
    *records, last = [{k: _unquote(v) for k, v in row.items()} for row in rows]
    problems = []
    for row in records:
        entry = json.loads(row["canonical"])
        shown = {k: row[k] for k in ("seq", "occurred_at", "actor_type", "actor_id", "actor_name", "token_id",
                                     "token_issued_by", "action", "object_type", "object_id", "source_ip",
                                     "request_id", "via")}
        expected = {k: "" if entry.get(k) is None else str(entry[k]) for k in shown}
        if shown != expected or json.loads(row["summary"]) != entry["summary"]:
            problems.append(f"entry #{row['seq']}: its columns differ from its canonical form")
    checkpoint = {"entry_count": int(last["seq"]), "head_hash": last["hash"], "created_at": last["occurred_at"],
                  "key_id": last["key_id"], "signature": last["signature"], "signed": last["canonical"]}
    return problems + _chain([(r["canonical"], r["prev_hash"], r["hash"]) for r in records], checkpoint,
                             published_key_pem)


def _unquote(cell: str) -> str:
    """Undo the spreadsheet-safety quote: a cell starting with ' had one put before it."""
    return cell[1:] if cell.startswith("'") else cell


def _chain(records: list[tuple[str, str, str]], checkpoint: dict[str, Any], published_key_pem: str) -> list[str]:
    problems = []
    previous: tuple[int, str] | None = None
    for canonical, prev_hash, own in records:
        seq = json.loads(canonical)["seq"]
        if hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest() != own:
            problems.append(f"entry #{seq}: its hash does not cover its content")
        if previous is not None and (seq != previous[0] + 1 or prev_hash != previous[1]):
            problems.append(f"entry #{seq} does not follow entry #{previous[0]}")
        previous = (seq, own)
    if previous is not None and (previous[0] != checkpoint["entry_count"] or previous[1] != checkpoint["head_hash"]):
        problems.append("the last entry is not the signed checkpoint's head")
    key = serialization.load_pem_public_key(published_key_pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if hashlib.sha256(raw).hexdigest()[:16] != checkpoint["key_id"]:
        problems.append("the checkpoint was signed with another key")
    message = rfc8785.dumps({k: checkpoint[k] for k in CHECKPOINT_MEMBERS})
    if message.decode() != checkpoint["signed"]:
        problems.append("the checkpoint's signed message differs from its members")
    try:
        key.verify(base64.b64decode(checkpoint["signature"]), message)
    except InvalidSignature:
        problems.append("the checkpoint's signature is invalid")
    return problems
