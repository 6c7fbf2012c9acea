//! Security review of streams (FORMAT.md §17, docs/SECURITY.md §7b): each
//! attack written as a test. Tests named `finding_*` FAIL against the code
//! they were written for (that is the proof; the report says how to fix
//! each); tests named `regression_*` are attacks that turned out not to work
//! and are kept because they pin a property the review checked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aes_gcm::aead::{AeadInOut, KeyInit};
use common::*;
use medseal::stream::{
    self, StreamOpener, CHUNK_LEN, HEADER_LEN, MAX_PLAINTEXT_LEN, REWRAP_LEN, SEALED_CHUNK_LEN,
    TAG_LEN,
};
use medseal::{ContentType, Error, GrantRequest, GrantScope, RecordContext, Vault};

const C: usize = CHUNK_LEN;
const S: usize = SEALED_CHUNK_LEN;

fn data(n: usize) -> Vec<u8> {
    seeded_stream(b"review stream data", n)
}

fn seal(v: &mut Vault, d: &[u8], c: &RecordContext<'_>, version: u64) -> Vec<u8> {
    v.seal_stream(c, version).unwrap().seal_all(d).unwrap()
}

/// Opens like a streaming reader; returns what it released and the result.
fn open(v: &Vault, sealed: &[u8], c: &RecordContext<'_>) -> (Vec<u8>, medseal::Result<()>) {
    let mut released = Vec::new();
    let r = v
        .open_stream(sealed.get(..HEADER_LEN).unwrap_or(sealed), c)
        .and_then(|o: StreamOpener| o.open_all(sealed, &mut released));
    (released, r)
}

/// Encrypts one chunk under a chunk key and nonce, as whoever holds the key
/// (WebCrypto in the page) can.
fn forge_chunk(key: &[u8; 32], nonce: [u8; 12], plain: &[u8]) -> Vec<u8> {
    let cipher = aes_gcm::Aes256Gcm::new(&(*key).into());
    let mut out = plain.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), &[], out.as_mut_slice().into())
        .unwrap();
    out.extend_from_slice(&tag);
    out
}

// ------------------------------------------------------------------ findings

/// SECURITY.md §7b: "What a leaked chunk key allows, exactly: decrypting
/// that one file, and replacing any of its chunks with other content of the
/// same chunk length under its unchanged header". Not exactly: the chunk
/// key and the nonce rule are all a C2SP writer needs, so its holder also
/// cuts the file short (a new short last chunk at any index) or extends it
/// (the old last chunk re-sealed full, then more chunks). The length is not
/// protected against the key holder. Written as the claim: it fails because
/// both forgeries open.
#[test]
fn a_leaked_chunk_key_also_changes_the_length_of_its_stream_documented_limit() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let n = 3 * C + 100;
    let d = data(n);
    let s = seal(&mut v, &d, &c, 1);
    let o = v.open_stream(&s[..HEADER_LEN], &c).unwrap();
    let key = *o.keys().key();

    // Cut to one chunk and a forged 5-byte last chunk (index 1).
    let mut cut = s[..HEADER_LEN + S].to_vec();
    cut.extend(forge_chunk(&key, o.keys().nonce(1), b"HELLO"));
    let (cut_out, cut_r) = open(&v, &cut, &c);

    // Extended: every chunk kept, the short last one replaced by a full
    // chunk, then a new short last chunk (index 4).
    let mut ext = s[..HEADER_LEN + 3 * S].to_vec();
    ext.extend(forge_chunk(&key, o.keys().nonce(3), &[0x42; C]));
    ext.extend(forge_chunk(&key, o.keys().nonce(4), b"appended"));
    let (ext_out, ext_r) = open(&v, &ext, &c);

    // The documented limit (SECURITY.md §7b, corrected after this review):
    // both forgeries open, with the length the forger chose.
    cut_r.unwrap();
    ext_r.unwrap();
    assert_eq!(cut_out.len(), C + 5);
    assert_eq!(ext_out.len(), 4 * C + 8);
    let _ = n;
}

/// A grant is read access (SECURITY.md §8a, "What a grantee can do: open
/// exactly the records it has slots for"). For a stream the grantee's page
/// is *handed* the chunk key (`openSharedStream`/`openSharedRange` import it
/// into WebCrypto, exactly `StreamOpener::keys().key()` here). With it, and
/// a server that stores what it is given, the grantee rewrites the
/// grantor's file: the grantor's own vault opens the rewritten chunk as its
/// own file, under its unchanged header. Written as the grant's promise
/// (read only): it fails because the grantor accepts the forgery.
#[test]
fn a_grantee_rewrites_the_grantors_stream_with_the_chunk_key_it_is_handed_documented_limit() {
    let (mut alice, _) = seeded_vault(b"review alice");
    let (bob, _) = seeded_vault(b"review bob");
    let c = ctx("scan-1");
    let d = data(2 * C + 3);
    let s = seal(&mut alice, &d, &c, 1);
    let new = alice
        .grant(GrantRequest {
            grantee: bob.manifest(),
            scope: GrantScope::Records(vec!["scan-1".to_string()]),
            created: 1_000,
            expires: 2_000_000_000,
        })
        .unwrap();
    let slot = alice
        .grant_slot(&new.grant, &s[..HEADER_LEN], &c, 1_000)
        .unwrap();
    let received = bob
        .accept_grant(new.grant.clone(), alice.manifest(), 1_000)
        .unwrap();
    // What Bob's page gets from openSharedRange: the chunk key (and nonces).
    let o = received
        .open_stream(&slot, &s[..HEADER_LEN], &c, 1_001)
        .unwrap();
    let key = *o.keys().key();
    let mut forged = s.clone();
    let at = HEADER_LEN + S;
    forged[at..at + S].copy_from_slice(&forge_chunk(&key, o.keys().nonce(1), &[0x66; C]));
    // Alice, the owner, opens her own file as the server now serves it.
    // The documented limit (SECURITY.md §8a, added after this review): a
    // grant gives the data key, and the data key is all a writer needs.
    let (out, r) = open(&alice, &forged, &c);
    r.unwrap();
    assert_eq!(out[C], 0x66);
}

/// SECURITY.md §7b and FORMAT.md §17 cite tests as the backing of their
/// claims (the Python implementation of §17 "written from this text alone",
/// and the 2 GiB bounded-memory tests in Node and Chromium). None of these
/// files exists in the tree, so those claims are backed by nothing.
#[test]
fn the_tests_cited_as_backing_for_streams_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cited = [
        "tests/interop/stream_c2sp.py",
        "tests/js/streams-memory.test.mjs",
        "tests/browser/streams-memory.test.mjs",
    ];
    let missing: Vec<&str> = cited
        .iter()
        .copied()
        .filter(|p| !root.join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "cited in docs/SECURITY.md §7b / docs/FORMAT.md §17 but missing: {missing:?}"
    );
}

/// `stream::chunk_offset` is public and documented as "where chunk `k` lies";
/// it saturates the multiplication but not the addition of the header:
/// `134 + u64::MAX` panics with overflow in a debug build ("no panics on any
/// input") and wraps to a small, wrong offset (133) in a release build
/// (overflow checks are off in `[profile.release]`). Not reachable from the
/// wasm layer (every caller there bounds `k` first), only from the Rust API.
#[test]
fn chunk_offset_does_not_overflow_for_huge_chunk_indexes() {
    for k in [u64::MAX / SEALED_CHUNK_LEN as u64, u64::MAX - 1, u64::MAX] {
        let r = std::panic::catch_unwind(|| stream::chunk_offset(k));
        assert!(
            matches!(r, Ok(o) if o >= HEADER_LEN as u64),
            "chunk_offset({k}) panicked or wrapped: {:?}",
            r.ok()
        );
    }
}

// ------------------------------------------------------- regression checks

/// Sizes and offsets at the edges of u64: no panic, no overflow, and the two
/// size functions are exact inverses wherever either is defined.
#[test]
fn regression_sizes_and_offsets_never_panic_or_overflow() {
    let h = HEADER_LEN as u64;
    let edges = [
        0,
        1,
        h - 1,
        h,
        h + 1,
        h + 15,
        h + 16,
        h + S as u64,
        h + S as u64 + 15,
        h + S as u64 + 16,
        MAX_PLAINTEXT_LEN,
        MAX_PLAINTEXT_LEN + 1,
        (1 << 53) - 1,
        1 << 53,
        u64::MAX / 2,
        u64::MAX - S as u64,
        u64::MAX - 16,
        u64::MAX - 1,
        u64::MAX,
    ];
    for l in edges {
        if let Ok(n) = stream::plaintext_size(l) {
            assert_eq!(stream::sealed_size(n), Ok(l), "sealed length {l}");
        }
        if let Ok(s) = stream::sealed_size(l) {
            assert_eq!(stream::plaintext_size(s), Ok(l), "plaintext length {l}");
        }
    }
    // The largest stream the format allows, and one byte more.
    let max = stream::sealed_size(MAX_PLAINTEXT_LEN).unwrap();
    assert_eq!(stream::plaintext_size(max), Ok(MAX_PLAINTEXT_LEN));
    assert_eq!(stream::plaintext_size(max + 1), Err(Error::Truncated));
    // 2^32 full chunks and an empty last one: one chunk too many.
    assert_eq!(stream::plaintext_size(max + 17), Err(Error::TooLarge));
    // Every body length modulo a chunk, near a boundary.
    for full in [0u64, 1, 7] {
        for rest in 0..=S as u64 {
            let l = h + full * S as u64 + rest;
            let r = stream::plaintext_size(l);
            match rest {
                0 => assert_eq!(r, Err(Error::Truncated), "{l}"),
                1..=15 => assert!(matches!(r, Err(Error::Malformed(_))), "{l}: {r:?}"),
                _ if rest == S as u64 => assert_eq!(r, Err(Error::Truncated), "{l}"),
                _ => assert_eq!(r, Ok(full * C as u64 + rest - 16), "{l}"),
            }
        }
    }

    // An opener asked about any chunk of any length: typed errors only.
    let (mut v, _) = new_vault();
    let c = ctx("edge");
    let s = seal(&mut v, &data(2 * C + 1), &c, 1);
    let o = v.open_stream(&s[..HEADER_LEN], &c).unwrap();
    for k in [0, 1, 2, 3, 1 << 32, u64::MAX] {
        for l in edges {
            if let Ok((_, range)) = o.nonce_at(k, l) {
                assert!(range.start <= range.end && range.end <= l, "k {k}, len {l}");
                assert!(range.end - range.start <= S as u64);
            }
            let _ = o.open_at(k, &[0u8; 40], l);
        }
    }
    // The streaming opener fed every length, last or not.
    for last in [false, true] {
        for len in (0..=40).chain(C - 2..=S + 2) {
            let mut o = v.open_stream(&s[..HEADER_LEN], &c).unwrap();
            let r = o.next_nonce(len, last);
            let ok = if last {
                (TAG_LEN..S).contains(&len)
            } else {
                len == S
            };
            assert_eq!(r.is_ok(), ok, "len {len}, last {last}: {r:?}");
        }
    }
}

/// Every prefix of a header, and every single-byte change of it: typed
/// errors, never a panic, and nothing opens but the original.
#[test]
fn regression_every_header_prefix_and_byte_is_checked() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let s = seal(&mut v, &data(100), &c, 1);
    for i in 0..HEADER_LEN {
        let r = v.open_stream(&s[..i], &c);
        assert!(
            matches!(r, Err(Error::Malformed(_))),
            "a header cut to {i} bytes: {r:?}"
        );
        for x in [0x01u8, 0x80, 0xff] {
            let mut t = s[..HEADER_LEN].to_vec();
            t[i] ^= x;
            assert!(v.open_stream(&t, &c).is_err(), "byte {i} ^ {x:#x}");
            assert!(stream::read_header(&t).is_ok() || i < 18);
        }
    }
}

/// A record's wrapped data key moved into a stream header (same vault,
/// record id, context, epoch and version) does not unwrap: the two AADs
/// have their own labels and magics. And the reverse.
#[test]
fn regression_a_records_wrapped_key_does_not_open_as_a_streams() {
    let (mut v, _) = new_vault();
    let c = RecordContext::with_context(b"doc-7", b"attachments");
    let rec = v
        .seal_version(ContentType::Bytes, b"metadata", &c, 3)
        .unwrap();
    let s = seal(&mut v, &data(C + 9), &c, 3);
    assert_eq!(rec[6..18], s[6..18], "same epoch and version");
    let mut t = s.clone();
    t[18..78].copy_from_slice(&rec[18..78]);
    assert_eq!(open(&v, &t, &c).1, Err(Error::DecryptionFailed));
    let mut r2 = rec.clone();
    r2[18..78].copy_from_slice(&s[18..78]);
    assert!(v.open(&r2, &c).is_err());
    // A stream given where a record is expected, and the reverse.
    assert!(matches!(v.open(&s, &c), Err(Error::Malformed(_))));
    assert!(matches!(v.open_stream(&rec, &c), Err(Error::Malformed(_))));
}

/// Grant slots: a stream's slot does not open the record of the same id
/// (and the reverse); a stream header of another format version is
/// `UnknownVersion` for `grant_slot`; a tampered header gives no slot.
#[test]
fn regression_grant_slots_do_not_cross_between_streams_and_records() {
    let (mut alice, _) = seeded_vault(b"review alice 2");
    let (bob, _) = seeded_vault(b"review bob 2");
    let c = ctx("scan-1");
    let d = data(C + 3);
    let s = seal(&mut alice, &d, &c, 2);
    let rec = alice
        .seal_version(ContentType::Bytes, b"the file's metadata", &c, 2)
        .unwrap();
    let new = alice
        .grant(GrantRequest {
            grantee: bob.manifest(),
            scope: GrantScope::Records(vec!["scan-1".to_string()]),
            created: 1_000,
            expires: 2_000_000_000,
        })
        .unwrap();
    let stream_slot = alice
        .grant_slot(&new.grant, &s[..HEADER_LEN], &c, 1_000)
        .unwrap();
    let record_slot = alice.grant_slot(&new.grant, &rec, &c, 1_000).unwrap();
    let received = bob
        .accept_grant(new.grant.clone(), alice.manifest(), 1_000)
        .unwrap();
    assert!(received.open_record(&stream_slot, &rec, &c, 1_001).is_err());
    assert!(received
        .open_stream(&record_slot, &s[..HEADER_LEN], &c, 1_001)
        .is_err());
    // Each with its own slot opens.
    assert!(received.open_record(&record_slot, &rec, &c, 1_001).is_ok());
    let o = received
        .open_stream(&stream_slot, &s[..HEADER_LEN], &c, 1_001)
        .unwrap();
    let mut out = Vec::new();
    o.open_all(&s, &mut out).unwrap();
    assert_eq!(out, d);
    // Another stream format version, a tampered commitment: no slot.
    let mut h = s[..HEADER_LEN].to_vec();
    h[4] = 2;
    assert!(matches!(
        alice.grant_slot(&new.grant, &h, &c, 1_000),
        Err(Error::UnknownVersion { what: "stream", .. })
    ));
    let mut h = s[..HEADER_LEN].to_vec();
    h[120] ^= 1;
    assert_eq!(
        alice.grant_slot(&new.grant, &h, &c, 1_000),
        Err(Error::DecryptionFailed)
    );
    // For the grantee the version is bound (C2SP context), the epoch and
    // wrapped key are not (FORMAT.md §17.5: steps 1–4 and 7): documented.
    let mut h = s[..HEADER_LEN].to_vec();
    h[17] ^= 1;
    assert_eq!(
        received.open_stream(&stream_slot, &h, &c, 1_001).err(),
        Some(Error::DecryptionFailed)
    );
    let mut h = s[..HEADER_LEN].to_vec();
    h[9] ^= 4;
    h[40] ^= 1;
    assert!(received.open_stream(&stream_slot, &h, &c, 1_001).is_ok());
}

/// A re-wrap: the new 78 bytes with the old rest open to the same bytes and
/// version; a header whose salt or commitment was changed, or another
/// binding, gives no re-wrap.
#[test]
fn regression_rewrap_changes_nothing_the_reader_sees() {
    let (mut v, _) = new_vault();
    let c = RecordContext::with_context(b"scan-1", b"ctx");
    let d = data(2 * C);
    let s = seal(&mut v, &d, &c, 5);
    v.rekey().unwrap();
    for i in [REWRAP_LEN, REWRAP_LEN + 10, HEADER_LEN - 1] {
        let mut t = s[..HEADER_LEN].to_vec();
        t[i] ^= 1;
        assert_eq!(
            v.rewrap_stream(&t, &c),
            Err(Error::DecryptionFailed),
            "byte {i}"
        );
    }
    assert_eq!(
        v.rewrap_stream(&s[..HEADER_LEN], &ctx("scan-1")),
        Err(Error::DecryptionFailed)
    );
    let p = v.rewrap_stream(&s[..HEADER_LEN], &c).unwrap().unwrap();
    let mut t = p.clone();
    t.extend_from_slice(&s[REWRAP_LEN..]);
    assert_eq!(t.len(), s.len());
    let o = v.open_stream(&t[..HEADER_LEN], &c).unwrap();
    assert_eq!(o.meta().version, 5);
    assert_eq!(o.meta().epoch, 2);
    let mut out = Vec::new();
    o.open_all(&t, &mut out).unwrap();
    assert_eq!(out, d);
    // Re-wrapping the re-wrapped header again: already current.
    assert_eq!(v.rewrap_stream(&t[..HEADER_LEN], &c), Ok(None));
}

/// Random access at every chunk, and the chunk bytes checked against the
/// claimed sealed length: the right bytes with a length cut at a boundary,
/// one byte longer or one chunk longer do not open as the last chunk.
#[test]
fn regression_random_access_agrees_with_the_sequential_reader_at_every_size() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    for n in [0, 1, C - 1, C, C + 1, 2 * C, 3 * C - 1, 3 * C + 5] {
        let d = data(n);
        let s = seal(&mut v, &d, &c, 1);
        let len = s.len() as u64;
        let o = v.open_stream(&s[..HEADER_LEN], &c).unwrap();
        let last = n / C;
        let mut joined = Vec::new();
        for k in 0..=last as u64 {
            let (_, r) = o.nonce_at(k, len).unwrap();
            let p = o
                .open_at(k, &s[r.start as usize..r.end as usize], len)
                .unwrap();
            joined.extend_from_slice(&p);
        }
        assert_eq!(joined, d, "n = {n}");
        // The last chunk offered under lengths that are not the file's.
        for l in [len + 1, len + 16, len + S as u64, len - 1] {
            if let Ok((_, r)) = o.nonce_at(last as u64, l) {
                let mut bytes = s[r.start as usize..].to_vec();
                bytes.resize((r.end - r.start) as usize, 0);
                assert!(
                    o.open_at(last as u64, &bytes, l).is_err(),
                    "n = {n}, len {l}"
                );
            }
        }
        if last > 0 {
            // Cut at the boundary before the last chunk: Truncated.
            let cut = stream::chunk_offset(last as u64);
            assert_eq!(o.nonce_at(0, cut).err(), Some(Error::Truncated));
        }
    }
}
