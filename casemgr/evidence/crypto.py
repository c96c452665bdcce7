"""Streaming encryption of evidence content: AES-256-GCM in segments, STREAM construction.

The format is specified byte by byte in docs/evidence-format.md. In short:

    header   = magic(8) | version(1) | segment_size(4, big-endian) | nonce_prefix(7)      (20 bytes)
    segment  = AES-256-GCM(data_key, nonce, plaintext_i, associated_data=header)          (len + 16)
    nonce_i  = nonce_prefix(7) | i (4, big-endian) | 0x01 if last segment else 0x00       (12 bytes)

Every segment but the last holds exactly `segment_size` plaintext bytes; the last holds 0 to
`segment_size` (0 only for an empty file, which still has its one final segment). Because the
counter and the last-segment flag are in the nonce and the header is the associated data of every
segment, a reader detects flipped bits, reordered or dropped segments, truncation at any point
(including at a segment boundary: the new last segment was sealed as "not last"), appended data,
segments spliced in from another file, and any edit of the header.

The data key is per file and random; wrapping it under a master key is the keyring's job
(casemgr.evidence.keyring) and the wrapped key lives with the evidence record, not in this file,
so that key rotation never rewrites content (see the format document for why).

SHA-256, SHA-1 and MD5 of the plaintext are computed in the same pass as the encryption. They are
slower than AES-GCM on CPUs with AES instructions (MD5 by far), so each runs in a worker thread
(hashlib releases the GIL for large updates) on immutable batches of about 1 MiB while the
calling thread encrypts and writes (see MultiHasher); memory stays a few MiB whatever the file
size.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from casemgr.errors import TooLarge

# cryptography is imported by the ciphers below when they are made: every command imports this
# module (the evidence vault that the database carries names its segment size), and one that reads
# no evidence (`casemgr case list`) should not load cryptography's bindings for it.

MAGIC = b"\x89CMEV\r\n\x1a"
VERSION = 1
HEADER = struct.Struct(">8sBI7s")
HEADER_SIZE = HEADER.size  # 20
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
KEY_SIZE = 32
DEFAULT_SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT_SIZE = 1
# A reader allocates a segment-sized buffer before it can authenticate anything: bound it so a
# forged header cannot make it allocate gigabytes.
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
MAX_SEGMENTS = 2**32
HEAD_BYTES = 64 * 1024
# Digests and writes work on batches of about this many bytes: big enough that thread hand-offs
# and system calls cost little, small enough that memory stays flat.
BATCH_BYTES = 1024 * 1024
ALL_DIGESTS = ("sha256", "sha1", "md5")
# Batches a MultiHasher queues per digest worker (see there).
QUEUE_DEPTH = 4


class IntegrityError(Exception):
    """Stored evidence failed authentication: it was altered, truncated or is not ours.

    `segment` is the index of the segment that failed (None for the header). No plaintext of a
    segment that failed is ever returned.
    """

    def __init__(self, message: str, *, segment: int | None = None) -> None:
        super().__init__(message)
        self.segment = segment


class Sink(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


@dataclass(frozen=True)
class StreamHeader:
    segment_size: int
    nonce_prefix: bytes
    version: int = VERSION

    def __post_init__(self) -> None:
        if not MIN_SEGMENT_SIZE <= self.segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes")
        if len(self.nonce_prefix) != NONCE_PREFIX_SIZE:
            raise ValueError(f"nonce prefix must be {NONCE_PREFIX_SIZE} bytes")

    @classmethod
    def new(cls, segment_size: int = DEFAULT_SEGMENT_SIZE) -> StreamHeader:
        return cls(segment_size=segment_size, nonce_prefix=os.urandom(NONCE_PREFIX_SIZE))

    def to_bytes(self) -> bytes:
        return HEADER.pack(MAGIC, self.version, self.segment_size, self.nonce_prefix)

    @classmethod
    def parse(cls, data: bytes) -> StreamHeader:
        """Parse a header. Raises IntegrityError when it is short, foreign or unsupported."""
        if len(data) < HEADER_SIZE:
            raise IntegrityError("the file is shorter than the evidence header (truncated or empty)")
        magic, version, segment_size, prefix = HEADER.unpack(data[:HEADER_SIZE])
        if magic != MAGIC:
            raise IntegrityError("not a casemgr evidence file (wrong magic bytes)")
        if version != VERSION:
            raise IntegrityError(f"unsupported evidence format version {version} (this casemgr reads {VERSION})")
        try:
            return cls(segment_size=segment_size, nonce_prefix=prefix, version=version)
        except ValueError as exc:
            raise IntegrityError(f"invalid evidence header: {exc}") from None

    def nonce(self, index: int, *, last: bool) -> bytes:
        if index >= MAX_SEGMENTS:
            raise OverflowError("too many segments for one evidence file")
        return self.nonce_prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class Digests:
    """Size and hex digests of a plaintext; sha1/md5 are None when they were not asked for."""

    size: int
    sha256: str
    sha1: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class EncryptResult:
    digests: Digests
    ciphertext_size: int
    head: bytes  # the first HEAD_BYTES of plaintext, for media type detection (kept in memory only)
    header: StreamHeader


class MultiHasher:
    """Several hashlib digests over one stream; with `parallel`, each in a worker thread of its own.

    hashlib releases the GIL for large updates, so the digests run beside the calling thread,
    which then only encrypts or decrypts and does the I/O. Each worker has up to QUEUE_DEPTH
    batches of about BATCH_BYTES queued and never waits for another, so a batch boundary is not a
    barrier. Measured on the 2-core development machine (see bench/README.md), this beat keeping
    SHA-256 and SHA-1 on the calling thread with MD5 alone in a worker: intake the same, download
    about 10% faster; and it beat one barrier per batch by a third on intake.

    `update` takes immutable `bytes` (workers keep references, never copies); memory stays about
    (QUEUE_DEPTH + 1) x BATCH_BYTES. A stream of one batch or less is hashed on the calling thread.
    """

    def __init__(self, algorithms: Sequence[str] = ALL_DIGESTS, *, parallel: bool = True,
                 batch_bytes: int = BATCH_BYTES) -> None:
        self._hashes = {name: hashlib.new(name) for name in algorithms}
        self._parallel = parallel
        self._batch_limit = batch_bytes
        self._executors: list[ThreadPoolExecutor] = []
        self._in_flight: list[deque[Future[None]]] = []
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self.size = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        if not self._parallel:
            for h in self._hashes.values():
                h.update(data)
            return
        self._batch.append(data)
        self._batch_bytes += len(data)
        if self._batch_bytes >= self._batch_limit:
            self._submit()

    def _submit(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not batch:
            return
        if not self._executors:
            if self.size <= self._batch_limit:  # a small file: not worth starting threads
                for h in self._hashes.values():
                    _update_all(h, batch)
                return
            self._executors = [ThreadPoolExecutor(1, thread_name_prefix=f"casemgr-{name}") for name in self._hashes]
            self._in_flight = [deque() for _ in self._hashes]
        for h, executor, queued in zip(self._hashes.values(), self._executors, self._in_flight, strict=True):
            while len(queued) >= QUEUE_DEPTH:
                queued.popleft().result()
            queued.append(executor.submit(_update_all, h, batch))

    def finish(self) -> Digests:
        self._submit()
        try:
            for queued in self._in_flight:
                while queued:
                    queued.popleft().result()
        finally:
            self.close()
        hexes = {name: h.hexdigest() for name, h in self._hashes.items()}
        return Digests(size=self.size, sha256=hexes["sha256"], sha1=hexes.get("sha1"), md5=hexes.get("md5"))

    def close(self) -> None:
        """Stop the worker threads (waits for a running batch). Safe to call twice."""
        executors, self._executors = self._executors, []
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)


def _update_all(h: hashlib._Hash, batch: list[bytes]) -> None:
    for data in batch:
        h.update(data)


class Encryptor:
    """Encrypt a plaintext stream fed in chunks of any size into `sink` (usually a file).

    Use as a context manager or call `close()`: `finish()` seals the final segment and returns the
    digests. Raises TooLarge (field "file") as soon as more than `max_size` bytes arrive. On any
    exception the caller discards what was written (see EvidenceStore.begin_write).
    """

    def __init__(self, data_key: bytes, sink: Sink, *, segment_size: int = DEFAULT_SEGMENT_SIZE,
                 header: StreamHeader | None = None, max_size: int | None = None,
                 digests: Sequence[str] = ALL_DIGESTS, parallel_digests: bool = True) -> None:
        if len(data_key) != KEY_SIZE:
            raise ValueError("the data key must be 32 bytes")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.header = header or StreamHeader.new(segment_size)
        self._aead = AESGCM(data_key)
        self._ad = self.header.to_bytes()
        self._sink = sink
        self._max_size = max_size
        self._hasher = MultiHasher(digests, parallel=parallel_digests)
        size = self.header.segment_size
        self._segment = bytearray(size)
        self._fill = 0
        self._index = 0
        per_batch = max(1, BATCH_BYTES // size)
        self._out = bytearray(per_batch * (size + TAG_SIZE))
        self._out_view = memoryview(self._out)
        self._out_fill = 0
        self._head = bytearray()
        self._written = 0
        self._finished = False
        self._write_out(self._ad)

    def __enter__(self) -> Encryptor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._finished:
            raise ValueError("write after finish")
        if not isinstance(data, bytes):
            data = bytes(data)  # the digest threads need an immutable copy
        if not data:
            return
        if self._max_size is not None and self._hasher.size + len(data) > self._max_size:
            raise TooLarge(f"the file is larger than the maximum of {self._max_size} bytes", field="file")
        self._hasher.update(data)
        if len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]
        view = memoryview(data)
        size = self.header.segment_size
        while view:
            if self._fill == size:  # a full segment is pending and more data follows: not the last
                self._seal(memoryview(self._segment), last=False)
                self._fill = 0
            if self._fill == 0:
                # Whole segments straight from the input, no copy; `>` keeps at least one byte
                # back so a segment sealed here is known not to be the last.
                while len(view) > size:
                    self._seal(view[:size], last=False)
                    view = view[size:]
            take = min(size - self._fill, len(view))
            self._segment[self._fill:self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]

    def write_all(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _seal(self, plaintext: memoryview, *, last: bool) -> None:
        n = len(plaintext) + TAG_SIZE
        if self._out_fill + n > len(self._out):
            self._flush()
        nonce = self.header.nonce(self._index, last=last)
        self._aead.encrypt_into(nonce, plaintext, self._ad, self._out_view[self._out_fill:self._out_fill + n])
        self._out_fill += n
        self._index += 1

    def _flush(self) -> None:
        if self._out_fill:
            self._write_out(self._out_view[: self._out_fill])
            self._out_fill = 0

    def _write_out(self, data: bytes | memoryview) -> None:
        written = self._sink.write(data)
        if written is not None and written != len(data):
            raise OSError(f"short write to the evidence store ({written} of {len(data)} bytes)")
        self._written += len(data)

    def finish(self) -> EncryptResult:
        """Seal the last segment, flush, and return the digests. The sink is not closed or synced."""
        if self._finished:
            raise ValueError("finish called twice")
        self._seal(memoryview(self._segment)[: self._fill], last=True)
        self._flush()
        self._finished = True
        digests = self._hasher.finish()
        return EncryptResult(digests=digests, ciphertext_size=self._written, head=bytes(self._head),
                             header=self.header)

    def close(self) -> None:
        """Release the digest threads; an unfinished encryption is abandoned."""
        self._finished = True
        self._hasher.close()


def encrypt_stream(chunks: Iterable[bytes | bytearray | memoryview], data_key: bytes, sink: Sink, *,
                   segment_size: int = DEFAULT_SEGMENT_SIZE, max_size: int | None = None,
                   header: StreamHeader | None = None) -> EncryptResult:
    """Encrypt `chunks` into `sink` in one pass. Raises TooLarge past `max_size` bytes."""
    with Encryptor(data_key, sink, segment_size=segment_size, max_size=max_size, header=header) as enc:
        enc.write_all(chunks)
        return enc.finish()


def read_chunks(source: BinaryIO, size: int = BATCH_BYTES) -> Iterator[bytes]:
    """Yield `source` in chunks of `size` bytes (for encrypting a file)."""
    return iter(lambda: source.read(size), b"")


class Decryptor:
    """Iterate the authenticated plaintext of an evidence file in order, in chunks of whole
    segments (about BATCH_BYTES each).

    Every segment of a chunk has been authenticated before the chunk is yielded. Any failure (an
    altered byte, a missing, extra or reordered segment, a foreign header) raises IntegrityError
    naming the segment; since chunks are yielded as they are verified, a consumer that already
    passed some on (an HTTP download) must treat the whole stream as failed. After a complete
    iteration `digests` holds the plaintext's digests (`algorithms`, SHA-256 at least).
    """

    def __init__(self, source: BinaryIO, data_key: bytes, *, algorithms: Sequence[str] = ("sha256",),
                 parallel_digests: bool = True) -> None:
        if len(data_key) != KEY_SIZE:
            raise ValueError("the data key must be 32 bytes")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._source = source
        self._aead = AESGCM(data_key)
        self.header = StreamHeader.parse(_read_exactly(source, HEADER_SIZE))
        self._ad = self.header.to_bytes()
        self._algorithms = tuple(dict.fromkeys(("sha256", *algorithms)))
        self._parallel = parallel_digests
        self._digests: Digests | None = None
        self._started = False

    @property
    def digests(self) -> Digests:
        if self._digests is None:
            raise RuntimeError("the stream has not been read to its end")
        return self._digests

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            raise RuntimeError("a Decryptor can be iterated once")
        self._started = True
        # One batch of the hasher per chunk this yields: about BATCH_BYTES, whole segments.
        hasher = MultiHasher(self._algorithms, parallel=self._parallel,
                             batch_bytes=self._segments_per_chunk() * self.header.segment_size)
        try:
            yield from self._segments(hasher)
            self._digests = hasher.finish()
        finally:
            hasher.close()

    def _segments_per_chunk(self) -> int:
        return max(1, BATCH_BYTES // (self.header.segment_size + TAG_SIZE))

    def _segments(self, hasher: MultiHasher) -> Iterator[bytes]:
        """Yield the plaintext in batches of about BATCH_BYTES (whole segments, each authenticated
        before its batch is yielded; a batch with a failing segment is never yielded)."""
        from cryptography.exceptions import InvalidTag

        size = self.header.segment_size
        seg = size + TAG_SIZE
        per_batch = self._segments_per_chunk()
        current, following = bytearray(per_batch * seg), bytearray(per_batch * seg)
        plain = bytearray(per_batch * size)
        plain_view = memoryview(plain)
        filled = _read_into(self._source, current)
        index = 0
        while True:
            # Read one batch ahead: the segment before end of file is the last one.
            ahead = _read_into(self._source, following) if filled == len(current) else 0
            view = memoryview(current)[:filled]
            if filled == 0:
                raise IntegrityError(
                    "the evidence file ends before its final segment (truncated at a segment boundary)",
                    segment=index)
            out = 0
            while view:
                chunk = view[:seg]
                view = view[seg:]
                last = not view and ahead == 0
                if len(chunk) < TAG_SIZE or (len(chunk) < seg and not last):
                    raise IntegrityError("the evidence file is truncated inside a segment", segment=index)
                n = len(chunk) - TAG_SIZE
                try:
                    self._aead.decrypt_into(self.header.nonce(index, last=last), chunk, self._ad,
                                            plain_view[out:out + n])
                except InvalidTag:
                    raise IntegrityError(_tag_failure(index, last), segment=index) from None
                except OverflowError:
                    raise IntegrityError("the evidence file has too many segments", segment=index) from None
                index += 1
                out += n
            if out:
                plaintext = bytes(plain_view[:out])  # immutable: digest workers keep a reference
                hasher.update(plaintext)
                yield plaintext
            if ahead == 0:
                return
            current, following, filled = following, current, ahead


def _tag_failure(index: int, last: bool) -> str:
    where = "the last segment" if last else f"segment {index}"
    return (f"{where} failed authentication: the evidence file was altered, truncated, reordered, "
            "or was not sealed with this key")


def decrypt_stream(source: BinaryIO, data_key: bytes) -> Iterator[bytes]:
    """Yield the authenticated plaintext segments of `source`. Raises IntegrityError on any failure."""
    return iter(Decryptor(source, data_key))


def verify_stream(source: BinaryIO, data_key: bytes, *,
                  algorithms: Sequence[str] = ALL_DIGESTS) -> Digests:
    """Decrypt and hash `source` without keeping the content. Raises IntegrityError on any failure."""
    decryptor = Decryptor(source, data_key, algorithms=algorithms)
    for _ in decryptor:
        pass
    return decryptor.digests


def decrypt_to(source: BinaryIO, data_key: bytes, sink: Callable[[bytes], object]) -> Digests:
    """Decrypt `source` passing each authenticated segment to `sink`; returns the digests."""
    decryptor = Decryptor(source, data_key)
    for plaintext in decryptor:
        sink(plaintext)
    return decryptor.digests


def _read_exactly(source: BinaryIO, n: int) -> bytes:
    data = bytearray(n)
    got = _read_into(source, data)
    return bytes(data[:got])


def _read_into(source: BinaryIO, buffer: bytearray) -> int:
    """Fill `buffer` from `source`; return the bytes read (less than its size only at end of file)."""
    view = memoryview(buffer)
    total = 0
    while total < len(buffer):
        got = source.readinto(view[total:])  # type: ignore[attr-defined]
        if not got:
            break
        total += got
    return total
