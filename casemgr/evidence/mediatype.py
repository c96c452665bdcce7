"""What an evidence file is (from its content) and what it was called (sanitized, for metadata).

Media types come from libmagic (Debian's `libmagic1`, the database behind `file(1)`, through
python-magic), applied to the first bytes of plaintext seen during the encrypting pass
(EncryptResult.head). The client's Content-Type is never trusted. libmagic was chosen over the
pure-Python sniffers because evidence is often text (logs, mail, CSV) and capture formats, which
signature-only libraries do not recognise (puremagic raises on plain text, filetype has no text
types and no pcap).

Filenames are kept as metadata only (the store uses random names), so the sanitizer aims at a name
that is safe to show, put in a Content-Disposition header or extract from an export archive on any
OS, while staying readable in any script: Unicode letters are kept (werkzeug's secure_filename would
reduce "Отчёт.pdf" to "pdf"); directory parts, control and invisible format characters (including
bidirectional overrides that can disguise "gpj.exe" as "exe.jpg"), characters Windows forbids and
reserved device names are removed; the result is at most 255 UTF-8 bytes with its extension kept.
"""

from __future__ import annotations

import re
import unicodedata

import magic
from pathvalidate import sanitize_filename as _pathvalidate_sanitize

UNKNOWN_MEDIA_TYPE = "application/octet-stream"
EMPTY_MEDIA_TYPE = "application/x-empty"
FALLBACK_FILENAME = "unnamed"
MAX_FILENAME_BYTES = 255
_MAX_SUFFIX = 16
# Unicode categories dropped from names: controls, format characters (bidi overrides, zero-width
# joiners), surrogates, private use, unassigned.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


def detect_media_type(head: bytes) -> str:
    """The media type of content starting with `head` (e.g. EncryptResult.head), per libmagic."""
    if not head:
        return EMPTY_MEDIA_TYPE
    try:
        detected = magic.from_buffer(head, mime=True)
    except magic.MagicException:
        return UNKNOWN_MEDIA_TYPE
    return detected if isinstance(detected, str) and "/" in detected else UNKNOWN_MEDIA_TYPE


def sanitize_filename(name: str | None, *, fallback: str = FALLBACK_FILENAME) -> str:
    """A readable, safe version of a client-supplied filename (see the module docstring)."""
    if not name:
        return fallback
    text = unicodedata.normalize("NFC", str(name))
    text = re.split(r"[/\\]", text)[-1]  # browsers and tools may send a full client-side path
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    text = re.sub(r" {2,}", " ", text).strip(" .")
    # Cut first (keeping the extension): pathvalidate's own cut to 255 bytes drops the extension.
    # One byte is kept spare for the "_" it appends to reserved names such as CON.
    text = _truncate(text, MAX_FILENAME_BYTES - 1)
    text = _pathvalidate_sanitize(text, replacement_text="_", platform="universal")
    return text.strip(" .") or fallback


def _truncate(name: str, limit: int) -> str:
    """Cut `name` to `limit` UTF-8 bytes, keeping a short extension and whole characters."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > _MAX_SUFFIX:
        stem, suffix = name, ""
    tail = f".{suffix}" if suffix else ""
    budget = limit - len(tail.encode())
    cut = stem.encode()[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return cut + tail
