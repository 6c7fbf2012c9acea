//! Known-answer vectors in tests/vectors/*.txt.
//!
//! Each file is a set of `key: value` lines after `#` comments saying what it
//! proves, with an `expect:` line giving the result (`success` or an error
//! code). Two kinds of files:
//!
//! - `v1-*.txt` and `neg-*.txt` were written by the format-1 writer, and
//!   `v2-*.txt` and `neg2-*.txt` by the format-2 writer; neither exists any
//!   more (medseal writes format 3 only). They are FROZEN: pinned by their
//!   SHA-256 in [`FROZEN`], never rewritten, and checked: each must open or
//!   fail exactly as its `expect:` says (formats 1 and 2 still read).
//! - `v3-*.txt` and `neg3-*.txt` are written by today's writer. The test
//!   checks each, then regenerates it from its seeds with the test-only
//!   seeded random source and requires the same bytes, so the writer is
//!   pinned as well as the reader.
//!
//! Checking a file is what a second implementation would run: unlock the
//! manifest with the PRF output (or recovery code) it gives, open the sealed
//! record with its record id and context, and compare with `expect` (and the
//! plaintext, content type, record version and key epoch).
//!
//! `MEDSEAL_WRITE_VECTORS=1 cargo test --test vectors` rewrites the v3 files
//! (review the diff: a change means the format changed). It never writes the
//! frozen files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use medseal::manifest::MAX_REVISION;
use medseal::record::{self, RecordContext, MIN_SEALED_LEN_V2};
use medseal::vault::deterministic;
use medseal::{ContentType, Error, Manifest, OpenedRecord, PrfOutput, RecoveryCode, Vault};
use sha2::Digest;

/// The files of the format-1 and format-2 writers, with the SHA-256 of their bytes.
const FROZEN: &[(&str, &str)] = &[
    (
        "neg-bad-magic.txt",
        "bdf513c0a9d4b592898a3bc553fc0e781afe185a85236b7127e37f2ab06f7b16",
    ),
    (
        "neg-flipped-body-bit.txt",
        "3e92afe9ca2cb53486e3692e39505abb08631e233d44739f24715445db5233c6",
    ),
    (
        "neg-flipped-commitment.txt",
        "d8b602d5dc699d01d553ea63ba4692242ed6a32cb81455f4db67d282dabf324a",
    ),
    (
        "neg-manifest-salt-changed.txt",
        "5b177dbe37d37fdf6968724f4063f572123918c2290429ebcaf54db845dc8903",
    ),
    (
        "neg-manifest-signature.txt",
        "9a312e223612673ad920f1248583338e2bbdd12ac02f086c3a054100afbd735d",
    ),
    (
        "neg-other-vault.txt",
        "41cd9ba929e031bf852336e23afa33e676b0adc7fc175d30264b439da9974d1d",
    ),
    (
        "neg-recovery-code-typo.txt",
        "e968b74fbbf0b9ce04e92f93777242a64d32863db1f15b3ff5ffb5fd4662230c",
    ),
    (
        "neg-truncated.txt",
        "1c02c12e10b9ae523e1ed124da686be2e86178dab53564fd0d1fdeca8b3eb052",
    ),
    (
        "neg-unknown-version.txt",
        "cb4e16324468b1be0b3fddc3863f76366a0ba9e609efba0bbdf88619384a5a4a",
    ),
    (
        "neg-wrong-context.txt",
        "a34561d31e6a7e75388c0147b0c3a1b59bc187c8120a8635544a70ef314d1369",
    ),
    (
        "neg-wrong-prf-output.txt",
        "45429fe1be21db817b849d871b597c39d3c25d931f95953904311eb4c30c7003",
    ),
    (
        "neg-wrong-record-id.txt",
        "7355c60d6cc60282627a48668e8cbe00aebc26e71d64e03ca2e89b509301550c",
    ),
    (
        "v1-empty.txt",
        "cd53f5843193c4148d3e88a9241ae57baea979c1700f3257cdd292302abdc4d1",
    ),
    (
        "v1-json-record.txt",
        "71d058a0a3ac963465bc294a953681aa89ca1dab59ac751b87a01f14d0f6a749",
    ),
    (
        "v1-padme-1000.txt",
        "bbc5aefc3d9746b9d818cf386f0ca8e102c91d580360a30493c2f385cf18c784",
    ),
    (
        "v1-recovery-code.txt",
        "9a60e7d5e61fcb355d37b78da057319eacabf654ffc8be3d4c5111965388cd3e",
    ),
    (
        "v1-with-context.txt",
        "c324a3a5eed6aa4a4778678015c33dac9fd6db378d426945cb3a0a0f9fe485e9",
    ),
    // The format-2 writer's files (frozen when format 3 came, issue #14).
    (
        "neg2-flipped-body-bit.txt",
        "bb546a93b61e115849d0f0d808c7e9e2f058b1f1b54e942e2fddc0ed00bf8f40",
    ),
    (
        "neg2-flipped-commitment.txt",
        "2fb07850ef40d5319a34e26840ad19286abec4562a12467e4e337cf0e9073890",
    ),
    (
        "neg2-high-s.txt",
        "27a21609b71261b1549d9f484628a10703ebf7d46c39ec9876e8bd76ea2cffe1",
    ),
    (
        "neg2-removed-passkey-old-manifest.txt",
        "ca6e4cbd903301a17e925dd528aab0cbc9f57d3042826d250553b6c06b3ceecf",
    ),
    (
        "neg2-removed-passkey.txt",
        "9878c4d6bbe8932b764ef8c3f89c7743c869ad6545fc1abd89fd407f66138a4f",
    ),
    (
        "neg2-retired-epoch.txt",
        "f9c9e3126b8cd8f88abb4425f9175776e7a8b98e230d6076d21c0eccacf48668",
    ),
    (
        "neg2-revision-overflow.txt",
        "be6982db58a63493edfa493d2d8e88912d5cda490c5d90108343fbf495fe74d9",
    ),
    (
        "neg2-text-prefix-mismatch.txt",
        "7a8a50a7200b4311ec42ecafac077dd29b93e1098d9e905b0d8969741a0ff22b",
    ),
    (
        "neg2-tombstone.txt",
        "7db3d4340093fe1c58a5348b1a9404aa2bf3cc8a74849c794b90387529dd08de",
    ),
    (
        "neg2-truncated.txt",
        "66d97589be862461cd8cff128737189badfd6604356c051963b774d8262b545c",
    ),
    (
        "neg2-unknown-version.txt",
        "79e1d3128ac6634ffc4f4e6b522ee66a4699b882d352f6bb3dde1e325da00891",
    ),
    (
        "neg2-version-changed.txt",
        "a5f52059ea3fe9ea89585696fe5433c97f5348e5236413f6c1e7dac597e59e75",
    ),
    (
        "v2-after-rekey.txt",
        "5796727b4503edfd4358b515223edbf323cab7aabd84311f123ea351bc0738a2",
    ),
    (
        "v2-after-removal.txt",
        "bcc5b23ca26af5abfcd818d598fa93de0fed4b0b4d6b11191e119f464da00080",
    ),
    (
        "v2-epoch-1-after-rekey.txt",
        "dabde6d7516c740d98a35bb9d0a0b723510af53de55301303d3713128aa6a04e",
    ),
    (
        "v2-json-record.txt",
        "ea70d3a7708ecf997152115116b2128b753a4b561e3c982c62bacdf2916af238",
    ),
    (
        "v2-max-revision.txt",
        "5dcf9243101b2b28a4f8de1ee5beaa5e9b7ada9010eef13a88e30bd9c2c99e47",
    ),
    (
        "v2-recovery-code.txt",
        "9639044ce44a9abaeed6a3427b6ca76cda4e3b4da4bf61de930f6dc2916dfdfb",
    ),
    (
        "v2-rewrapped.txt",
        "b16cf2687065dde95d8c8c3e27bd6d204ef469a89ca19c99a656c644534648cc",
    ),
    (
        "v2-upgraded-from-v1.txt",
        "a6d28cfee22b88b229c213f6319b28607aa96aa15a23bebad7d6feafdaa83714",
    ),
    (
        "v2-upgraded-recovery-code.txt",
        "eef77adcbe2c7c1e6b26022b30d44615a83de023af0e55b52f00c088193a20ee",
    ),
    (
        "v2-version-3.txt",
        "72aca5dd40dc7ef104ba53705b7cd0181ae3ef1f7988fd4afe279369798ff0af",
    ),
    (
        "v2-with-context.txt",
        "0cc3e8d743f01fb9e9db77e5438214e9fa1252b741c224c23397aea5afdee836",
    ),
];

/// Frozen files whose `expect:` no format-2 reader can give, because
/// format 2 gave meaning to what they used as unknown: the file, what it
/// says, what it now gives (exactly), and why.
const SUPERSEDED: &[(&str, &str, Error, &str)] = &[(
    "neg-unknown-version.txt",
    "UnknownVersion",
    Error::Malformed("sealed record text prefix does not match its version"),
    "it sets the version byte of a v1 record to 2, unknown when it was written; \
     format 2 knows version 2, and `ms1.` before a version 2 header is a prefix \
     mismatch (as neg2-text-prefix-mismatch); neg2-unknown-version (byte 3) now \
     proves what this file did",
)];

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

/// JSON-looking plaintexts are sealed as JSON, the rest as bytes.
fn content_type(pt: &[u8]) -> ContentType {
    if pt.starts_with(b"{") {
        ContentType::Json
    } else {
        ContentType::Bytes
    }
}

/// Seals version `version` of a record, the vault's random source restarted
/// from `seed`.
fn seal(b: &mut Base, seed: &str, pt: &[u8], id: &str, ctx: &[u8], version: u64) -> Vec<u8> {
    deterministic::reseed(&mut b.vault, seed.as_bytes());
    b.vault
        .seal_version(
            content_type(pt),
            pt,
            &RecordContext::with_context(id.as_bytes(), ctx),
            version,
        )
        .unwrap()
}

#[derive(Clone)]
enum Unlock {
    Prf(&'static [u8], [u8; 32]),
    Recovery(String),
}

/// What a success vector's record holds.
struct Content<'a> {
    plaintext: &'a [u8],
    version: u64,
    epoch: u32,
}

fn fields(
    manifest: &Manifest,
    expect: &str,
    unlock: Unlock,
    id: &str,
    ctx: &[u8],
    content: Option<Content<'_>>,
    sealed: String,
) -> Vec<(&'static str, String)> {
    let mut f = vec![("expect", expect.to_string())];
    match unlock {
        Unlock::Prf(cred, p) => {
            f.push(("credential-id", hex::encode(cred)));
            f.push(("prf-output", hex::encode(p)));
        }
        Unlock::Recovery(c) => f.push(("recovery-code", c)),
    }
    f.push(("record-id", id.to_string()));
    f.push(("context", hex::encode(ctx)));
    if let Some(c) = content {
        let ct = match content_type(c.plaintext) {
            ContentType::Json => "json",
            _ => "bytes",
        };
        f.push(("content-type", ct.to_string()));
        f.push(("plaintext", hex::encode(c.plaintext)));
        f.push(("record-version", c.version.to_string()));
        f.push(("key-epoch", c.epoch.to_string()));
    }
    f.push(("manifest", manifest.to_json()));
    f.push(("sealed", sealed));
    f
}

/// A success vector's content at version 1, epoch 1.
fn ok(plaintext: &[u8]) -> Option<Content<'_>> {
    Some(Content {
        plaintext,
        version: 1,
        epoch: 1,
    })
}

fn text(sealed: &[u8]) -> String {
    record::to_text(sealed)
}

/// Offset of the revision in a v2 manifest's signed bytes (FORMAT.md 14.4):
/// after lp("medseal/v2/manifest/signature") (4 + 29), u64be(version) (8)
/// and lp(vault_id) (4 + 16).
const SIGNED_REVISION_AT: usize = 4 + 29 + 8 + 4 + 16;

fn generate() -> Vec<Vector> {
    let mut out = Vec::new();
    let prf1 = common::prf(1);
    let prf2 = common::prf(2);
    let cred1: &'static [u8] = b"cred-1";
    let cred2: &'static [u8] = b"cred-2";

    // --- Vault v2/vector-1: one JSON record, its versions, and tampering.
    let mut b = base("v2/vector-1");
    let pt = br#"{"type":"allergy","substance":"penicillin","reaction":"hives"}"#;
    let s = seal(&mut b, "v2/vector-1/seal", pt, "rec-0001", b"", 1);
    out.push(Vector {
        name: "v3-json-record.txt",
        comment: "A JSON record sealed under a vault created from a passkey PRF output.\nProves: the whole chain in format 3 (manifest v3, record v2; PRF -> KEK -> HPKE entry key -> vault key -> data key -> record), content type JSON, header epoch 1 and record version 1.",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred1, prf1), "rec-0001", b"", ok(pt), text(&s)),
    });
    let recovery_text = b.code.to_display_string();
    out.push(Vector {
        name: "v3-recovery-code.txt",
        comment: "The record of v3-json-record, the vault unlocked with its recovery code typed in lower case with spaces.\nProves: the recovery KEK and its HPKE entry key in a v3 manifest, and forgiving code parsing.",
        fields: fields(&b.manifest, "success", Unlock::Recovery(recovery_text.to_lowercase().replace('-', " ")), "rec-0001", b"", ok(pt), text(&s)),
    });
    let edited = br#"{"type":"allergy","substance":"penicillin","reaction":"anaphylaxis"}"#;
    let s3 = seal(&mut b, "v2/vector-1/version-3", edited, "rec-0001", b"", 3);
    out.push(Vector {
        name: "v3-version-3.txt",
        comment: "Version 3 of the record of v3-json-record (an edit), sealed under the same record id.\nProves: the record version is read from the header (u64be at offset 10) and bound into both AADs.",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred1, prf1), "rec-0001", b"", Some(Content { plaintext: edited, version: 3, epoch: 1 }), text(&s3)),
    });
    let mut relabelled = s3.clone();
    relabelled[17] = 2;
    out.push(Vector {
        name: "neg3-version-changed.txt",
        comment: "The record of v3-version-3 with its header's version changed from 3 to 2 (byte 17).\nProves: the version is authenticated: a server cannot pass one version off as another (DecryptionFailed).",
        fields: fields(&b.manifest, "DecryptionFailed", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&relabelled)),
    });
    deterministic::reseed(&mut b.vault, b"v2/vector-1/tombstone");
    let tomb = b
        .vault
        .seal_tombstone(&RecordContext::new(b"rec-0001"), 4)
        .unwrap();
    assert_eq!(tomb.len(), MIN_SEALED_LEN_V2 + 256, "as an empty record");
    out.push(Vector {
        name: "neg3-tombstone.txt",
        comment: "A tombstone (content type 2, empty content) sealed as version 4 of the record of v3-json-record.\nProves: a deleted record opens as RecordDeleted, not as data; the tombstone is a sealed record like any other (same size as an empty one).",
        fields: fields(&b.manifest, "RecordDeleted", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&tomb)),
    });
    out.push(Vector {
        name: "neg3-text-prefix-mismatch.txt",
        comment: "The bytes of v3-json-record's record under the text prefix ms1. instead of ms2.\nProves: the text prefix must name the header's version (Malformed), before anything is decrypted.",
        fields: fields(&b.manifest, "Malformed", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, format!("ms1.{}", &text(&s)[4..])),
    });
    let mut v3 = s.clone();
    v3[4] = 3;
    out.push(Vector {
        name: "neg3-unknown-version.txt",
        comment: "The record of v3-json-record with its version byte set to 3.\nProves: an unknown record version is its own error (UnknownVersion), not Malformed or DecryptionFailed.",
        fields: fields(&b.manifest, "UnknownVersion", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&v3)),
    });
    out.push(Vector {
        name: "neg3-truncated.txt",
        comment: "The record of v3-json-record cut to 137 bytes, one less than the version 2 minimum (122-byte prefix and tag).\nProves: the minimum length depends on the version: 138 for version 2 (Malformed).",
        fields: fields(&b.manifest, "Malformed", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&s[..MIN_SEALED_LEN_V2 - 1])),
    });
    let mut commit = s.clone();
    commit[78] ^= 0x80;
    out.push(Vector {
        name: "neg3-flipped-commitment.txt",
        comment: "One bit of the key commitment (offset 78 in version 2) flipped; wrapped key and body intact.\nProves: the commitment is checked (DecryptionFailed).",
        fields: fields(&b.manifest, "DecryptionFailed", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&commit)),
    });
    let mut flipped = s.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x01;
    out.push(Vector {
        name: "neg3-flipped-body-bit.txt",
        comment: "One bit of the body ciphertext of v3-json-record's record flipped.\nProves: tampering with a version 2 body gives DecryptionFailed.",
        fields: fields(&b.manifest, "DecryptionFailed", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&flipped)),
    });
    let sig = common::unb64(
        &serde_json::from_str::<serde_json::Value>(&b.manifest.to_json()).unwrap()["signature"],
    );
    assert!(!common::is_high_s(&sig), "the writer signs low-S");
    let high_s = common::tamper(&b.manifest, |v| {
        common::edit_b64(&mut v["signature"], |sig| *sig = common::negate_s(sig));
    });
    out.push(Vector {
        name: "neg3-high-s.txt",
        comment: "v3-json-record with the manifest's signature (r, s) replaced by (r, n - s): the same signature in its other, high-S encoding.\nProves: a v3 manifest signature must be low-S (ManifestInvalid); v1 manifests accept either.",
        fields: fields(&high_s, "ManifestInvalid", Unlock::Prf(cred1, prf1), "rec-0001", b"", None, text(&s)),
    });

    // --- Vault v2/vector-2: a record with a caller context.
    let mut b = base("v2/vector-2");
    let pt2 = b"Hemoglobin A1c: 6.1 % (2026-11-02)";
    let ctx2 = b"patient:4711/labs";
    let s2 = seal(&mut b, "v2/vector-2/seal", pt2, "lab-17", ctx2, 1);
    out.push(Vector {
        name: "v3-with-context.txt",
        comment: "A record bound to a record id and a caller context, in format 2.\nProves: the context is part of both AADs (DEK wrap and body) and round-trips.",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred1, prf1), "lab-17", ctx2, ok(pt2), text(&s2)),
    });

    // --- Vault v2/vector-4: a re-key, records of both epochs, a re-wrap,
    // the old epoch retired.
    let mut b = base("v2/vector-4");
    let pt_a = b"Blood pressure 128/84 mmHg (2026-03-01)";
    let pt_b = b"Blood pressure 121/79 mmHg (2026-04-01)";
    let s_a = seal(&mut b, "v2/vector-4/epoch-1", pt_a, "bp-1", b"", 1);
    deterministic::reseed(&mut b.vault, b"v2/vector-4/rekey");
    b.manifest = b.vault.rekey().unwrap().clone();
    assert_eq!((b.manifest.epoch(), b.manifest.revision()), (2, 2));
    let s_b = seal(&mut b, "v2/vector-4/epoch-2", pt_b, "bp-2", b"", 1);
    out.push(Vector {
        name: "v3-after-rekey.txt",
        comment: "The vault re-keyed once (epoch 2: new vault key sealed to every entry, new identity key handed over by the old one), then a record sealed.\nProves: a manifest with an older epoch (epochs[], hand-over signature) unlocks, and a record of epoch 2 opens.",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred1, prf1), "bp-2", b"", Some(Content { plaintext: pt_b, version: 1, epoch: 2 }), text(&s_b)),
    });
    out.push(Vector {
        name: "v3-epoch-1-after-rekey.txt",
        comment: "A record sealed in epoch 1, before the re-key of v3-after-rekey, opened with the manifest after it.\nProves: the epoch-1 vault key, wrapped by the epoch-2 one in epochs[], still opens older records.",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred1, prf1), "bp-1", b"", Some(Content { plaintext: pt_a, version: 1, epoch: 1 }), text(&s_a)),
    });
    deterministic::reseed(&mut b.vault, b"v2/vector-4/rewrap");
    let rewrapped = b
        .vault
        .rewrap(&s_a, &RecordContext::new(b"bp-1"))
        .unwrap()
        .unwrap();
    assert_eq!(rewrapped[110..], s_a[110..], "nonce, body and tag kept");
    assert_eq!(rewrapped[78..110], s_a[78..110], "commitment kept");
    deterministic::reseed(&mut b.vault, b"v2/vector-4/retire");
    b.manifest = b.vault.retire_epochs().unwrap().clone();
    out.push(Vector {
        name: "v3-rewrapped.txt",
        comment: "The record of v3-epoch-1-after-rekey re-wrapped under epoch 2 (new header epoch and wrapped key; commitment, nonce, body and tag unchanged), opened after epoch 1 was retired.\nProves: the body's AAD does not cover the wrapped key or epoch, so a re-wrap keeps the body valid.",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred1, prf1), "bp-1", b"", Some(Content { plaintext: pt_a, version: 1, epoch: 2 }), text(&rewrapped)),
    });
    out.push(Vector {
        name: "neg3-retired-epoch.txt",
        comment: "The record of v3-epoch-1-after-rekey (epoch 1, not re-wrapped), opened with the manifest of v3-rewrapped, where epoch 1's vault key was dropped.\nProves: a retired epoch's records no longer open (DecryptionFailed).",
        fields: fields(&b.manifest, "DecryptionFailed", Unlock::Prf(cred1, prf1), "bp-1", b"", None, text(&s_a)),
    });

    // --- Vault v2/vector-5: a second passkey added, the first removed.
    let mut b = base("v2/vector-5");
    deterministic::reseed(&mut b.vault, b"v2/vector-5/add");
    let salt2 = deterministic::prf_salt(b"v2/vector-5/salt-2");
    let before = b
        .vault
        .add_passkey(common::passkey(cred2, salt2, prf2))
        .unwrap()
        .clone();
    let first = common::passkey_entry_id(&before, cred1);
    deterministic::reseed(&mut b.vault, b"v2/vector-5/remove");
    b.manifest = b.vault.remove_unlock(&first).unwrap().clone();
    assert_eq!((b.manifest.epoch(), b.manifest.revision()), (2, 3));
    let pt5 = br#"{"type":"medication","name":"metformin","dose":"500 mg"}"#;
    let s5 = seal(&mut b, "v2/vector-5/seal", pt5, "med-1", b"", 1);
    // The old manifest still unlocks with the removed passkey: the failure
    // below is the record's.
    let stale = Vault::unlock_with_prf(&before, cred1, PrfOutput::new(&prf1).unwrap(), 0).unwrap();
    assert_eq!(
        stale.open(&s5, &RecordContext::new(b"med-1")).unwrap_err(),
        Error::DecryptionFailed
    );
    out.push(Vector {
        name: "v3-after-removal.txt",
        comment: "A vault with two passkeys (cred-1, cred-2) after cred-1 was removed (a re-key to epoch 2), unlocked with cred-2 (prf(2)); a record sealed after the removal.\nProves: the remaining passkey opens the new epoch without its authenticator at the re-key (HPKE to its entry key).",
        fields: fields(&b.manifest, "success", Unlock::Prf(cred2, prf2), "med-1", b"", Some(Content { plaintext: pt5, version: 1, epoch: 2 }), text(&s5)),
    });
    out.push(Vector {
        name: "neg3-removed-passkey.txt",
        comment: "The manifest of v3-after-removal, unlocked with the removed passkey cred-1 (prf(1)).\nProves: a removed passkey has no entry (UnknownUnlockEntry).",
        fields: fields(&b.manifest, "UnknownUnlockEntry", Unlock::Prf(cred1, prf1), "med-1", b"", None, text(&s5)),
    });
    out.push(Vector {
        name: "neg3-removed-passkey-old-manifest.txt",
        comment: "The manifest from before the removal (revision 2, epoch 1), which the removed passkey cred-1 still unlocks, and the record of v3-after-removal, sealed after it.\nProves: a removed passkey, even with an old manifest kept, does not open what is sealed after its removal: the new epoch's key is unknown to it (DecryptionFailed).",
        fields: fields(&before, "DecryptionFailed", Unlock::Prf(cred1, prf1), "med-1", b"", None, text(&s5)),
    });

    // --- Vault v2/vector-6: revision bounds, signed by the vault itself.
    let mut b = base("v2/vector-6");
    deterministic::reseed(&mut b.vault, b"v2/vector-6/add");
    let salt2 = deterministic::prf_salt(b"v2/vector-6/salt-2");
    let m2 = b
        .vault
        .add_passkey(common::passkey(cred2, salt2, prf2))
        .unwrap()
        .clone();
    let pt6 = b"Vaccination: tetanus booster (2026-05-12)";
    let s6 = seal(&mut b, "v2/vector-6/seal", pt6, "vax-1", b"", 1);
    // The vault's own identity key, from the seeded stream (FORMAT.md 12.4).
    let identity = common::seeded_identity(b"v2/vector-6");
    assert_eq!(common::public_key(&identity), m2.identity_public_key());
    let at_max = common::tamper_and_sign(&m2, &identity, |v| v["revision"] = MAX_REVISION.into());
    assert_eq!(at_max.revision(), MAX_REVISION);
    out.push(Vector {
        name: "v3-max-revision.txt",
        comment: "A manifest at revision 2^53 - 1 (9007199254740991), re-signed with the vault's own identity key.\nProves: the highest revision is accepted (the bound of neg3-revision-overflow is exact).",
        fields: fields(&at_max, "success", Unlock::Prf(cred1, prf1), "vax-1", b"", ok(pt6), text(&s6)),
    });
    // Revision 2^53: no `Manifest` holds it (the parser refuses it), so the
    // signed bytes are those of `at_max` with the revision field replaced.
    let mut signed = deterministic::manifest_signed_bytes(&at_max);
    let field = SIGNED_REVISION_AT..SIGNED_REVISION_AT + 8;
    assert_eq!(signed[field.clone()], MAX_REVISION.to_be_bytes());
    signed[field].copy_from_slice(&(MAX_REVISION + 1).to_be_bytes());
    let sig = common::sign_low_s(&identity, &signed);
    let json = at_max.to_json();
    let old_sig =
        common::unb64(&serde_json::from_str::<serde_json::Value>(&json).unwrap()["signature"]);
    let from = [
        format!("\"revision\":{MAX_REVISION},"),
        format!("\"signature\":\"{}\"", common::b64(&old_sig)),
    ];
    let to = [
        format!("\"revision\":{},", MAX_REVISION + 1),
        format!("\"signature\":\"{}\"", common::b64(&sig)),
    ];
    let mut overflow = json.clone();
    for (f, t) in from.iter().zip(&to) {
        assert_eq!(overflow.matches(f.as_str()).count(), 1);
        overflow = overflow.replace(f.as_str(), t);
    }
    assert_eq!(
        Manifest::from_json(&overflow).unwrap_err(),
        Error::ManifestInvalid
    );
    let mut f = fields(
        &at_max,
        "ManifestInvalid",
        Unlock::Prf(cred1, prf1),
        "vax-1",
        b"",
        None,
        text(&s6),
    );
    for (k, v) in &mut f {
        if *k == "manifest" {
            *v = overflow.clone();
        }
    }
    out.push(Vector {
        name: "neg3-revision-overflow.txt",
        comment: "The manifest of v3-max-revision at revision 2^53 (9007199254740992), validly re-signed with the vault's own identity key.\nProves: revisions above 2^53 - 1 are refused by the structure rules (ManifestInvalid), whoever signed them.",
        fields: f,
    });

    // --- A vault of the format-1 writer (v1-json-record.txt, frozen),
    // changed once by today's writer: upgraded to a v3 manifest.
    let v1 = common::vector_file("v1-json-record.txt");
    let v1_manifest = Manifest::from_json(&v1["manifest"]).unwrap();
    let mut upgraded =
        Vault::unlock_with_prf(&v1_manifest, cred1, PrfOutput::new(&prf1).unwrap(), 0).unwrap();
    deterministic::reseed(&mut upgraded, b"v2/upgrade/add");
    let salt2 = deterministic::prf_salt(b"v2/upgrade/salt-2");
    let m_up = upgraded
        .add_passkey(common::passkey(cred2, salt2, prf2))
        .unwrap()
        .clone();
    assert_eq!((m_up.version(), m_up.epoch(), m_up.revision()), (3, 1, 2));
    let v1_pt = hex::decode(&v1["plaintext"]).unwrap();
    let v1_code = common::vector_file("v1-recovery-code.txt")["recovery-code"].clone();
    out.push(Vector {
        name: "v3-upgraded-from-v1.txt",
        comment: "The vault of v1-json-record after one change by the format-3 writer (a passkey added): a v3 manifest, revision 2, whose parent is the v1 manifest's hash; the passkey entry used got its HPKE key, the recovery entry is still v1. The record is v1-json-record's, in format 1.\nProves: a format-1 record opens under an upgraded manifest, through an upgraded passkey entry.",
        fields: fields(&m_up, "success", Unlock::Prf(cred1, prf1), "rec-0001", b"", ok(&v1_pt), v1["sealed"].clone()),
    });
    out.push(Vector {
        name: "v3-upgraded-recovery-code.txt",
        comment: "The manifest of v3-upgraded-from-v1, unlocked with the recovery code of v1-recovery-code (as typed there).\nProves: a v1 recovery entry (AES-GCM wrapped vault key, no public key) carried over into a v3 manifest in epoch 1 still unlocks.",
        fields: fields(&m_up, "success", Unlock::Recovery(v1_code), "rec-0001", b"", ok(&v1_pt), v1["sealed"].clone()),
    });
    out
}

/// Unlocks and opens as the file says (docs/FORMAT.md 12.2).
fn run(f: &std::collections::BTreeMap<String, String>) -> Result<OpenedRecord, Error> {
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
    vault.open_record(
        &sealed,
        &RecordContext::with_context(f["record-id"].as_bytes(), &ctx),
    )
}

/// Runs one vector the way a second implementation would: from the file alone.
fn check(name: &str, text: &str) {
    let f = common::parse_vector(text);
    if let Some((_, said, now, why)) = SUPERSEDED.iter().find(|s| s.0 == name) {
        assert_eq!(f["expect"], *said, "{name}");
        assert_eq!(run(&f).unwrap_err(), *now, "{name}: {why}");
        return;
    }
    let expect = f["expect"].as_str();
    match (expect, run(&f)) {
        ("success", Ok(r)) => {
            assert_eq!(hex::encode(&r.data), f["plaintext"], "{name}");
            let want = if f["content-type"] == "json" {
                ContentType::Json
            } else {
                ContentType::Bytes
            };
            assert_eq!(r.content_type, want, "{name}");
            // Absent in the format-1 files: version 1 in epoch 1.
            let field = |k: &str| f.get(k).map_or("1", String::as_str).to_string();
            assert_eq!(
                r.meta.version.to_string(),
                field("record-version"),
                "{name}"
            );
            assert_eq!(r.meta.epoch.to_string(), field("key-epoch"), "{name}");
            let format = if f["sealed"].starts_with("ms1.") {
                1
            } else {
                2
            };
            assert_eq!(r.meta.format, format, "{name}");
        }
        ("success", Err(e)) => panic!("{name}: expected success, got {e:?}"),
        (code, Ok(_)) => panic!("{name}: expected {code}, but it opened"),
        (code, Err(e)) => assert_eq!(e.code(), code, "{name}: {e:?}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn frozen_format_1_vectors_are_unchanged_and_open_as_expected() {
    for (name, hash) in FROZEN {
        let on_disk = std::fs::read(dir().join(name))
            .unwrap_or_else(|_| panic!("{name}: a frozen vector is missing"));
        assert_eq!(
            sha256_hex(&on_disk),
            *hash,
            "{name}: a frozen vector changed (format-1 files are never rewritten)"
        );
        check(name, std::str::from_utf8(&on_disk).unwrap());
    }
    assert!(FROZEN.iter().filter(|(n, _)| n.starts_with("neg-")).count() >= 10);
}

#[test]
fn vectors_open_as_expected_and_regenerate_identically() {
    let vectors = generate();
    for v in &vectors {
        assert!(
            v.name.starts_with("v3-") || v.name.starts_with("neg3-"),
            "{}: only format-3 files are generated",
            v.name
        );
        assert!(!FROZEN.iter().any(|(n, _)| *n == v.name), "{}", v.name);
        let rendered = render(v);
        let on_disk = common::vector_on_disk(
            &dir().join(v.name),
            &rendered,
            "MEDSEAL_WRITE_VECTORS",
            "cargo test --test vectors",
        );
        check(v.name, &on_disk);
        assert_eq!(
            on_disk, rendered,
            "{}: the writer no longer produces the vector's bytes",
            v.name
        );
    }
    // Every file in the folder is a vector this test knows.
    let known: Vec<_> = vectors
        .iter()
        .map(|v| v.name)
        .chain(FROZEN.iter().map(|(n, _)| *n))
        .collect();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".txt") {
            assert!(
                known.contains(&name.as_str()),
                "{name} is neither generated nor frozen"
            );
        }
    }
    assert!(
        vectors
            .iter()
            .filter(|v| v.name.starts_with("neg3-"))
            .count()
            >= 10
    );
}
