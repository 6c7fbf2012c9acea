//! Stream vectors (FORMAT.md §17.6): each file is rebuilt from its seeds by
//! a seeded vault and must match byte for byte; its intermediate values
//! (input key, chunk key, base nonce, commitment) are recomputed here with
//! `hkdf`/`hmac` straight from the text of §17.3, and the negative vectors
//! must fail with the error they name.
//!
//! `MEDSEAL_WRITE_VECTORS=1 cargo test --test stream_vectors` rewrites them.
//! `tests/interop/stream_c2sp.py` checks the same files with Python's
//! `cryptography`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use hmac::{Hmac, KeyInit, Mac};
use medseal::stream::{self, HEADER_LEN, SEALED_CHUNK_LEN};
use medseal::vault::deterministic;
use medseal::{RecordContext, Vault};
use sha2::{Digest, Sha256, Sha512};

const VAULT_SEED: &[u8] = b"stream/vector-1";
/// Sealed bytes up to this length are written out in full.
const FULL_HEX_MAX: usize = 50_000;

struct Positive {
    name: &'static str,
    comment: &'static str,
    n: usize,
    record_id: &'static str,
    context: &'static str,
    version: u64,
}

const POSITIVES: &[Positive] = &[
    Positive { name: "stream-empty", comment: "An empty file: one empty last chunk (its tag alone).", n: 0, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-one-byte", comment: "One byte: one short last chunk.", n: 1, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-chunk-minus-one", comment: "16,383 bytes: the longest single (last) chunk.", n: 16_383, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-chunk", comment: "16,384 bytes: one full chunk, then an empty last chunk (C2SP: the last chunk is always short).", n: 16_384, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-chunk-plus-one", comment: "16,385 bytes: a full chunk and a last chunk of one byte.", n: 16_385, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-three-chunks", comment: "An exact multiple (3 x 16,384): three full chunks and an empty last one.", n: 3 * 16_384, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-many-chunks", comment: "Five full chunks and a last of 1,000 bytes; written as its SHA-256 only.", n: 5 * 16_384 + 1_000, record_id: "scan-1", context: "", version: 1 },
    Positive { name: "stream-context-version", comment: "A record id, a context and version 7: all bound through the wrap and the C2SP context.", n: 100, record_id: "dicom/ct-2026-03", context: "patient:4711/imaging", version: 7 },
];

struct Negative {
    name: &'static str,
    comment: &'static str,
    from: &'static str,
    edit: Edit,
    expect: &'static str,
}

enum Edit {
    Cut(usize),
    Flip(usize),
    Swap(usize, usize),
    Append(&'static [u8]),
}

const C0: usize = HEADER_LEN;
const NEGATIVES: &[Negative] = &[
    Negative {
        name: "neg-stream-header-only",
        comment: "Cut after the header: even an empty file has its last chunk.",
        from: "stream-empty",
        edit: Edit::Cut(C0),
        expect: "Truncated",
    },
    Negative {
        name: "neg-stream-cut-at-boundary",
        comment: "Cut after two full chunks: a chunk boundary, so the short last chunk is missing.",
        from: "stream-three-chunks",
        edit: Edit::Cut(C0 + 2 * SEALED_CHUNK_LEN),
        expect: "Truncated",
    },
    Negative {
        name: "neg-stream-empty-last-dropped",
        comment: "An exact multiple without its empty last chunk.",
        from: "stream-three-chunks",
        edit: Edit::Cut(C0 + 3 * SEALED_CHUNK_LEN),
        expect: "Truncated",
    },
    Negative {
        name: "neg-stream-cut-inside-chunk",
        comment: "Cut one byte short: the rest is taken as the last chunk and its tag fails.",
        from: "stream-chunk-plus-one",
        edit: Edit::Cut(C0 + SEALED_CHUNK_LEN + 16),
        expect: "DecryptionFailed",
    },
    Negative {
        name: "neg-stream-cut-inside-tag",
        comment: "Cut 5 bytes into a chunk: shorter than a tag, a length no writer produces.",
        from: "stream-three-chunks",
        edit: Edit::Cut(C0 + SEALED_CHUNK_LEN + 5),
        expect: "Malformed",
    },
    Negative {
        name: "neg-stream-swapped",
        comment: "Chunks 0 and 1 swapped: the nonce is bound to the position.",
        from: "stream-three-chunks",
        edit: Edit::Swap(0, 1),
        expect: "DecryptionFailed",
    },
    Negative {
        name: "neg-stream-appended",
        comment:
            "Bytes appended after the last chunk: the last chunk's tag fails at its new length.",
        from: "stream-chunk-plus-one",
        edit: Edit::Append(b"more"),
        expect: "DecryptionFailed",
    },
    Negative {
        name: "neg-stream-commitment",
        comment: "One bit of the commitment flipped: refused before any chunk is decrypted.",
        from: "stream-one-byte",
        edit: Edit::Flip(110),
        expect: "DecryptionFailed",
    },
    Negative {
        name: "neg-stream-version",
        comment: "The record version changed in the header (1 -> 3): the wrap's AAD covers it.",
        from: "stream-one-byte",
        edit: Edit::Flip(17),
        expect: "DecryptionFailed",
    },
    Negative {
        name: "neg-stream-chunk-bit",
        comment: "One bit of chunk 1's ciphertext flipped.",
        from: "stream-three-chunks",
        edit: Edit::Flip(C0 + SEALED_CHUNK_LEN + 100),
        expect: "DecryptionFailed",
    },
];

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn hkdf_sha256(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(&[]), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

/// HKDF-Expand-SHA512 to 76 bytes, as FORMAT.md §17.3 writes it out.
fn expand_sha512(prk: &[u8], info: &[u8]) -> Vec<u8> {
    let mut okm = Vec::new();
    let mut t: Vec<u8> = Vec::new();
    for i in 1u8..=2 {
        let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(prk).unwrap();
        m.update(&t);
        m.update(info);
        m.update(&[i]);
        t = m.finalize().into_bytes().to_vec();
        okm.extend_from_slice(&t);
    }
    okm.truncate(76);
    okm
}

fn lp(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn vault() -> Vault {
    seeded_vault(VAULT_SEED).0
}

fn seal_seed(name: &str) -> Vec<u8> {
    [VAULT_SEED, b"/", name.as_bytes()].concat()
}

fn render(comment: &str, fields: &[(&str, String)]) -> String {
    let mut s = String::new();
    for line in comment.lines() {
        s.push_str("# ");
        s.push_str(line);
        s.push('\n');
    }
    for (k, v) in fields {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(v);
        s.push('\n');
    }
    s
}

fn seal_positive(p: &Positive) -> (Vault, Vec<u8>) {
    let mut v = vault();
    deterministic::reseed(&mut v, &seal_seed(p.name));
    let c = RecordContext::with_context(p.record_id.as_bytes(), p.context.as_bytes());
    let sealed = v
        .seal_stream(&c, p.version)
        .unwrap()
        .seal_all(&plaintext(p.n))
        .unwrap();
    (v, sealed)
}

fn positive(p: &Positive) -> (String, Vec<u8>) {
    let (v, sealed) = seal_positive(p);
    let vk = deterministic::vault_key(&v);
    let wrap_key = hkdf_sha256(&vk, b"medseal/v1/vault/wrap-dek");
    let random = seeded_stream(&seal_seed(p.name), 68);
    let dek = &random[..32];
    let salt = &random[44..68];
    let input_key = hkdf_sha256(dek, b"medseal/v3/stream/key");
    let mut ctx = b"medseal/v3/stream/context".to_vec();
    ctx.extend_from_slice(b"msst\x01\x01");
    ctx.extend_from_slice(&p.version.to_be_bytes());
    ctx.extend(lp(p.record_id.as_bytes()));
    ctx.extend(lp(p.context.as_bytes()));
    let mut info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00".to_vec();
    info.extend_from_slice(salt);
    info.extend_from_slice(&ctx);
    let okm = expand_sha512(&input_key, &info);
    // What the core wrote agrees with the text: the commitment at 102..134.
    assert_eq!(&sealed[102..134], &okm[44..76], "{}: commitment", p.name);
    assert_eq!(&sealed[78..102], salt, "{}: salt", p.name);
    let mut fields = vec![
        ("expect", "success".to_string()),
        ("vault-key", hex(&vk)),
        ("wrap-key", hex(&wrap_key)),
        ("vault-id", hex(v.vault_id())),
        ("epoch", "1".to_string()),
        ("version", p.version.to_string()),
        ("record-id", p.record_id.to_string()),
        ("context", p.context.to_string()),
        ("random", hex(&random)),
        ("plaintext-length", p.n.to_string()),
        ("input-key", hex(&input_key)),
        ("chunk-key", hex(&okm[..32])),
        ("base-nonce", hex(&okm[32..44])),
        ("commitment", hex(&okm[44..76])),
        ("sealed-length", sealed.len().to_string()),
        ("sealed-sha256", hex(&Sha256::digest(&sealed))),
        ("header", hex(&sealed[..HEADER_LEN])),
    ];
    if sealed.len() <= FULL_HEX_MAX {
        fields.push(("sealed", hex(&sealed)));
    }
    let comment = format!(
        "{}\nSealed by the vault of seed {:?} reseeded with {:?} (FORMAT.md §17.6).",
        p.comment,
        String::from_utf8_lossy(VAULT_SEED),
        String::from_utf8_lossy(&seal_seed(p.name))
    );
    (render(&comment, &fields), sealed)
}

fn apply(sealed: &[u8], edit: &Edit) -> (Vec<u8>, (&'static str, String)) {
    let mut t = sealed.to_vec();
    let field = match edit {
        Edit::Cut(n) => {
            t.truncate(*n);
            ("cut", n.to_string())
        }
        Edit::Flip(i) => {
            t[*i] ^= if *i == 17 { 0x02 } else { 0x01 };
            ("flip", i.to_string())
        }
        Edit::Swap(a, b) => {
            let (x, y) = (C0 + a * SEALED_CHUNK_LEN, C0 + b * SEALED_CHUNK_LEN);
            let ca = sealed[x..x + SEALED_CHUNK_LEN].to_vec();
            let cb = sealed[y..y + SEALED_CHUNK_LEN].to_vec();
            t[x..x + SEALED_CHUNK_LEN].copy_from_slice(&cb);
            t[y..y + SEALED_CHUNK_LEN].copy_from_slice(&ca);
            ("swap", format!("{a},{b}"))
        }
        Edit::Append(bytes) => {
            t.extend_from_slice(bytes);
            ("append", hex(bytes))
        }
    };
    (t, field)
}

fn open_code(v: &Vault, sealed: &[u8], record_id: &str, context: &str) -> Result<Vec<u8>, String> {
    let c = RecordContext::with_context(record_id.as_bytes(), context.as_bytes());
    let mut out = Vec::new();
    v.open_stream(sealed.get(..HEADER_LEN).unwrap_or(sealed), &c)
        .and_then(|o| o.open_all(sealed, &mut out))
        .map_err(|e| e.code().to_string())?;
    Ok(out)
}

fn generate() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut sealed_of = BTreeMap::new();
    for p in POSITIVES {
        let (text, sealed) = positive(p);
        // It opens, to the plaintext, and the size helpers agree.
        let v = vault();
        assert_eq!(
            open_code(&v, &sealed, p.record_id, p.context).as_deref(),
            Ok(&plaintext(p.n)[..])
        );
        assert_eq!(
            stream::sealed_size(p.n as u64).unwrap(),
            sealed.len() as u64
        );
        files.insert(format!("{}.txt", p.name), text);
        sealed_of.insert(p.name, (sealed, p));
    }
    for n in NEGATIVES {
        let (sealed, p) = &sealed_of[n.from];
        assert!(
            sealed.len() <= FULL_HEX_MAX,
            "{}: derive from a vector written in full",
            n.name
        );
        let (edited, edit) = apply(sealed, &n.edit);
        let v = vault();
        assert_eq!(
            open_code(&v, &edited, p.record_id, p.context)
                .err()
                .as_deref(),
            Some(n.expect),
            "{}",
            n.name
        );
        let fields = vec![
            ("expect", n.expect.to_string()),
            ("from", format!("{}.txt", n.from)),
            (edit.0, edit.1),
        ];
        files.insert(format!("{}.txt", n.name), render(n.comment, &fields));
    }
    files
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/stream")
}

#[test]
fn stream_vectors_regenerate_identically_and_fail_as_named() {
    let files = generate();
    if std::env::var_os("MEDSEAL_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for (name, text) in &files {
            std::fs::write(dir().join(name), text).unwrap();
        }
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        files.keys().cloned().collect::<Vec<_>>(),
        "the vector files"
    );
    for (name, text) in &files {
        let disk = std::fs::read_to_string(dir().join(name)).unwrap();
        assert!(
            disk == *text,
            "{name} differs from what the writer makes now: the format changed"
        );
    }
    // The files alone (not the generator) open as they say.
    let v = vault();
    for p in POSITIVES {
        let f = parse_vector(&files[&format!("{}.txt", p.name)]);
        if let Some(s) = f.get("sealed") {
            let sealed = unhex(s);
            assert_eq!(
                open_code(&v, &sealed, &f["record-id"], &f["context"]).unwrap(),
                plaintext(p.n)
            );
        }
    }
}
