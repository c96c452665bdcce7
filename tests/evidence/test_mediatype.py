"""Media types from content (never from the client) and readable, safe filenames."""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import zipfile

import pytest

from casemgr.evidence import crypto
from casemgr.evidence.mediatype import detect_media_type, sanitize_filename


def _png() -> bytes:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + chunk(b"IEND", b""))


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", "collected from host WS-042")
    return out.getvalue()


def _pcap() -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    frame = os.urandom(60)
    return header + struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame


CONTENT = {
    "application/pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    "image/png": _png(),
    "application/zip": _zip(),
    "application/gzip": gzip.compress(b"memory dump excerpt" * 100),
    "application/vnd.tcpdump.pcap": _pcap(),
    "message/rfc822": (b"Received: from mx.example.org\r\nFrom: ceo@examp1e.org\r\nTo: finance@example.org\r\n"
                       b"Subject: urgent wire\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nPay now.\r\n"),
    "text/plain": b"2024-01-01T12:00:00Z sshd[311]: Failed password for root from 203.0.113.9\n" * 50,
    # Fixed bytes, not os.urandom: about one random buffer in eighty happens to carry a signature
    # libmagic knows (MZ, a zlib header, an MPEG sync word) and is rightly detected as such.
    "application/octet-stream": random.Random("no known format").randbytes(4096),
}


@pytest.mark.parametrize("expected", sorted(CONTENT))
def test_media_type_is_detected_from_the_first_bytes_of_the_encrypting_pass(expected: str) -> None:
    content = CONTENT[expected]
    result = crypto.encrypt_stream([content[i:i + 100] for i in range(0, len(content), 100)],
                                   os.urandom(32), io.BytesIO())
    assert result.head == content[:crypto.HEAD_BYTES]
    assert detect_media_type(result.head) == expected


def test_the_head_is_bounded_and_detection_still_works_on_large_files() -> None:
    content = CONTENT["application/pdf"] + os.urandom(3 * crypto.HEAD_BYTES)
    result = crypto.encrypt_stream([content], os.urandom(32), io.BytesIO())
    assert len(result.head) == crypto.HEAD_BYTES
    assert detect_media_type(result.head) == "application/pdf"


def test_empty_content() -> None:
    assert detect_media_type(b"") == "application/x-empty"


@pytest.mark.parametrize(("given", "kept"), [
    ("report.pdf", "report.pdf"),
    ("Отчёт о инциденте 2024.pdf", "Отчёт о инциденте 2024.pdf"),      # Cyrillic stays readable
    ("日本語のメール.eml", "日本語のメール.eml"),
    ("cafe\u0301.txt", "café.txt"),                                       # NFC-normalized
    ("../../etc/passwd", "passwd"),                                       # directory parts dropped
    ("C:\\Users\\alice\\Desktop\\dump.raw", "dump.raw"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),                           # bidi override removed
    ("zero\u200bwidth.txt", "zerowidth.txt"),
    ("tab\tand\nnewline.log", "tab and newline.log"),
    ('a:b*c?"d<e>f|g.txt', "a_b_c__d_e_f_g.txt"),                         # Windows-forbidden characters
    ("CON", "CON_"),                                                      # reserved device name
    ("  .hidden  ", "hidden"),
    ("trailing dots...", "trailing dots"),
    ("multiple   spaces.txt", "multiple spaces.txt"),
])
def test_filenames_are_sanitized_but_readable(given: str, kept: str) -> None:
    assert sanitize_filename(given) == kept


@pytest.mark.parametrize("given", [None, "", ".", "..", "../..", "/", "\u202e", "   "])
def test_names_with_nothing_left_get_a_fallback(given: str | None) -> None:
    assert sanitize_filename(given) == "unnamed"
    assert sanitize_filename(given, fallback="evidence.bin") == "evidence.bin"


def test_long_names_are_cut_to_255_bytes_keeping_the_extension() -> None:
    name = sanitize_filename("ж" * 300 + ".pcapng")
    assert len(name.encode()) <= 255
    assert name.endswith(".pcapng")
    assert name.startswith("жжж")
    assert 250 <= len(sanitize_filename("x" * 300)) <= 255
