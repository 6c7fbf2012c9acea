//! Known-answer vectors in tests/vectors/*.txt.
//!
//! Each file is a set of `key: value` lines after `#` comments saying what it
//! proves, with an `expect:` line giving the result (`success` or an error
//! code). The test does two things with every file:
//! 1. checks it: unlock the manifest with the PRF output (or recovery code) it
//!    gives, open the sealed record with its record id and context, and
//!    compare with `expect` (and the plaintext); this is what a second
//!    implementation would run;
//! 2. regenerates it from its seed with the test-only seeded random source and
//!    requires the same bytes, so the writer is pinned as well as the reader.
//!
//! `MEDSEAL_WRITE_VECTORS=1 cargo test --test vectors` rewrites the files
//! (review the diff: a change means the format changed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use medseal::record::{self, RecordContext};
use medseal::vault::deterministic;
use medseal::{ContentType, Error, Manifest, PrfOutput, RecoveryCode, Vault};

struct Vector {
    name: &'static str,
    comment: &'static str,
    fields: Vec<(&'static str, String)>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn render(v: &Vector) -> String {
    let mut s = String::new();
    for line in v.comment.lines() {
        s.push_str("# ");
        s.push_str(line);
        s.push('\n');
    }
    for (k, val) in &v.fields {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(val);
        s.push('\n');
    }
    s
}

struct Base {
    manifest: Manifest,
    code: RecoveryCode,
    vault: Vault,
}

fn base(seed: &str) -> Base {
    let (vault, code) = common::seeded_vault(seed.as_bytes());
    Base {
        manifest: vault.manifest().clone(),
        code,
        vault,
    }
}

fn seal(b: &mut Base, seed: &str, pt: &[u8], id: &str, ctx: &[u8]) -> Vec<u8> {
    deterministic::reseed(&mut b.vault, seed.as_bytes());
    // JSON-looking plaintexts are sealed as JSON, the rest as bytes.
    let ct = if pt.starts_with(b"{") {
        ContentType::Json
    } else {
        ContentType::Bytes
    };
    b.vault
        .seal_as(ct, pt, &RecordContext::with_context(id.as_bytes(), ctx))
        .unwrap()
}

fn fields(
    b: &Base,
    expect: &str,
    unlock: Unlock,
    id: &str,
    ctx: &[u8],
    pt: Option<&[u8]>,
    sealed: &[u8],
) -> Vec<(&'static str, String)> {
    let mut f = vec![("expect", expect.to_string())];
    match unlock {
        Unlock::Prf(p) => {
            f.push(("credential-id", hex::encode(b"cred-1")));
            f.push(("prf-output", hex::encode(p)));
        }
        Unlock::Recovery(c) => f.push(("recovery-code", c)),
    }
    f.push(("record-id", id.to_string()));
    f.push(("context", hex::encode(ctx)));
    if let Some(pt) = pt {
        f.push((
            "content-type",
            if pt.starts_with(b"{") {
                "json"
            } else {
                "bytes"
            }
            .to_string(),
        ));
        f.push(("plaintext", hex::encode(pt)));
    }
    f.push(("manifest", b.manifest.to_json()));
    f.push(("sealed", record::to_text(sealed)));
    f
}

enum Unlock {
    Prf([u8; 32]),
    Recovery(String),
}

fn generate() -> Vec<Vector> {
    let mut out = Vec::new();
    let prf = common::prf(1);

    let mut b = base("vector-1");
    let pt = br#"{"type":"allergy","substance":"penicillin","reaction":"hives"}"#;
    let s = seal(&mut b, "vector-1/seal", pt, "rec-0001", b"");
    out.push(Vector {
        name: "v1-json-record.txt",
        comment: "A JSON record sealed under a vault created from a passkey PRF output.\nProves: the whole chain (PRF -> KEK -> vault key -> data key -> record) in format v1, with content type JSON.",
        fields: fields(&b, "success", Unlock::Prf(prf), "rec-0001", b"", Some(pt), &s),
    });
    let recovery_text = b.code.to_display_string();
    out.push(Vector {
        name: "v1-recovery-code.txt",
        comment: "The same record, the vault unlocked with its recovery code typed in lower case with spaces.\nProves: the recovery KEK derivation and forgiving code parsing.",
        fields: fields(&b, "success", Unlock::Recovery(recovery_text.to_lowercase().replace('-', " ")), "rec-0001", b"", Some(pt), &s),
    });
    out.push(Vector {
        name: "neg-wrong-record-id.txt",
        comment: "The record of v1-json-record opened as another record id.\nProves: the record id is bound as associated data (a record moved to another id fails).",
        fields: fields(&b, "DecryptionFailed", Unlock::Prf(prf), "rec-0002", b"", None, &s),
    });
    let mut flipped = s.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x01;
    out.push(Vector {
        name: "neg-flipped-body-bit.txt",
        comment:
            "One bit of the body ciphertext flipped.\nProves: tampering gives DecryptionFailed.",
        fields: fields(
            &b,
            "DecryptionFailed",
            Unlock::Prf(prf),
            "rec-0001",
            b"",
            None,
            &flipped,
        ),
    });
    let mut commit = s.clone();
    commit[70] ^= 0x80;
    out.push(Vector {
        name: "neg-flipped-commitment.txt",
        comment: "One bit of the key commitment flipped (body and wrapped key intact).\nProves: the commitment is checked before decryption.",
        fields: fields(&b, "DecryptionFailed", Unlock::Prf(prf), "rec-0001", b"", None, &commit),
    });
    let mut v2 = s.clone();
    v2[4] = 2;
    out.push(Vector {
        name: "neg-unknown-version.txt",
        comment: "The version byte set to 2.\nProves: an unknown version is its own error, not Malformed or DecryptionFailed.",
        fields: fields(&b, "UnknownVersion", Unlock::Prf(prf), "rec-0001", b"", None, &v2),
    });
    let mut magic = s.clone();
    magic[0] = b'X';
    out.push(Vector {
        name: "neg-bad-magic.txt",
        comment: "The magic changed.\nProves: input that is not a sealed record is Malformed.",
        fields: fields(
            &b,
            "Malformed",
            Unlock::Prf(prf),
            "rec-0001",
            b"",
            None,
            &magic,
        ),
    });
    out.push(Vector {
        name: "neg-truncated.txt",
        comment: "Cut to 100 bytes (shorter than header, wrapped key, commitment, nonce and tag).\nProves: truncation is Malformed.",
        fields: fields(&b, "Malformed", Unlock::Prf(prf), "rec-0001", b"", None, &s[..100]),
    });
    let mut wrong_prf = prf;
    wrong_prf[0] ^= 1;
    out.push(Vector {
        name: "neg-wrong-prf-output.txt",
        comment: "A PRF output one bit off (as when an authenticator returns another value than at set-up).\nProves: a wrong key is reported as UnlockFailed, before any record is touched.",
        fields: fields(&b, "UnlockFailed", Unlock::Prf(wrong_prf), "rec-0001", b"", None, &s),
    });
    let mut typo = recovery_text.clone().into_bytes();
    typo[5] = if typo[5] == b'7' { b'8' } else { b'7' };
    out.push(Vector {
        name: "neg-recovery-code-typo.txt",
        comment: "The recovery code with one character mistyped.\nProves: a typo is caught by the checksum (InvalidRecoveryCode), never tried as a key.",
        fields: fields(&b, "InvalidRecoveryCode", Unlock::Recovery(String::from_utf8(typo).unwrap()), "rec-0001", b"", None, &s),
    });
    let bad_sig = common::tamper(&b.manifest, |v| {
        common::edit_b64(&mut v["signature"], |sig| sig[5] ^= 1);
    });
    let good_manifest = std::mem::replace(&mut b.manifest, bad_sig);
    out.push(Vector {
        name: "neg-manifest-signature.txt",
        comment: "The manifest's signature altered by one bit.\nProves: a manifest not signed by the vault's identity key is refused (ManifestInvalid).",
        fields: fields(&b, "ManifestInvalid", Unlock::Prf(prf), "rec-0001", b"", None, &s),
    });
    b.manifest = good_manifest;
    let salt_changed = common::tamper(&b.manifest, |v| {
        let entry = &mut v["unlock"][0];
        assert_eq!(entry["type"], "passkey");
        common::edit_b64(&mut entry["prfSalt"], |salt| salt[0] ^= 1);
    });
    b.manifest = salt_changed;
    out.push(Vector {
        name: "neg-manifest-salt-changed.txt",
        comment: "The PRF salt of the passkey entry changed by the server.\nProves: the salt is bound to the wrapped vault key (UnlockFailed).",
        fields: fields(&b, "UnlockFailed", Unlock::Prf(prf), "rec-0001", b"", None, &s),
    });

    let mut b = base("vector-2");
    let pt2 = b"Hemoglobin A1c: 6.1 % (2026-11-02)";
    let ctx2 = b"patient:4711/labs";
    let s2 = seal(&mut b, "vector-2/seal", pt2, "lab-17", ctx2);
    out.push(Vector {
        name: "v1-with-context.txt",
        comment: "A record bound to a record id and a caller context.\nProves: context is part of the associated data and round-trips.",
        fields: fields(&b, "success", Unlock::Prf(prf), "lab-17", ctx2, Some(pt2), &s2),
    });
    out.push(Vector {
        name: "neg-wrong-context.txt",
        comment:
            "The record of v1-with-context opened without its context.\nProves: context binding.",
        fields: fields(
            &b,
            "DecryptionFailed",
            Unlock::Prf(prf),
            "lab-17",
            b"",
            None,
            &s2,
        ),
    });
    let s3 = seal(&mut b, "vector-2/empty", b"", "empty", b"");
    out.push(Vector {
        name: "v1-empty.txt",
        comment: "An empty plaintext.\nProves: padding to 256 bytes and its removal for the smallest input.",
        fields: fields(&b, "success", Unlock::Prf(prf), "empty", b"", Some(b""), &s3),
    });
    let big: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let s4 = seal(&mut b, "vector-2/padme", &big, "scan-1", b"");
    out.push(Vector {
        name: "v1-padme-1000.txt",
        comment: "A 1000-byte plaintext: with its content-type byte and terminator padded to Padme(1002) = 1024 bytes.\nProves: the Padme rule above the 256-byte floor.",
        fields: fields(&b, "success", Unlock::Prf(prf), "scan-1", b"", Some(&big), &s4),
    });
    let mut other = base("vector-3");
    let s5 = seal(
        &mut other,
        "vector-3/seal",
        b"from another vault",
        "rec-0001",
        b"",
    );
    out.push(Vector {
        name: "neg-other-vault.txt",
        comment: "A record sealed by another vault, presented with the same record id.\nProves: a record from another user's vault does not open.",
        fields: fields(&b, "DecryptionFailed", Unlock::Prf(prf), "rec-0001", b"", None, &s5),
    });
    out
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap_or((l.trim_end_matches(':'), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Runs one vector the way a second implementation would: from the file alone.
fn check(name: &str, text: &str) {
    let f = parse(text);
    let expect = f["expect"].as_str();
    let result: Result<(ContentType, Vec<u8>), Error> = (|| {
        let manifest = Manifest::from_json(&f["manifest"])?;
        let vault = if let Some(code) = f.get("recovery-code") {
            Vault::unlock_with_recovery_code(&manifest, &RecoveryCode::parse(code)?, 0)?
        } else {
            let cred = hex::decode(&f["credential-id"]).unwrap();
            let prf = PrfOutput::new(&hex::decode(&f["prf-output"]).unwrap())?;
            Vault::unlock_with_prf(&manifest, &cred, prf, 0)?
        };
        let ctx = hex::decode(&f["context"]).unwrap();
        let sealed = record::from_text(&f["sealed"])?;
        vault.open_typed(
            &sealed,
            &RecordContext::with_context(f["record-id"].as_bytes(), &ctx),
        )
    })();
    match (expect, result) {
        ("success", Ok((ct, pt))) => {
            assert_eq!(hex::encode(pt), f["plaintext"], "{name}");
            let want = if f["content-type"] == "json" {
                ContentType::Json
            } else {
                ContentType::Bytes
            };
            assert_eq!(ct, want, "{name}");
        }
        ("success", Err(e)) => panic!("{name}: expected success, got {e:?}"),
        (code, Ok(_)) => panic!("{name}: expected {code}, but it opened"),
        (code, Err(e)) => assert_eq!(e.code(), code, "{name}"),
    }
}

#[test]
fn vectors_open_as_expected_and_regenerate_identically() {
    let vectors = generate();
    let write = std::env::var_os("MEDSEAL_WRITE_VECTORS").is_some();
    for v in &vectors {
        let path = dir().join(v.name);
        let rendered = render(v);
        if write {
            std::fs::write(&path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run MEDSEAL_WRITE_VECTORS=1 cargo test --test vectors",
                v.name
            )
        });
        check(v.name, &on_disk);
        assert_eq!(
            on_disk, rendered,
            "{}: the writer no longer produces the vector's bytes",
            v.name
        );
    }
    // Every file in the folder is a vector this test knows.
    let known: Vec<_> = vectors.iter().map(|v| v.name).collect();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".txt") {
            assert!(
                known.contains(&name.as_str()),
                "{name} is not generated by this test"
            );
        }
    }
    assert!(
        vectors
            .iter()
            .filter(|v| v.name.starts_with("neg-"))
            .count()
            >= 10
    );
}
