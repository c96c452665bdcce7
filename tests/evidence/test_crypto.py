"""The streaming evidence format: round trips, digests, and detection of every kind of tampering."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casemgr.errors import TooLarge
from casemgr.evidence import crypto
from casemgr.evidence.crypto import HEADER_SIZE, TAG_SIZE, IntegrityError, StreamHeader

DOC = Path(__file__).resolve().parents[2] / "docs" / "evidence-format.md"
SMALL = 64  # segment size for most tests: many segments from little data


def seal(plaintext: bytes, key: bytes, *, segment_size: int = SMALL, chunk: int | None = None,
         header: StreamHeader | None = None) -> tuple[bytes, crypto.EncryptResult]:
    out = io.BytesIO()
    step = chunk or max(1, len(plaintext))
    chunks = [plaintext[i:i + step] for i in range(0, len(plaintext), step)]
    result = crypto.encrypt_stream(chunks, key, out, segment_size=segment_size, header=header)
    return out.getvalue(), result


def open_all(ciphertext: bytes, key: bytes) -> bytes:
    return b"".join(crypto.decrypt_stream(io.BytesIO(ciphertext), key))


def segments(ciphertext: bytes, segment_size: int = SMALL) -> list[bytes]:
    body = ciphertext[HEADER_SIZE:]
    step = segment_size + TAG_SIZE
    return [body[i:i + step] for i in range(0, len(body), step)]


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize(("length", "count"), [
    (0, 1),              # empty: one final, empty segment
    (1, 1),
    (SMALL - 1, 1),
    (SMALL, 1),          # exactly one segment: no extra empty segment
    (3 * SMALL, 3),      # exact multiple
    (3 * SMALL + 5, 4),  # multi-segment with a short final one
])
def test_round_trip_with_matching_hashes(key: bytes, length: int, count: int) -> None:
    plaintext = os.urandom(length)
    ciphertext, result = seal(plaintext, key)

    assert len(ciphertext) == HEADER_SIZE + length + TAG_SIZE * count
    assert len(segments(ciphertext)) == count
    assert result.ciphertext_size == len(ciphertext)
    assert open_all(ciphertext, key) == plaintext
    assert result.digests == crypto.Digests(
        size=length,
        sha256=hashlib.sha256(plaintext).hexdigest(),
        sha1=hashlib.sha1(plaintext).hexdigest(),  # noqa: S324 - interoperability digest under test
        md5=hashlib.md5(plaintext).hexdigest(),  # noqa: S324
    )


@pytest.mark.parametrize("chunk", [1, 7, SMALL - 1, SMALL, SMALL + 1, 5 * SMALL, 10_000])
def test_chunk_sizes_do_not_change_the_ciphertext(key: bytes, chunk: int) -> None:
    plaintext = os.urandom(10 * SMALL + 17)
    header = StreamHeader.new(SMALL)
    reference, _ = seal(plaintext, key, header=header)
    ciphertext, result = seal(plaintext, key, header=header, chunk=chunk)
    assert ciphertext == reference
    assert result.digests.sha256 == hashlib.sha256(plaintext).hexdigest()


def test_default_segment_size_multi_megabyte_with_all_digests_on_read(key: bytes) -> None:
    # Many digest batches, more than a worker queues, so the worker threads run (and the caller
    # waits on them) on both sides.
    plaintext = os.urandom((crypto.QUEUE_DEPTH + 3) * crypto.BATCH_BYTES + 12345)
    out = io.BytesIO()
    with crypto.Encryptor(key, out) as encryptor:
        for i in range(0, len(plaintext), 100_000):
            encryptor.write(memoryview(plaintext)[i:i + 100_000])
        result = encryptor.finish()
    assert result.header.segment_size == crypto.DEFAULT_SEGMENT_SIZE
    assert result.head == plaintext[:crypto.HEAD_BYTES]

    digests = crypto.verify_stream(io.BytesIO(out.getvalue()), key)
    assert digests == result.digests
    assert digests.md5 == hashlib.md5(plaintext).hexdigest()  # noqa: S324
    assert digests.sha1 == hashlib.sha1(plaintext).hexdigest()  # noqa: S324

    decryptor = crypto.Decryptor(io.BytesIO(out.getvalue()), key)
    assert b"".join(decryptor) == plaintext
    assert decryptor.digests.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert decryptor.digests.md5 is None  # only asked for SHA-256


def test_every_file_gets_its_own_nonce_prefix(key: bytes) -> None:
    first, _ = seal(b"same content", key)
    second, _ = seal(b"same content", key)
    assert first[13:20] != second[13:20]
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]


def test_digests_are_not_available_before_the_end(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(3 * SMALL), key)
    decryptor = crypto.Decryptor(io.BytesIO(ciphertext), key)
    with pytest.raises(RuntimeError):
        _ = decryptor.digests


# ---------------------------------------------------------------- tampering

def assert_rejected(ciphertext: bytes, key: bytes) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        open_all(ciphertext, key)
    return caught.value


def test_a_flipped_bit_anywhere_is_detected(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(2 * SMALL + 9), key)
    for position in range(len(ciphertext)):
        for bit in (0x01, 0x80):
            damaged = bytearray(ciphertext)
            damaged[position] ^= bit
            assert_rejected(bytes(damaged), key)


def test_truncation_at_every_length_is_detected(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(3 * SMALL + 5), key)
    for length in range(len(ciphertext)):
        assert_rejected(ciphertext[:length], key)


def test_truncation_at_a_segment_boundary_names_the_missing_final_segment(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(3 * SMALL), key)
    cut = ciphertext[: HEADER_SIZE + 2 * (SMALL + TAG_SIZE)]  # drop the final segment exactly
    error = assert_rejected(cut, key)
    assert error.segment == 1  # the segment now read as final was sealed as not final
    assert "last segment" in str(error)

    error = assert_rejected(ciphertext[:HEADER_SIZE], key)
    assert "final segment" in str(error)


def test_truncation_mid_segment_is_detected(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(3 * SMALL), key)
    error = assert_rejected(ciphertext[: HEADER_SIZE + (SMALL + TAG_SIZE) + 10], key)
    assert error.segment == 1


def test_appended_data_is_detected(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(2 * SMALL + 3), key)
    for extra in (b"\x00", os.urandom(TAG_SIZE), os.urandom(SMALL + TAG_SIZE)):
        assert_rejected(ciphertext + extra, key)


def test_swapped_dropped_and_duplicated_segments_are_detected(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(4 * SMALL), key)
    header, parts = ciphertext[:HEADER_SIZE], segments(ciphertext)
    assert len(parts) == 4
    swapped = [parts[1], parts[0], parts[2], parts[3]]
    dropped = [parts[0], parts[2], parts[3]]
    duplicated = [parts[0], parts[0], parts[1], parts[2], parts[3]]
    for arrangement in (swapped, dropped, duplicated):
        assert_rejected(header + b"".join(arrangement), key)


def test_a_segment_from_another_file_is_detected() -> None:
    # Two files under the same master key (same key id), as in the store.
    from casemgr.evidence.keyring import Keyring, new_master_key

    master = new_master_key()
    ring = Keyring([master], master.key_id)
    key_a, wrapped_a = ring.new_data_key()
    key_b, wrapped_b = ring.new_data_key()
    assert wrapped_a.key_id == wrapped_b.key_id
    plaintext = os.urandom(3 * SMALL)
    file_a, _ = seal(plaintext, key_a)
    file_b, _ = seal(plaintext, key_b)
    parts_a, parts_b = segments(file_a), segments(file_b)
    spliced = file_a[:HEADER_SIZE] + parts_a[0] + parts_b[1] + parts_a[2]
    assert_rejected(spliced, key_a)

    # Even with the same data key, another file's nonce prefix (and header) does not fit.
    file_c, _ = seal(plaintext, key_a)
    spliced = file_a[:HEADER_SIZE] + parts_a[0] + segments(file_c)[1] + parts_a[2]
    assert_rejected(spliced, key_a)
    assert_rejected(file_c[:HEADER_SIZE] + file_a[HEADER_SIZE:], key_a)  # header swapped


@pytest.mark.parametrize(("offset", "value", "message"), [
    (0, b"\x88", "magic"),
    (8, b"\x02", "version"),
    (9, (SMALL * 2).to_bytes(4, "big"), "segment"),
    (9, (0).to_bytes(4, "big"), "segment size"),
    (9, (2**31).to_bytes(4, "big"), "segment size"),
    (13, b"\x00" * 7, "segment"),
])
def test_an_edited_header_is_detected(key: bytes, offset: int, value: bytes, message: str) -> None:
    ciphertext, _ = seal(os.urandom(3 * SMALL), key)
    edited = ciphertext[:offset] + value + ciphertext[offset + len(value):]
    assert edited != ciphertext
    assert message in str(assert_rejected(edited, key))


def test_a_wrong_data_key_is_detected(key: bytes) -> None:
    ciphertext, _ = seal(os.urandom(2 * SMALL), key)
    error = assert_rejected(ciphertext, os.urandom(32))
    assert error.segment == 0


def test_empty_and_foreign_input_is_rejected(key: bytes) -> None:
    assert "shorter than the evidence header" in str(assert_rejected(b"", key))
    assert "magic" in str(assert_rejected(b"%PDF-1.7\n" + b"x" * 100, key))


def test_nothing_unauthenticated_is_ever_returned(key: bytes) -> None:
    # Plaintext comes out in batches of whole segments, each batch authenticated before it is
    # passed on: with a segment in the second batch damaged, exactly the first batch comes out.
    per_batch = crypto.BATCH_BYTES // (SMALL + TAG_SIZE)
    plaintext = os.urandom(3 * per_batch * SMALL)
    ciphertext, _ = seal(plaintext, key)
    damaged = bytearray(ciphertext)
    bad_segment = per_batch + 5
    damaged[HEADER_SIZE + bad_segment * (SMALL + TAG_SIZE) + 3] ^= 0x10
    received: list[bytes] = []
    with pytest.raises(IntegrityError) as caught:
        crypto.decrypt_to(io.BytesIO(bytes(damaged)), key, received.append)
    assert caught.value.segment == bad_segment
    assert b"".join(received) == plaintext[: per_batch * SMALL]  # the first batch only, all genuine


# ---------------------------------------------------------------- limits and arguments

def test_more_than_max_size_is_too_large(key: bytes) -> None:
    out = io.BytesIO()
    crypto.encrypt_stream([b"x" * 100], key, out, max_size=100)  # exactly the limit is fine
    with pytest.raises(TooLarge) as caught:
        crypto.encrypt_stream([b"x" * 60, b"x" * 41], key, io.BytesIO(), max_size=100)
    assert caught.value.field == "file"
    assert caught.value.status == 413


def test_bad_parameters_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="segment size"):
        StreamHeader.new(0)
    with pytest.raises(ValueError, match="segment size"):
        StreamHeader.new(crypto.MAX_SEGMENT_SIZE + 1)
    with pytest.raises(ValueError, match="32 bytes"):
        crypto.Encryptor(b"short", io.BytesIO())
    encryptor = crypto.Encryptor(key, io.BytesIO())
    encryptor.finish()
    with pytest.raises(ValueError, match="after finish"):
        encryptor.write(b"more")


def test_read_chunks_encrypts_a_file(key: bytes, tmp_path: Path) -> None:
    source = tmp_path / "plain.bin"
    plaintext = os.urandom(2 * 1024 * 1024 + 1)
    source.write_bytes(plaintext)
    out = io.BytesIO()
    with source.open("rb") as f:
        result = crypto.encrypt_stream(crypto.read_chunks(f), key, out)
    assert result.digests.sha256 == hashlib.sha256(plaintext).hexdigest()
    written = []
    digests = crypto.decrypt_to(io.BytesIO(out.getvalue()), key, written.append)
    assert b"".join(written) == plaintext
    assert digests.sha256 == result.digests.sha256


# ---------------------------------------------------------------- the documented test vector

def documented_vector() -> dict[str, str]:
    text = DOC.read_text()
    block = re.search(r"## Test vector.*?```text\n(.*?)```", text, re.S)
    assert block, "docs/evidence-format.md has no test vector block"
    return dict(line.split(None, 1) for line in block.group(1).strip().splitlines())


def test_documented_test_vector() -> None:
    v = documented_vector()
    key = bytes.fromhex(v["data_key"])
    plaintext = v["plaintext_ascii"].replace("\\n", "\n").encode("ascii")
    header = StreamHeader(segment_size=int(v["segment_size"]), nonce_prefix=bytes.fromhex(v["nonce_prefix"]))
    expected = bytes.fromhex(v["header"] + v["segment_0"] + v["segment_1"] + v["segment_2"])

    ciphertext, result = seal(plaintext, key, segment_size=header.segment_size, header=header)
    assert ciphertext.hex() == expected.hex()
    assert (result.digests.sha256, result.digests.sha1, result.digests.md5) == (v["sha256"], v["sha1"], v["md5"])
    assert open_all(expected, key) == plaintext

    # The spec alone, with the bare primitive, decrypts it: nonce = prefix | counter | last flag.
    aead = AESGCM(key)
    ad = bytes.fromhex(v["header"])
    recovered = b"".join(
        aead.decrypt(bytes.fromhex(v["nonce_prefix"]) + i.to_bytes(4, "big") + bytes([i == 2]),
                     bytes.fromhex(v[f"segment_{i}"]), ad)
        for i in range(3))
    assert recovered == plaintext


def test_documented_key_wrap_vector() -> None:
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    from casemgr.evidence.keyring import Keyring, MasterKey, WrappedKey, key_id_for

    v = documented_vector()
    master, data_key = bytes.fromhex(v["master_key"]), bytes.fromhex(v["data_key"])
    assert key_id_for(master) == v["master_key_id"]
    assert aes_key_wrap(master, data_key).hex() == v["wrapped_key"]
    ring = Keyring([MasterKey(v["master_key_id"], master)], v["master_key_id"])
    assert ring.wrap(data_key) == WrappedKey(v["master_key_id"], bytes.fromhex(v["wrapped_key"]))
    assert ring.unwrap(WrappedKey(v["master_key_id"], bytes.fromhex(v["wrapped_key"]))) == data_key


# ---------------------------------------------------------------- memory stays flat

class CountingSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.size += len(data)
        return len(data)


def test_memory_stays_flat_whatever_the_file_size(key: bytes, tmp_path: Path) -> None:
    import tracemalloc

    total, chunk = 48 * 1024 * 1024, 1024 * 1024
    stored = tmp_path / "stored"
    tracemalloc.start()
    try:
        with stored.open("wb") as f:
            result = crypto.encrypt_stream((os.urandom(chunk) for _ in range(total // chunk)), key, f)
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = CountingSink()
        with stored.open("rb") as f:
            digests = crypto.decrypt_to(f, key, sink.write)
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digests == crypto.Digests(size=total, sha256=result.digests.sha256)
    assert sink.size == total
    # A few batches of about 1 MiB in flight, never the 48 MiB file.
    assert encrypt_peak < 12 * 1024 * 1024, encrypt_peak
    assert decrypt_peak < 12 * 1024 * 1024, decrypt_peak
