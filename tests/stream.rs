//! Streams (FORMAT.md §17): every size class round-trips, and every attack
//! on a sealed stream is refused with a typed error before any plaintext of
//! the bad chunk is released: truncation at each chunk boundary and inside
//! chunks, appended bytes, swapped, duplicated and dropped chunks, another
//! record id, context, version or vault, a flipped bit anywhere.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use medseal::stream::{self, StreamOpener, CHUNK_LEN, HEADER_LEN, SEALED_CHUNK_LEN, TAG_LEN};
use medseal::{Error, RecordContext, Vault};

fn seal(v: &mut Vault, data: &[u8], c: &RecordContext<'_>) -> Vec<u8> {
    v.seal_stream(c, 1)
        .expect("start")
        .seal_all(data)
        .expect("seal")
}

/// Opens like a streaming reader; returns what it released and the result.
fn open(v: &Vault, sealed: &[u8], c: &RecordContext<'_>) -> (Vec<u8>, medseal::Result<()>) {
    let mut released = Vec::new();
    let r = v
        .open_stream(sealed.get(..HEADER_LEN).unwrap_or(sealed), c)
        .and_then(|o: StreamOpener| o.open_all(sealed, &mut released));
    (released, r)
}

fn data(n: usize) -> Vec<u8> {
    seeded_stream(b"stream test data", n)
}

const C: usize = CHUNK_LEN;

#[test]
fn every_size_class_round_trips_with_the_exact_size() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    for n in [0, 1, C - 1, C, C + 1, 2 * C, 3 * C, 5 * C + 123, 64 * C + 7] {
        let d = data(n);
        let s = seal(&mut v, &d, &c);
        assert_eq!(
            s.len() as u64,
            stream::sealed_size(n as u64).unwrap(),
            "n = {n}"
        );
        assert_eq!(stream::plaintext_size(s.len() as u64).unwrap(), n as u64);
        let (out, r) = open(&v, &s, &c);
        r.unwrap_or_else(|e| panic!("n = {n}: {e}"));
        assert_eq!(out, d, "n = {n}");
        // An exact multiple of the chunk size ends with an empty last chunk.
        if n % C == 0 {
            assert_eq!(&s[s.len() - TAG_LEN..].len(), &TAG_LEN);
            assert_eq!((s.len() - HEADER_LEN) % SEALED_CHUNK_LEN, TAG_LEN);
        }
    }
}

#[test]
fn truncation_at_every_chunk_boundary_is_truncated_and_inside_a_chunk_fails() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    for n in [0, C - 1, C, 3 * C, 3 * C + 100] {
        let d = data(n);
        let s = seal(&mut v, &d, &c);
        let chunks = n / C + 1;
        // At each boundary: after the header, after chunk k.
        for k in 0..chunks {
            let cut = &s[..stream::chunk_offset(k as u64) as usize];
            let (out, r) = open(&v, cut, &c);
            assert_eq!(r, Err(Error::Truncated), "n = {n}, cut after {k} chunks");
            assert_eq!(
                out,
                d[..k * C],
                "only whole chunks before the cut were released"
            );
            assert_eq!(
                stream::plaintext_size(cut.len() as u64),
                Err(Error::Truncated)
            );
        }
        // Inside chunks: one byte short of the end, mid-chunk, inside a tag.
        for cut in [
            s.len() - 1,
            HEADER_LEN + 1,
            HEADER_LEN + TAG_LEN,
            HEADER_LEN + 5000,
        ] {
            if cut >= s.len() {
                continue;
            }
            let (out, r) = open(&v, &s[..cut], &c);
            assert!(
                matches!(r, Err(Error::DecryptionFailed | Error::Malformed(_))),
                "n = {n}, cut {cut}: {r:?}"
            );
            assert!(d.starts_with(&out) && out.len() % C == 0);
        }
    }
}

#[test]
fn appended_bytes_are_refused() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    for n in [0, 10, C - 1, C, 2 * C + 5] {
        let s = seal(&mut v, &data(n), &c);
        for extra in [1usize, 15, 16, 17, SEALED_CHUNK_LEN, SEALED_CHUNK_LEN + 16] {
            let mut t = s.clone();
            t.extend(std::iter::repeat_n(0xA5u8, extra));
            let (out, r) = open(&v, &t, &c);
            assert!(r.is_err(), "n = {n}, +{extra}");
            assert!(out.len() <= n);
        }
        // The last chunk of the same stream appended again.
        let mut t = s.clone();
        t.extend_from_slice(&s[stream::chunk_offset((n / C) as u64) as usize..]);
        assert!(open(&v, &t, &c).1.is_err());
    }
}

fn chunk(s: &[u8], k: usize) -> &[u8] {
    let a = HEADER_LEN + k * SEALED_CHUNK_LEN;
    &s[a..(a + SEALED_CHUNK_LEN).min(s.len())]
}

fn rebuild(s: &[u8], order: &[usize]) -> Vec<u8> {
    let mut out = s[..HEADER_LEN].to_vec();
    for &k in order {
        out.extend_from_slice(chunk(s, k));
    }
    out
}

#[test]
fn swapped_duplicated_and_dropped_chunks_fail_at_the_first_bad_chunk() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let n = 4 * C + 999; // chunks 0..=4, the last one short
    let d = data(n);
    let s = seal(&mut v, &d, &c);
    let cases: &[(&str, &[usize], usize)] = &[
        ("swap 1 and 2", &[0, 2, 1, 3, 4], 1),
        ("swap 0 and 3", &[3, 1, 2, 0, 4], 0),
        ("duplicate 1", &[0, 1, 1, 2, 3, 4], 2),
        ("drop 2", &[0, 1, 3, 4], 2),
        ("drop 0", &[1, 2, 3, 4], 0),
        ("last chunk moved first", &[4, 0, 1, 2, 3], 0),
        ("a full chunk in the last place", &[0, 1, 2, 4, 3], 3),
    ];
    for (what, order, first_bad) in cases {
        let t = rebuild(&s, order);
        let (out, r) = open(&v, &t, &c);
        assert!(
            matches!(
                r,
                Err(Error::DecryptionFailed | Error::Malformed(_) | Error::Truncated)
            ),
            "{what}: {r:?}"
        );
        assert_eq!(
            out,
            d[..first_bad * C],
            "{what}: released exactly the good chunks before it"
        );
    }
    // A chunk of another stream of the same vault, record and size.
    let other = seal(&mut v, &d, &c);
    let mut t = s.clone();
    let a = HEADER_LEN + SEALED_CHUNK_LEN;
    t[a..a + SEALED_CHUNK_LEN].copy_from_slice(chunk(&other, 1));
    let (out, r) = open(&v, &t, &c);
    assert_eq!(r, Err(Error::DecryptionFailed));
    assert_eq!(out, d[..C]);
}

#[test]
fn another_record_id_context_version_or_vault_does_not_open() {
    let (mut v, _) = new_vault();
    let (other_vault, _) = seeded_vault(b"another vault");
    let c = RecordContext::with_context(b"scan-1", b"patient-files");
    let s = seal(&mut v, &data(C + 1), &c);
    let head = &s[..HEADER_LEN];
    for wrong in [
        RecordContext::with_context(b"scan-2", b"patient-files"),
        RecordContext::with_context(b"scan-1", b"other"),
        RecordContext::new(b"scan-1"),
    ] {
        assert_eq!(
            v.open_stream(head, &wrong).err(),
            Some(Error::DecryptionFailed)
        );
    }
    assert_eq!(
        other_vault.open_stream(head, &c).err(),
        Some(Error::DecryptionFailed)
    );
    // The version is in the header, covered by the wrap and the chunk key.
    let mut t = s.clone();
    t[17] ^= 2;
    assert_eq!(
        v.open_stream(&t[..HEADER_LEN], &c).err(),
        Some(Error::DecryptionFailed)
    );
}

#[test]
fn a_flipped_bit_anywhere_is_refused() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let d = data(2 * C + 40);
    let s = seal(&mut v, &d, &c);
    // Every byte of the header, and a spread of bytes over the chunks.
    let positions = (0..HEADER_LEN)
        .chain((HEADER_LEN..s.len()).step_by(97))
        .chain([s.len() - 1]);
    for i in positions {
        let mut t = s.clone();
        t[i] ^= 0x01;
        let (out, r) = open(&v, &t, &c);
        assert!(r.is_err(), "bit flip at {i} was not noticed");
        assert!(
            matches!(
                r,
                Err(Error::DecryptionFailed | Error::Malformed(_) | Error::UnknownVersion { .. })
            ),
            "at {i}: {r:?}"
        );
        if i >= HEADER_LEN {
            let k = (i - HEADER_LEN) / SEALED_CHUNK_LEN;
            assert_eq!(out, d[..k * C], "at {i}: nothing of the bad chunk");
        } else {
            assert!(out.is_empty());
        }
    }
}

#[test]
fn random_access_reads_any_chunk_after_the_last_one_is_verified() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let n = 7 * C + 77;
    let d = data(n);
    let s = seal(&mut v, &d, &c);
    let o = v.open_stream(&s[..HEADER_LEN], &c).unwrap();
    let len = s.len() as u64;
    for k in (0..=7u64).rev() {
        let (_, range) = o.nonce_at(k, len).unwrap();
        let got = o
            .open_at(k, &s[range.start as usize..range.end as usize], len)
            .unwrap();
        let a = k as usize * C;
        assert_eq!(&got[..], &d[a..(a + C).min(n)]);
    }
    // Chunk 3's bytes offered as chunk 2 (a server answering a Range
    // request with other bytes) fail.
    let (_, r3) = o.nonce_at(3, len).unwrap();
    assert_eq!(
        o.open_at(2, &s[r3.start as usize..r3.end as usize], len)
            .err(),
        Some(Error::DecryptionFailed)
    );
    // A server that cut the stream at a chunk boundary and reports the
    // shorter length: the (claimed) last chunk is a full one and fails.
    let short = stream::chunk_offset(5) + TAG_LEN as u64 + 10;
    let (_, fake_last) = o.nonce_at(5, short).unwrap();
    let mut bytes = s[fake_last.start as usize..].to_vec();
    bytes.truncate((fake_last.end - fake_last.start) as usize);
    assert_eq!(
        o.open_at(5, &bytes, short).err(),
        Some(Error::DecryptionFailed)
    );
    assert_eq!(
        o.nonce_at(8, len).err().map(|e| e.code()),
        Some("InvalidArgument")
    );
}

#[test]
fn a_rewrap_changes_only_the_first_78_bytes_and_old_epochs_stop_opening() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let d = data(3 * C + 1);
    let s = seal(&mut v, &d, &c);
    assert_eq!(v.rewrap_stream(&s[..HEADER_LEN], &c).unwrap(), None);
    v.rekey().unwrap();
    let prefix = v
        .rewrap_stream(&s[..HEADER_LEN], &c)
        .unwrap()
        .expect("new epoch");
    assert_eq!(prefix.len(), stream::REWRAP_LEN);
    let mut t = prefix.clone();
    t.extend_from_slice(&s[stream::REWRAP_LEN..]);
    assert_eq!(stream::read_header(&t).unwrap().epoch, 2);
    let (out, r) = open(&v, &t, &c);
    r.unwrap();
    assert_eq!(out, d);
    // Once old epochs are retired, the stream as first sealed opens no more.
    v.retire_epochs().unwrap();
    assert_eq!(open(&v, &s, &c).1, Err(Error::DecryptionFailed));
    assert_eq!(open(&v, &t, &c).1, Ok(()));
}

#[test]
fn the_sealer_keeps_the_chunk_rules() {
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let mut s = v.seal_stream(&c, 1).unwrap();
    assert!(matches!(
        s.seal_chunk(&[0; 10]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        s.seal_last(&[0; C]),
        Err(Error::InvalidArgument(_))
    ));
    s.seal_chunk(&[0; C]).unwrap();
    s.seal_last(&[]).unwrap();
    assert!(matches!(s.seal_last(&[]), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        v.seal_stream(&c, 0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        v.seal_stream(&ctx(""), 1),
        Err(Error::InvalidArgument(_))
    ));
    // Two streams of the same content never share a key or nonce.
    let a = seal(&mut v, b"same", &c);
    let b = seal(&mut v, b"same", &c);
    assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
}

#[test]
fn headers_are_parsed_before_any_key_is_used() {
    let (v, _) = new_vault();
    let c = ctx("scan-1");
    assert!(matches!(
        v.open_stream(b"msrc", &c),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        v.open_stream(b"msst", &c),
        Err(Error::Malformed(_))
    ));
    let mut h = vec![0u8; HEADER_LEN];
    h[..4].copy_from_slice(b"msst");
    h[4] = 2;
    h[5] = 1;
    assert!(matches!(
        v.open_stream(&h, &c),
        Err(Error::UnknownVersion {
            what: "stream",
            version: 2
        })
    ));
    h[4] = 1;
    h[5] = 9;
    assert!(matches!(
        v.open_stream(&h, &c),
        Err(Error::UnknownVersion {
            what: "stream suite",
            version: 9
        })
    ));
    h[5] = 1;
    assert!(matches!(
        v.open_stream(&h[..HEADER_LEN - 1], &c),
        Err(Error::Malformed(_))
    ));
    // Epoch 0 and version 0 are structure errors.
    assert!(matches!(v.open_stream(&h, &c), Err(Error::Malformed(_))));
}

#[test]
fn a_grant_slot_shares_a_stream_like_a_record() {
    use medseal::{GrantRequest, GrantScope};
    let (mut alice, _) = seeded_vault(b"alice");
    let (bob, _) = seeded_vault(b"bob");
    let c = ctx("scan-1");
    let d = data(2 * C + 3);
    let s = seal(&mut alice, &d, &c);
    let new = alice
        .grant(GrantRequest {
            grantee: bob.manifest(),
            scope: GrantScope::Records(vec!["scan-1".to_string()]),
            created: 1_000,
            expires: 2_000_000_000,
        })
        .expect("grant");
    let slot = alice
        .grant_slot(&new.grant, &s[..HEADER_LEN], &c, 1_000)
        .expect("slot of a stream header");
    let received = bob
        .accept_grant(new.grant.clone(), alice.manifest(), 1_000)
        .expect("accept");
    let o = received
        .open_stream(&slot, &s[..HEADER_LEN], &c, 1_001)
        .expect("open");
    let mut out = Vec::new();
    o.open_all(&s, &mut out).expect("chunks");
    assert_eq!(out, d);
    assert_eq!(
        received
            .open_stream(&slot, &s[..HEADER_LEN], &c, 2_000_000_001)
            .err()
            .map(|e| e.code()),
        Some("GrantExpired")
    );
}

/// The stream's chunk key is handed to WebCrypto (docs/SECURITY.md §7b).
/// Written as the attack: its holder rewrites chunks of that one stream
/// under its unchanged header, and the vault opens the forgery. Nothing
/// else: the same forged chunk in another stream does not open.
#[test]
fn a_leaked_chunk_key_rewrites_only_its_own_stream() {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    let (mut v, _) = new_vault();
    let c = ctx("scan-1");
    let d = data(2 * C + 10);
    let s = seal(&mut v, &d, &c);
    // The leak: exactly what the JS layer gets (the key, and the nonces it asks for).
    let o = v.open_stream(&s[..HEADER_LEN], &c).unwrap();
    let key = *o.keys().key();
    let nonce1 = o.keys().nonce(1);
    let cipher = aes_gcm::Aes256Gcm::new(&key.into());
    let mut forged_chunk = vec![0x41u8; C];
    let tag = cipher
        .encrypt_inout_detached(&nonce1.into(), &[], forged_chunk.as_mut_slice().into())
        .unwrap();
    forged_chunk.extend_from_slice(&tag);
    let mut forged = s.clone();
    let at = HEADER_LEN + SEALED_CHUNK_LEN;
    forged[at..at + SEALED_CHUNK_LEN].copy_from_slice(&forged_chunk);
    // The documented limit: it opens, with the forged content.
    let (out, r) = open(&v, &forged, &c);
    r.unwrap();
    assert_eq!(&out[C..2 * C], &[0x41u8; C][..]);
    // And nothing else: the same chunk in another stream of the same vault
    // and record id, or this stream under another record id, fails.
    let other = seal(&mut v, &d, &c);
    let mut spliced = other.clone();
    spliced[at..at + SEALED_CHUNK_LEN].copy_from_slice(&forged_chunk);
    assert_eq!(open(&v, &spliced, &c).1, Err(Error::DecryptionFailed));
    assert_eq!(
        open(&v, &forged, &ctx("scan-2")).1,
        Err(Error::DecryptionFailed)
    );
}
