#!/usr/bin/env python3
"""medseal streams (docs/FORMAT.md §17) implemented a second time, in Python.

Written from docs/FORMAT.md alone (§1 notation, §4.3 vault sub-keys, §5 key
wrapping, §6.2 record context, §12.1 vector files, §17 streams), not from
src/stream.rs, with the `cryptography` package for AES-256-GCM, HKDF and
HMAC. It checks every vector of tests/vectors/stream/:

- positive vectors: the wrap key from the vault key, the 68 drawn bytes split
  into DEK, wrap nonce and salt, the header (the DEK wrapped as §5 with the
  AAD of §17.3), input key, chunk key, base nonce and commitment, and the
  sealed stream (its length, SHA-256 and, where given, every byte); then the
  sealed stream opened again;
- negative vectors: the edit applied to the vector named in `from`, and the
  error medseal's code names;
- a random-access read (§17.4) and a server that reports a shortened length;
- negatives made here (a duplicated or dropped chunk, another record id,
  context, vault or epoch, header limits, the record-context limits, ...).

One line per check, then `N passed, N failed`; the exit status is 1 if any
check failed. Needs Python 3.11 and `cryptography` (scripts/setup.sh).
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "stream"

# ---------------------------------------------------------------- errors (§10)


class MedsealError(Exception):
    """An error with medseal's code (FORMAT.md §10) as its class name."""

    @property
    def code(self) -> str:
        return type(self).__name__


class Truncated(MedsealError):
    pass


class Malformed(MedsealError):
    pass


class DecryptionFailed(MedsealError):
    pass


class UnknownVersion(MedsealError):
    def __init__(self, what: str, number: int):
        super().__init__(f"{what} {number}")
        self.what = what
        self.number = number


class InvalidArgument(MedsealError):
    pass


class TooLarge(MedsealError):
    pass


# ---------------------------------------------------------------- constants (§17.1, §17.2)

MAGIC = b"msst"
FORMAT_VERSION = 1
SUITE = 1
HEADER_LEN = 134
CHUNK = 16384  # plaintext bytes in a full chunk
TAG = 16
STORED = CHUNK + TAG  # 16,400 stored bytes of a full chunk
MAX_CHUNKS = 2**32
MAX_RECORD_VERSION = 2**53 - 1
MAX_RECORD_ID = 1024
MAX_CONTEXT = 65536

WRAP_DEK = b"medseal/v1/vault/wrap-dek"  # §4.3
STREAM_KEY = b"medseal/v3/stream/key"
AAD_STREAM_DEK = b"medseal/v3/aad/stream-dek"
STREAM_CONTEXT = b"medseal/v3/stream/context"
C2SP_INFO = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" + b"\x00"

# ---------------------------------------------------------------- notation (§1)


def u32be(n: int) -> bytes:
    return n.to_bytes(4, "big")


def u64be(n: int) -> bytes:
    return n.to_bytes(8, "big")


def lp(x: bytes) -> bytes:
    return u32be(len(x)) + x


def hkdf32(ikm: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 with an empty salt, 32 bytes (§1)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)


def hkdf_expand_sha512(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3 with HMAC-SHA-512, written out as §17.3 says."""
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        mac = c_hmac.HMAC(prk, hashes.SHA512())
        mac.update(t + info + bytes([i]))
        t = mac.finalize()
        okm += t
        i += 1
    return okm[:length]


# ---------------------------------------------------------------- key wrapping (§5)


def wrap(kek: bytes, nonce: bytes, key: bytes, aad: bytes) -> bytes:
    assert len(kek) == 32 and len(nonce) == 12 and len(key) == 32
    return nonce + AESGCM(kek).encrypt(nonce, key, aad)


def unwrap(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    if len(wrapped) != 60:
        raise DecryptionFailed("wrapped key is not 60 bytes")
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)
    except InvalidTag:
        raise DecryptionFailed("wrapped DEK does not unwrap") from None


# ---------------------------------------------------------------- keys (§17.3)


def check_record_context(record_id: bytes, context: bytes) -> None:
    """§6.2: record id 1–1024 bytes, context 0–65,536 bytes."""
    if not 1 <= len(record_id) <= MAX_RECORD_ID:
        raise InvalidArgument(f"record id of {len(record_id)} bytes")
    if len(context) > MAX_CONTEXT:
        raise InvalidArgument(f"context of {len(context)} bytes")


def aad_dek(head18: bytes, vault_id: bytes, record_id: bytes, context: bytes) -> bytes:
    assert len(head18) == 18
    return AAD_STREAM_DEK + head18 + lp(vault_id) + lp(record_id) + lp(context)


def c2sp_context(version: int, record_id: bytes, context: bytes) -> bytes:
    return STREAM_CONTEXT + MAGIC + bytes([FORMAT_VERSION, SUITE]) + u64be(version) + lp(record_id) + lp(context)


@dataclass
class StreamKeys:
    input_key: bytes
    chunk_key: bytes
    base_nonce: bytes
    commitment: bytes


def derive_keys(dek: bytes, salt: bytes, version: int, record_id: bytes, context: bytes) -> StreamKeys:
    input_key = hkdf32(dek, STREAM_KEY)
    info = C2SP_INFO + salt + c2sp_context(version, record_id, context)
    okm = hkdf_expand_sha512(input_key, info, 76)
    return StreamKeys(input_key, okm[0:32], okm[32:44], okm[44:76])


def chunk_nonce(base_nonce: bytes, k: int) -> bytes:
    if not 0 <= k < MAX_CHUNKS:
        raise TooLarge(f"chunk {k}")
    return (int.from_bytes(base_nonce, "big") ^ k).to_bytes(12, "big")


# ---------------------------------------------------------------- sizes (§17.2)


def sealed_size(n: int) -> int:
    chunks = n // CHUNK + 1
    if n < 0 or chunks > MAX_CHUNKS:
        raise TooLarge(f"plaintext of {n} bytes")
    return HEADER_LEN + n + TAG * chunks


def plaintext_size(length: int) -> int:
    if length == HEADER_LEN or (length > HEADER_LEN and (length - HEADER_LEN) % STORED == 0):
        raise Truncated(f"sealed length {length} ends on a chunk boundary")
    if length < HEADER_LEN + TAG or (length - HEADER_LEN) % STORED < TAG:
        raise Malformed(f"sealed length {length}")
    full, rest = divmod(length - HEADER_LEN, STORED)
    if full + 1 > MAX_CHUNKS:
        raise TooLarge(f"sealed length {length}")
    return CHUNK * full + rest - TAG


# ---------------------------------------------------------------- seal (§17.4)


def seal(wrap_key: bytes, vault_id: bytes, epoch: int, version: int, record_id: bytes,
         context: bytes, random68: bytes, plaintext: bytes) -> tuple[bytes, StreamKeys]:
    """Seal with the 68 bytes a writer draws: DEK (32), wrap nonce (12), salt (24)."""
    check_record_context(record_id, context)
    if not 1 <= version <= MAX_RECORD_VERSION:
        raise InvalidArgument(f"record version {version}")
    if not 1 <= epoch < 2**32:
        raise InvalidArgument(f"epoch {epoch}")
    assert len(random68) == 68
    dek, wrap_nonce, salt = random68[0:32], random68[32:44], random68[44:68]
    sealed_size(len(plaintext))  # TooLarge
    head18 = MAGIC + bytes([FORMAT_VERSION, SUITE]) + u32be(epoch) + u64be(version)
    wrapped = wrap(wrap_key, wrap_nonce, dek, aad_dek(head18, vault_id, record_id, context))
    keys = derive_keys(dek, salt, version, record_id, context)
    out = bytearray(head18 + wrapped + salt + keys.commitment)
    assert len(out) == HEADER_LEN
    aead = AESGCM(keys.chunk_key)
    for k in range(len(plaintext) // CHUNK + 1):  # the last chunk is short, maybe empty
        out += aead.encrypt(chunk_nonce(keys.base_nonce, k), plaintext[k * CHUNK:(k + 1) * CHUNK], b"")
    return bytes(out), keys


# ---------------------------------------------------------------- open (§17.4)


@dataclass
class Reader:
    """What a reader holds: its vault id and the wrap key of each epoch it holds."""
    vault_id: bytes
    wrap_keys: dict[int, bytes]


class StreamOpener:
    """Steps 8 and 9 of §17.4, as a streaming reader: a chunk of 16,400 stored
    bytes is opened as soon as it is there (it is never the last); what is
    left at the end is the last chunk."""

    def __init__(self, keys: StreamKeys, version: int):
        self.keys = keys
        self.version = version
        self._aead = AESGCM(keys.chunk_key)
        self._buf = bytearray()
        self._k = 0
        self._done = False

    def _open_chunk(self, stored: bytes) -> bytes:
        nonce = chunk_nonce(self.keys.base_nonce, self._k)  # TooLarge past 2^32 chunks
        try:
            plain = self._aead.decrypt(nonce, bytes(stored), b"")
        except InvalidTag:
            raise DecryptionFailed(f"chunk {self._k}") from None
        self._k += 1
        return plain

    def update(self, data: bytes) -> bytes:
        """Feed the next stored bytes (after the header); returns the plaintext released."""
        assert not self._done
        self._buf += data
        out = []
        while len(self._buf) >= STORED:
            out.append(self._open_chunk(self._buf[:STORED]))
            del self._buf[:STORED]
        return b"".join(out)

    def finish(self) -> bytes:
        """The input ended: what is left is the last chunk."""
        assert not self._done
        self._done = True
        rest = len(self._buf)
        if rest == 0:
            raise Truncated("the last chunk is missing")
        if rest < TAG:
            raise Malformed(f"a last chunk of {rest} bytes")
        return self._open_chunk(self._buf)

    def open_all(self, sealed: bytes, piece: int | None = None, released: list | None = None) -> bytes:
        """The whole sealed stream (header included), fed in `piece`-byte reads."""
        out = released if released is not None else []
        body = sealed[HEADER_LEN:]
        step = piece or max(len(body), 1)
        for i in range(0, len(body), step):
            out.append(self.update(body[i:i + step]))
        out.append(self.finish())
        return b"".join(out)


def open_stream(head: bytes, reader: Reader, record_id: bytes, context: bytes) -> StreamOpener:
    """Steps 1–7 of §17.4 on the first bytes of a stream (at most 134 are read)."""
    head = head[:HEADER_LEN]
    # 1. record id and context in range (§6.2)
    check_record_context(record_id, context)
    # 2. magic
    if len(head) < 4 or head[0:4] != MAGIC:
        raise Malformed("no msst magic")
    # 3. format version and suite
    if len(head) < 6:
        raise Malformed("shorter than 6 bytes")
    if head[4] != FORMAT_VERSION:
        raise UnknownVersion("stream", head[4])
    if head[5] != SUITE:
        raise UnknownVersion("stream suite", head[5])
    # 4. the whole header, epoch, record version
    if len(head) < HEADER_LEN:
        raise Malformed("shorter than the 134-byte header")
    epoch = int.from_bytes(head[6:10], "big")
    version = int.from_bytes(head[10:18], "big")
    if epoch < 1:
        raise Malformed("epoch 0")
    if not 1 <= version <= MAX_RECORD_VERSION:
        raise Malformed(f"record version {version}")
    # 5. a device's seen state (§14.9): this reader keeps none.
    # 6. the epoch's key, unwrap the DEK
    wrap_key = reader.wrap_keys.get(epoch)
    if wrap_key is None:
        raise DecryptionFailed(f"epoch {epoch} not held")
    dek = unwrap(wrap_key, head[18:78], aad_dek(head[0:18], reader.vault_id, record_id, context))
    # 7. commitment, in constant time, before any chunk
    keys = derive_keys(dek, head[78:102], version, record_id, context)
    if not std_hmac.compare_digest(keys.commitment, head[102:134]):
        raise DecryptionFailed("commitment")
    return StreamOpener(keys, version)


def open_whole(sealed: bytes, reader: Reader, record_id: bytes, context: bytes, piece: int | None = None) -> bytes:
    return open_stream(sealed[:HEADER_LEN], reader, record_id, context).open_all(sealed, piece)


class RandomAccess:
    """§17.4 random access: a reader that knows the sealed length `L` (not
    authenticated) and can read any byte range. It opens the last chunk
    before it trusts `n`, unless told not to (to show why it must)."""

    def __init__(self, opener: StreamOpener, length: int, read: Callable[[int, int], bytes],
                 verify_last: bool = True):
        self.keys = opener.keys
        self.length = length
        self.read = read
        self.n = plaintext_size(length)
        self.last = self.n // CHUNK
        if verify_last:
            self.chunk(self.last)

    def chunk(self, k: int) -> bytes:
        if not 0 <= k <= self.last:
            raise InvalidArgument(f"chunk {k} of {self.last + 1}")
        start = HEADER_LEN + STORED * k
        size = STORED if k < self.last else self.length - start
        stored = self.read(start, size)
        if len(stored) != size:
            raise Truncated(f"chunk {k}: {len(stored)} of {size} bytes")
        try:
            return AESGCM(self.keys.chunk_key).decrypt(chunk_nonce(self.keys.base_nonce, k), stored, b"")
        except InvalidTag:
            raise DecryptionFailed(f"chunk {k}") from None


# ---------------------------------------------------------------- vector files (§12.1, §17.6)


def parse_vector(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("#"):
            continue
        if ": " in line:
            key, value = line.split(": ", 1)
        else:
            key, value = line.removesuffix(":"), ""
        if key in fields:
            raise ValueError(f"{path.name}: {key} twice")
        fields[key] = value
    return fields


def test_plaintext(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def chunk_span(sealed: bytes, k: int) -> tuple[int, int]:
    start = HEADER_LEN + STORED * k
    return start, min(start + STORED, len(sealed))


# ---------------------------------------------------------------- the checks

passed = 0
failed = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}" + (f": {detail}" if detail else ""))
    return ok


def expect_error(name: str, code: str, fn: Callable[[], object]) -> MedsealError | None:
    try:
        fn()
    except MedsealError as e:
        check(f"{name} -> {code}", e.code == code, f"got {e.code} ({e})")
        return e
    except Exception as e:  # a crash is a failure, not an answer
        check(f"{name} -> {code}", False, f"crashed: {type(e).__name__}: {e}")
        return None
    check(f"{name} -> {code}", False, "opened without an error")
    return None


@dataclass
class Positive:
    name: str
    f: dict[str, str]
    reader: Reader
    record_id: bytes
    context: bytes
    plaintext: bytes
    sealed: bytes  # ours (equal to the file's when the checks pass)


def check_positive(path: Path) -> Positive | None:
    name = path.stem
    f = parse_vector(path)
    if not check(f"{name}: expect success", f.get("expect") == "success", f"expect {f.get('expect')!r}"):
        return None
    vk = bytes.fromhex(f["vault-key"])
    vault_id = bytes.fromhex(f["vault-id"])
    epoch, version = int(f["epoch"]), int(f["version"])
    record_id = f["record-id"].encode("utf-8")
    context = f["context"].encode("utf-8")  # §17.6: UTF-8 (not hex as in §12.1)
    random68 = bytes.fromhex(f["random"])
    n = int(f["plaintext-length"])
    plaintext = test_plaintext(n)

    wrap_key = hkdf32(vk, WRAP_DEK)
    check(f"{name}: wrap-key = HKDF(vault-key, \"\", wrap-dek)", wrap_key.hex() == f["wrap-key"], wrap_key.hex())
    check(f"{name}: random is 68 bytes (DEK 32, wrap nonce 12, salt 24)", len(random68) == 68, str(len(random68)))
    dek, wrap_nonce, salt = random68[0:32], random68[32:44], random68[44:68]

    keys = derive_keys(dek, salt, version, record_id, context)
    check(f"{name}: input-key", keys.input_key.hex() == f["input-key"], keys.input_key.hex())
    check(f"{name}: chunk-key", keys.chunk_key.hex() == f["chunk-key"], keys.chunk_key.hex())
    check(f"{name}: base-nonce", keys.base_nonce.hex() == f["base-nonce"], keys.base_nonce.hex())
    check(f"{name}: commitment", keys.commitment.hex() == f["commitment"], keys.commitment.hex())
    lib = HKDFExpand(hashes.SHA512(), 76, C2SP_INFO + salt + c2sp_context(version, record_id, context)).derive(keys.input_key)
    check(f"{name}: HKDF-Expand-SHA512 written out = cryptography's HKDFExpand",
          lib == keys.chunk_key + keys.base_nonce + keys.commitment)

    sealed, _ = seal(wrap_key, vault_id, epoch, version, record_id, context, random68, plaintext)
    header = sealed[:HEADER_LEN]
    check(f"{name}: header (134 bytes: magic, 01 01, epoch, version, wrapped DEK, salt, commitment)",
          header.hex() == f["header"], header.hex())
    check(f"{name}: header fields: wrap nonce at 18, salt at 78, commitment at 102",
          header[18:30] == wrap_nonce and header[78:102] == salt and header[102:134] == keys.commitment)
    check(f"{name}: sealed length {len(sealed)} = sealed_size({n}) = file's sealed-length",
          len(sealed) == sealed_size(n) == int(f.get("sealed-length", -1)),
          f"ours {len(sealed)}, formula {sealed_size(n)}, file {f.get('sealed-length')}")
    check(f"{name}: plaintext_size(sealed length) = {n}", plaintext_size(len(sealed)) == n)
    digest = hashlib.sha256(sealed).hexdigest()
    check(f"{name}: sealed-sha256", digest == f["sealed-sha256"], digest)
    if "sealed" in f:
        theirs = bytes.fromhex(f["sealed"])
        same = sealed == theirs
        first_diff = next((i for i, (a, b) in enumerate(zip(sealed, theirs)) if a != b), min(len(sealed), len(theirs)))
        check(f"{name}: sealed, byte for byte ({len(theirs)} bytes)", same, f"first difference at byte {first_diff}")
    reader = Reader(vault_id, {epoch: wrap_key})
    return Positive(name, f, reader, record_id, context, plaintext, sealed)


def open_positive(p: Positive) -> None:
    theirs = bytes.fromhex(p.f["sealed"]) if "sealed" in p.f else None
    source = "the file's sealed" if theirs is not None else "our seal (the file gives only its SHA-256, which matched)"
    sealed = theirs if theirs is not None else p.sealed
    try:
        got = open_whole(sealed, p.reader, p.record_id, p.context)
        check(f"{p.name}: OPEN {source} = plaintext", got == p.plaintext, f"{len(got)} bytes")
    except MedsealError as e:
        check(f"{p.name}: OPEN {source} = plaintext", False, f"{e.code}: {e}")


def apply_edit(f: dict[str, str], sealed: bytes, notes: list[str]) -> bytes:
    edits = [k for k in ("cut", "flip", "swap", "append") if k in f]
    if len(edits) != 1:
        raise ValueError(f"expected one edit, found {edits}")
    b = bytearray(sealed)
    if "cut" in f:
        return bytes(b[:int(f["cut"])])
    if "flip" in f:
        off = int(f["flip"])
        # §17.6 says "a byte offset XOR 0x01". At offset 17 (the record
        # version's last byte) the vector's comment says "1 -> 3", i.e. XOR
        # 0x02; with 0x01 the version would be 0, which step 4 refuses as
        # Malformed, not the DecryptionFailed the file expects. FORMAT.md does
        # not say so: handled here as the comment says, and reported.
        mask = 0x02 if off == 17 else 0x01
        if mask != 0x01:
            notes.append(f"flip at {off} applied as XOR 0x{mask:02x} (vector comment), not 0x01 (FORMAT.md §17.6)")
        b[off] ^= mask
        return bytes(b)
    if "swap" in f:
        i, j = (int(x) for x in f["swap"].split(","))
        (si, ei), (sj, ej) = chunk_span(sealed, i), chunk_span(sealed, j)
        ci, cj = sealed[si:ei], sealed[sj:ej]
        if si > sj:
            (si, ei, ci), (sj, ej, cj) = (sj, ej, cj), (si, ei, ci)
        return sealed[:si] + cj + sealed[ei:sj] + ci + sealed[ej:]
    return sealed + bytes.fromhex(f["append"])


def check_negative(path: Path, positives: dict[str, Positive]) -> None:
    name = path.stem
    f = parse_vector(path)
    base = positives.get(Path(f["from"]).stem)
    if base is None:
        check(f"{name}: from {f['from']}", False, "no such positive vector")
        return
    sealed = bytes.fromhex(base.f["sealed"]) if "sealed" in base.f else base.sealed
    notes: list[str] = []
    edited = apply_edit(f, sealed, notes)
    for note in notes:
        print(f"note  {name}: {note}")
    edit = next(f"{k} {f[k]}" for k in ("cut", "flip", "swap", "append") if k in f)
    expect_error(f"{name}: {f['from']} with {edit}", f["expect"],
                 lambda: open_whole(edited, base.reader, base.record_id, base.context))
    if name == "neg-stream-version":
        # What the text of §17.6 (XOR 0x01) would give: record version 0, step 4.
        b = bytearray(sealed)
        b[17] ^= 0x01
        expect_error(f"{name}: as FORMAT.md §17.6 reads (flip 17 XOR 0x01: record version 0, step 4)",
                     "Malformed", lambda: open_whole(bytes(b), base.reader, base.record_id, base.context))


def check_random_access(p: Positive) -> None:
    sealed = bytes.fromhex(p.f["sealed"])
    name = f"{p.name}: random access"
    opener = open_stream(sealed[:HEADER_LEN], p.reader, p.record_id, p.context)
    fetched: list[tuple[int, int]] = []

    def server(data: bytes):
        def read(offset: int, size: int) -> bytes:
            fetched.append((offset, size))
            return data[offset:offset + size]
        return read

    ra = RandomAccess(opener, len(sealed), server(sealed))
    check(f"{name}: n from L = {len(sealed)} is {ra.n}, last chunk {ra.last} opened first",
          ra.n == len(p.plaintext) and ra.last == 3 and fetched == [(HEADER_LEN + 3 * STORED, TAG)], str(fetched))
    fetched.clear()
    got = ra.chunk(2)
    check(f"{name}: chunk 2 alone = plaintext[32768..49152]", got == p.plaintext[2 * CHUNK:3 * CHUNK])
    check(f"{name}: chunk 2 read as bytes {HEADER_LEN + 2 * STORED}..{HEADER_LEN + 3 * STORED} only",
          fetched == [(HEADER_LEN + 2 * STORED, STORED)], str(fetched))

    # A server cuts the stream at a chunk boundary (after chunks 0 and 1) and
    # reports that shorter length: the length alone says Truncated (§17.2).
    cut = HEADER_LEN + 2 * STORED
    expect_error(f"{name}: server cut at the boundary {cut} and reports L = {cut}", "Truncated",
                 lambda: RandomAccess(opener, cut, server(sealed[:cut])))
    # A length that is not on a boundary makes a full chunk the "last": its
    # tag fails at that length, so opening the last chunk first catches it.
    for short in (HEADER_LEN + 3 * STORED - 1, HEADER_LEN + 2 * STORED + TAG, HEADER_LEN + STORED + 1000):
        expect_error(f"{name}: server reports L = {short} (chunk {(short - HEADER_LEN) // STORED} taken as last), last chunk opened first",
                     "DecryptionFailed", lambda s=short: RandomAccess(opener, s, server(sealed[:s])))
    # Why the MUST: without that check, chunk 0 still opens under the forged
    # length, and the reader would believe a file of the forged size.
    short = HEADER_LEN + STORED + 1000
    lax = RandomAccess(opener, short, server(sealed[:short]), verify_last=False)
    check(f"{name}: without opening the last chunk first, L = {short} would be believed (n = {lax.n}) and chunk 0 opens",
          lax.n == CHUNK + 1000 - TAG and lax.chunk(0) == p.plaintext[:CHUNK])
    # A server that reports a longer length (one more chunk than there is).
    longer = len(sealed) + 100
    padded = sealed + bytes(100)
    expect_error(f"{name}: server reports L = {longer} (bytes appended), last chunk opened first", "DecryptionFailed",
                 lambda: RandomAccess(opener, longer, server(padded)))


def check_streaming(p: Positive) -> None:
    """The streaming reader over irregular reads, and what it releases before an error."""
    sealed = bytes.fromhex(p.f["sealed"])
    for piece in (1, 7, 4096, STORED - 1, STORED, STORED + 1, 3 * STORED + 5):
        got = open_whole(sealed, p.reader, p.record_id, p.context, piece=piece)
        check(f"{p.name}: streaming OPEN in reads of {piece} bytes", got == p.plaintext)
    opener = open_stream(sealed[:HEADER_LEN], p.reader, p.record_id, p.context)
    r1 = opener.update(sealed[HEADER_LEN:HEADER_LEN + STORED - 1])
    r2 = opener.update(sealed[HEADER_LEN + STORED - 1:HEADER_LEN + STORED])
    check(f"{p.name}: a full chunk is released as soon as its 16,400 bytes are in (not before)",
          r1 == b"" and r2 == p.plaintext[:CHUNK])
    # A stream cut at a boundary: chunks 0 and 1 are released, then Truncated.
    released: list[bytes] = []
    cut = sealed[:HEADER_LEN + 2 * STORED]

    def run():
        open_stream(cut[:HEADER_LEN], p.reader, p.record_id, p.context).open_all(cut, 1000, released)
    expect_error(f"{p.name}: cut after two chunks, streamed", "Truncated", run)
    check(f"{p.name}: ... after releasing 2 x 16,384 bytes (so an app must wait for the end)",
          b"".join(released) == p.plaintext[:2 * CHUNK], f"{len(b''.join(released))} bytes")


def check_own_negatives(p3: Positive, p1: Positive, pplus: Positive, pchunk: Positive) -> None:
    """Negatives made here, from stream-three-chunks (p3), stream-one-byte (p1),
    stream-chunk-plus-one (pplus) and stream-chunk (pchunk)."""
    s3 = bytes.fromhex(p3.f["sealed"])
    s1 = bytes.fromhex(p1.f["sealed"])
    rid, ctx, rd = p3.record_id, p3.context, p3.reader
    c = [s3[a:b] for a, b in (chunk_span(s3, k) for k in range(4))]
    hdr = s3[:HEADER_LEN]

    def opens(sealed: bytes, reader: Reader = rd, record_id: bytes = rid, context: bytes = ctx):
        return lambda: open_whole(sealed, reader, record_id, context)

    # Chunks moved, repeated, dropped or borrowed.
    expect_error("own: three-chunks with chunk 0 duplicated", "DecryptionFailed", opens(hdr + c[0] + c[0] + c[1] + c[2] + c[3]))
    expect_error("own: three-chunks with chunk 1 dropped", "DecryptionFailed", opens(hdr + c[0] + c[2] + c[3]))
    expect_error("own: three-chunks with the last (empty) chunk dropped and chunk 2 cut to 16 bytes", "DecryptionFailed",
                 opens(hdr + c[0] + c[1] + c[2][:TAG]))
    expect_error("own: three-chunks with stream-chunk's empty last chunk (another key)", "DecryptionFailed",
                 opens(hdr + c[0] + c[1] + c[2] + bytes.fromhex(pchunk.f["sealed"])[HEADER_LEN + STORED:]))
    expect_error("own: stream-chunk-plus-one cut right after its full chunk", "Truncated",
                 opens(bytes.fromhex(pplus.f["sealed"])[:HEADER_LEN + STORED], pplus.reader))
    expect_error("own: one-byte cut to 140 bytes (a last chunk of 6)", "Malformed", opens(s1[:140], p1.reader))
    expect_error("own: one-byte cut to 149 (a last chunk of 15)", "Malformed",
                 opens(s1[:149], p1.reader))
    expect_error("own: one-byte cut to 150 (a last chunk of 16: tag only, wrong)", "DecryptionFailed",
                 opens(s1[:150], p1.reader))
    # The header of one stream with the chunks of another (same vault, record id, context).
    expect_error("own: one-byte's header with three-chunks' chunks", "DecryptionFailed", opens(s1[:HEADER_LEN] + s3[HEADER_LEN:]))
    # The wrapped DEK of another stream with the same first 18 bytes: it unwraps, the commitment refuses it.
    e = expect_error("own: three-chunks with one-byte's wrapped DEK (unwraps; commitment refuses)", "DecryptionFailed",
                     opens(hdr[:18] + s1[18:78] + hdr[78:] + s3[HEADER_LEN:]))
    check("own: ... and it is the commitment (step 7) that refused it", e is not None and str(e) == "commitment", str(e))

    # Another record id, context, vault, key or epoch.
    expect_error("own: wrong record id (scan-2)", "DecryptionFailed", opens(s3, record_id=b"scan-2"))
    expect_error("own: wrong context (\"x\")", "DecryptionFailed", opens(s3, context=b"x"))
    expect_error("own: another vault id", "DecryptionFailed", opens(s3, reader=Reader(bytes(16), rd.wrap_keys)))
    expect_error("own: another vault key for epoch 1", "DecryptionFailed",
                 opens(s3, reader=Reader(rd.vault_id, {1: hkdf32(bytes(32), WRAP_DEK)})))
    b = bytearray(s3)
    b[6:10] = u32be(2)
    expect_error("own: header says epoch 2, the reader holds epoch 1 only", "DecryptionFailed", opens(bytes(b)))
    expect_error("own: header says epoch 2, the reader holds epoch 1's key as epoch 2 (the wrap's AAD has the epoch)",
                 "DecryptionFailed", opens(bytes(b), reader=Reader(rd.vault_id, {2: rd.wrap_keys[1]})))

    # Header structure (steps 2–4), in order.
    expect_error("own: 3 bytes", "Malformed", lambda: open_stream(b"mss", rd, rid, ctx))
    expect_error("own: magic msrc", "Malformed", lambda: open_stream(b"msrc" + hdr[4:], rd, rid, ctx))
    expect_error("own: 5 bytes msst 01", "Malformed", lambda: open_stream(hdr[:5], rd, rid, ctx))
    for off, value, what in ((4, 2, "stream"), (4, 0, "stream"), (5, 2, "stream suite")):
        b = bytearray(hdr)
        b[off] = value
        e = expect_error(f"own: byte {off} = {value}", "UnknownVersion", lambda b=bytes(b): open_stream(b[:6], rd, rid, ctx))
        check(f"own: ... reported as {what} {value}", isinstance(e, UnknownVersion) and (e.what, e.number) == (what, value),
              str(e))
    expect_error("own: version 2 before the missing rest of the header (6 bytes)", "UnknownVersion",
                 lambda: open_stream(MAGIC + b"\x02\x01", rd, rid, ctx))
    expect_error("own: 133 header bytes", "Malformed", lambda: open_stream(hdr[:133], rd, rid, ctx))
    for lo, hi, value, what, code in ((6, 10, 0, "epoch 0", "Malformed"),
                                      (10, 18, 0, "record version 0", "Malformed"),
                                      (10, 18, 2**53, "record version 2^53", "Malformed"),
                                      (10, 18, 2**64 - 1, "record version 2^64-1", "Malformed"),
                                      (10, 18, 2**53 - 1, "record version 2^53-1 (in range: reaches the unwrap)", "DecryptionFailed")):
        b = bytearray(hdr)
        b[lo:hi] = value.to_bytes(hi - lo, "big")
        expect_error(f"own: {what}", code, lambda b=bytes(b): open_stream(b, rd, rid, ctx))

    # Record id and context (step 1, before any byte is looked at).
    expect_error("own: empty record id, header of garbage", "InvalidArgument", lambda: open_stream(b"garbage", rd, b"", ctx))
    expect_error("own: record id of 1025 bytes", "InvalidArgument", lambda: open_stream(hdr, rd, b"r" * 1025, ctx))
    expect_error("own: context of 65,537 bytes", "InvalidArgument", lambda: open_stream(hdr, rd, rid, b"c" * 65537))
    rnd = bytes(range(68))
    big_rid, big_ctx = b"r" * 1024, b"c" * 65536
    s, _ = seal(rd.wrap_keys[1], rd.vault_id, 1, 9, big_rid, big_ctx, rnd, b"limits")
    check("own: record id of 1,024 bytes and context of 65,536 bytes: seal, open",
          open_whole(s, rd, big_rid, big_ctx) == b"limits")
    for version, shown in ((0, "0"), (2**53, "2^53")):
        expect_error(f"own: seal with record version {shown}", "InvalidArgument",
                     lambda v=version: seal(rd.wrap_keys[1], rd.vault_id, 1, v, rid, ctx, rnd, b""))
    expect_error("own: seal with an empty record id", "InvalidArgument",
                 lambda: seal(rd.wrap_keys[1], rd.vault_id, 1, 1, b"", ctx, rnd, b""))

    # §17.5 re-wrap: bytes 0..78 replaced, the rest unchanged, opens in the new epoch.
    vk2 = hashlib.sha256(b"another vault key").digest()
    k2 = hkdf32(vk2, WRAP_DEK)
    dek = bytes.fromhex(p3.f["random"])[:32]
    head18 = MAGIC + b"\x01\x01" + u32be(2) + s3[10:18]
    rewrapped = head18 + wrap(k2, bytes(12), dek, aad_dek(head18, rd.vault_id, rid, ctx)) + s3[78:]
    both = Reader(rd.vault_id, {1: rd.wrap_keys[1], 2: k2})
    check("own: re-wrapped to epoch 2 (§17.5): opens, bytes 78.. unchanged",
          open_whole(rewrapped, both, rid, ctx) == p3.plaintext and rewrapped[78:] == s3[78:])
    expect_error("own: re-wrapped to epoch 2, reader holds epoch 1 only", "DecryptionFailed", opens(rewrapped))

    # Sizes (§17.2).
    table = [(0, 150), (1, 151), (16383, 16533), (16384, 16550), (16385, 16551), (49152, 49350)]
    check("own: sealed_size on 0, 1, 16383, 16384, 16385, 49152", all(sealed_size(n) == L for n, L in table))
    check("own: plaintext_size inverts it", all(plaintext_size(L) == n for n, L in table))
    for L, code in ((0, "Malformed"), (133, "Malformed"), (134, "Truncated"), (135, "Malformed"), (149, "Malformed"),
                    (HEADER_LEN + STORED, "Truncated"), (HEADER_LEN + STORED + 15, "Malformed")):
        expect_error(f"own: plaintext_size({L})", code, lambda L=L: plaintext_size(L))
    n_max = MAX_CHUNKS * CHUNK - 1  # 2^32 chunks, the last one 16,383 bytes
    L_max = sealed_size(n_max)
    check(f"own: 2^32 chunks: sealed_size({n_max}) = {L_max}, and back", plaintext_size(L_max) == n_max)
    expect_error(f"own: sealed_size({n_max + 1}) (2^32 + 1 chunks)", "TooLarge", lambda: sealed_size(n_max + 1))
    expect_error(f"own: plaintext_size({L_max + 1 + TAG}) (2^32 + 1 chunks)", "TooLarge", lambda: plaintext_size(L_max + 1 + TAG))


def section(name: str, fn: Callable[[], None]) -> None:
    """A group of checks; an exception that escapes it is one failed check."""
    try:
        fn()
    except Exception as e:
        check(f"{name}: ran to its end", False, f"{type(e).__name__}: {e}")


def main() -> int:
    files = sorted(VECTORS.glob("*.txt"))
    check(f"vector files in {VECTORS}", len(files) > 0, "none found")
    positives: dict[str, Positive] = {}
    negatives = []
    for path in files:
        if parse_vector(path).get("expect") == "success":
            def one(path=path):
                p = check_positive(path)
                if p is not None:
                    positives[p.name] = p
            section(path.stem, one)
        else:
            negatives.append(path)
    for p in positives.values():
        section(p.name, lambda p=p: open_positive(p))
    for path in negatives:
        section(path.stem, lambda path=path: check_negative(path, positives))
    needed = ("stream-three-chunks", "stream-one-byte", "stream-chunk-plus-one", "stream-chunk")
    if check("vectors used by the checks below are present", all(n in positives for n in needed)):
        section("random access", lambda: check_random_access(positives["stream-three-chunks"]))
        section("streaming", lambda: check_streaming(positives["stream-three-chunks"]))
        section("own negatives", lambda: check_own_negatives(*(positives[n] for n in needed)))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
