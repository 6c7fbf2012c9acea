//! Review of the export reader (FORMAT.md §19). Each test is written as the
//! attack and asserts what the format promises; each failed (the attack
//! succeeded) before the reader was fixed, and passes since.
//!
//! Run: flock /tmp/medseal-build.lock cargo test --locked --test review_export

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use medseal::export::{self, ExportReader, Item, ItemKind};
use medseal::log::merkle::leaf_hash;
use medseal::log::note::{origin_for, Checkpoint};
use medseal::log::ServerLogKey;
use medseal::vault::deterministic;
use medseal::{RecordContext, RecoveryCode, Vault};

fn push(plain: &mut Vec<u8>, kind: ItemKind, meta: &str, body: &[u8]) {
    plain.extend_from_slice(&export::frame(kind, meta, body.len() as u64).unwrap());
    plain.extend_from_slice(body);
}

fn header_meta(v: &Vault) -> String {
    format!(
        r#"{{"medseal":"export","version":1,"vaultId":"{}","created":1}}"#,
        b64(v.vault_id())
    )
}

/// Seals `plain` as the stream of an export whose prefix is `prefix_manifest`
/// with `sealer`'s keys (its newest epoch).
fn seal_export(sealer: &mut Vault, prefix_manifest: &str, plain: &[u8]) -> Vec<u8> {
    let mut out = export::prefix(prefix_manifest).unwrap();
    let c = export::context(&out);
    let sealed = sealer
        .seal_stream(&RecordContext::with_context(export::RECORD_ID, &c), 1)
        .unwrap()
        .seal_all(plain)
        .unwrap();
    out.extend_from_slice(&sealed);
    out
}

/// The records' (id, plaintext) pairs and the log's size, if any.
type ReadBack = (Vec<(String, Vec<u8>)>, Option<u64>);

/// Reads everything; returns the records' (id, plaintext) and the log size.
fn read_all(bytes: &[u8], code: &RecoveryCode) -> medseal::Result<ReadBack> {
    let mut r = ExportReader::open(bytes, code)?;
    let mut recs = Vec::new();
    let mut log = None;
    while let Some(item) = r.next_item()? {
        match item {
            Item::Record { meta, record } => recs.push((meta.record_id, record.data)),
            Item::Log { size, .. } => log = Some(size),
            _ => {}
        }
    }
    Ok((recs, log))
}

/// A log of one leaf that "announces" a server key with an all-zero
/// signature, and a checkpoint that key signs: what a server could hand an
/// app that exports leaves without checking them.
fn forged_log(v: &Vault) -> String {
    let key = ServerLogKey::generate("evil.example/log").unwrap();
    let body = format!(
        r#"{{"type":"server","name":"evil.example/log","key":"{}","n":0,"t":1,"e":1}}"#,
        b64(&key.public_key())
    );
    let mut leaf = medseal::log::entry::MAGIC.to_vec();
    leaf.push(1);
    leaf.extend_from_slice(&[0u8; 64]);
    leaf.extend_from_slice(body.as_bytes());
    let cp = Checkpoint {
        origin: origin_for(v.vault_id()),
        size: 1,
        root: leaf_hash(&leaf),
    };
    format!(
        r#"{{"checkpoint":{},"leaves":["{}"]}}"#,
        serde_json::to_string(&key.sign_checkpoint(&cp).unwrap()).unwrap(),
        b64(&leaf)
    )
}

/// An export sealed by the vault itself (current epoch) carrying leaves the
/// app took from a server unchecked: before the reader ran the log's own
/// sync checks, an unsigned leaf could announce a server key and that key's
/// checkpoint was accepted as the vault's log.
#[test]
fn an_unsigned_log_leaf_in_an_honest_export_is_refused() {
    let (mut v, code) = seeded_vault(b"review/export/e1b");
    let current = v.manifest().to_json();
    let mut plain = Vec::new();
    push(&mut plain, ItemKind::Header, &header_meta(&v), &[]);
    push(&mut plain, ItemKind::Manifest, "{}", current.as_bytes());
    push(&mut plain, ItemKind::Log, "{}", forged_log(&v).as_bytes());
    push(
        &mut plain,
        ItemKind::End,
        r#"{"manifests":1,"records":0,"files":0,"logs":1}"#,
        &[],
    );
    let bytes = seal_export(&mut v, &current, &plain);
    let got = read_all(&bytes, &code);
    assert!(
        matches!(got, Err(medseal::Error::LogEntryInvalid { index: 0 })),
        "{got:?}"
    );
}

/// FINDING E1. FORMAT §19 says the stream is "sealed by the vault under its
/// newest key epoch" and SECURITY §8e "The stream's key is the vault key of
/// the newest epoch"; the reader accepts a stream sealed under ANY epoch the
/// prefix manifest still holds. So a removed passkey (or an old recovery
/// code) that kept the ended epoch's key forges a complete export of the
/// vault as it is NOW (the current manifest is no secret: the server and
/// grantees hold it), with fabricated records and a log whose checkpoint is
/// signed by a key that an unsigned leaf "announces"; the patient's current
/// recovery code opens it and the reader (and `medseal export verify`)
/// calls it valid.
#[test]
fn e1_a_removed_passkey_forges_a_whole_export_the_current_code_opens() {
    let (mut v, code) = seeded_vault(b"review/export/e1");
    v.add_passkey(passkey(
        b"cred-2",
        deterministic::prf_salt(b"review/export/e1/salt"),
        prf(2),
    ))
    .unwrap();
    let before = v.manifest().clone();
    v.remove_unlock(&passkey_entry_id(v.manifest(), b"cred-2"))
        .unwrap();
    assert_eq!(v.manifest().epoch(), 2);
    // The removed device: only epoch 1's keys.
    let mut removed = unlock(&before, b"cred-2", 2).unwrap();
    assert!(removed.update_manifest(v.manifest()).is_err());
    let current = v.manifest().to_json();

    let mut plain = Vec::new();
    push(&mut plain, ItemKind::Header, &header_meta(&v), &[]);
    // History may start anywhere: one manifest, the current one.
    push(&mut plain, ItemKind::Manifest, "{}", current.as_bytes());
    let fake = br#"{"resourceType":"AllergyIntolerance","id":"a1","code":{"text":"none known"}}"#;
    let sealed = removed.seal(fake, &ctx("allergy-1")).unwrap();
    push(
        &mut plain,
        ItemKind::Record,
        r#"{"recordId":"allergy-1","form":"bytes"}"#,
        &sealed,
    );
    let log = forged_log(&v);
    push(&mut plain, ItemKind::Log, "{}", log.as_bytes());
    push(
        &mut plain,
        ItemKind::End,
        r#"{"manifests":1,"records":1,"files":0,"logs":1}"#,
        &[],
    );
    let forged = seal_export(&mut removed, &current, &plain);
    if let Ok(dir) = std::env::var("REVIEW_OUT") {
        std::fs::write(format!("{dir}/e1-forged.msex"), &forged).unwrap();
        std::fs::write(format!("{dir}/e1-code.txt"), code.to_display_string()).unwrap();
    }

    let got = read_all(&forged, &code);
    assert!(
        got.is_err(),
        "ATTACK SUCCEEDED: an export sealed by a removed passkey (epoch 1 of 2) was accepted: {:?}",
        got.map(|(r, l)| (
            r.into_iter()
                .map(|(id, d)| (id, String::from_utf8_lossy(&d).into_owned()))
                .collect::<Vec<_>>(),
            l
        ))
    );
}

/// FINDING E2 (spec conformance). FORMAT §19.2: "header first, then the
/// manifests ..., then records, files and AT MOST ONE log ... then the end".
/// The reader accepts a manifest after a record and two log items.
#[test]
fn e2_item_order_and_one_log_are_not_enforced() {
    let (mut v, code) = seeded_vault(b"review/export/e2");
    let current = v.manifest().to_json();
    let sealed = v.seal(b"{\"a\":1}", &ctx("r1")).unwrap();
    let key = ServerLogKey::generate("srv.example/log").unwrap();
    let body = format!(
        r#"{{"type":"server","name":"srv.example/log","key":"{}","n":0,"t":1,"e":1}}"#,
        b64(&key.public_key())
    );
    let mut leaf = medseal::log::entry::MAGIC.to_vec();
    leaf.push(1);
    leaf.extend_from_slice(&[0u8; 64]);
    leaf.extend_from_slice(body.as_bytes());
    let cp = Checkpoint {
        origin: origin_for(v.vault_id()),
        size: 1,
        root: leaf_hash(&leaf),
    };
    let log = format!(
        r#"{{"checkpoint":{},"leaves":["{}"]}}"#,
        serde_json::to_string(&key.sign_checkpoint(&cp).unwrap()).unwrap(),
        b64(&leaf)
    );
    let mut plain = Vec::new();
    push(&mut plain, ItemKind::Header, &header_meta(&v), &[]);
    push(
        &mut plain,
        ItemKind::Record,
        r#"{"recordId":"r1","form":"bytes"}"#,
        &sealed,
    );
    push(
        &mut plain,
        ItemKind::Record,
        r#"{"recordId":"r1","form":"bytes"}"#,
        &sealed,
    );
    push(&mut plain, ItemKind::Manifest, "{}", current.as_bytes());
    push(&mut plain, ItemKind::Log, "{}", log.as_bytes());
    push(&mut plain, ItemKind::Log, "{}", log.as_bytes());
    push(
        &mut plain,
        ItemKind::End,
        r#"{"manifests":1,"records":2,"files":0,"logs":2}"#,
        &[],
    );
    let bytes = seal_export(&mut v, &current, &plain);
    if let Ok(dir) = std::env::var("REVIEW_OUT") {
        std::fs::write(format!("{dir}/e2-order.msex"), &bytes).unwrap();
        std::fs::write(format!("{dir}/e2-code.txt"), code.to_display_string()).unwrap();
    }
    let got = read_all(&bytes, &code);
    assert!(
        got.is_err(),
        "reader accepted a manifest after records and two log items: {:?}",
        got.map(|(r, l)| (r.len(), l))
    );
}

/// Held up (no finding): the inner items, mutated by a writer that holds
/// the keys (random byte changes, cuts, insertions, length fields set to
/// extremes), then sealed properly: the reader never panics.
#[test]
fn inner_mutations_never_panic() {
    let (mut v, code) = seeded_vault(b"review/export/fuzz");
    let current = v.manifest().to_json();
    let sealed = v
        .seal(b"{\"resourceType\":\"Observation\"}", &ctx("r1"))
        .unwrap();
    let file = v
        .seal_stream(&ctx("f1"), 1)
        .unwrap()
        .seal_all(&vec![7u8; 20_000])
        .unwrap();
    let mut base = Vec::new();
    push(&mut base, ItemKind::Header, &header_meta(&v), &[]);
    push(&mut base, ItemKind::Manifest, "{}", current.as_bytes());
    push(
        &mut base,
        ItemKind::Record,
        r#"{"recordId":"r1","form":"bytes"}"#,
        &sealed,
    );
    push(
        &mut base,
        ItemKind::File,
        r#"{"recordId":"f1","name":"x"}"#,
        &file,
    );
    push(
        &mut base,
        ItemKind::Log,
        "{}",
        br#"{"checkpoint":"x","leaves":[]}"#,
    );
    push(
        &mut base,
        ItemKind::End,
        r#"{"manifests":1,"records":1,"files":1,"logs":1}"#,
        &[],
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for i in 0..1500 {
        let mut p = base.clone();
        match i % 5 {
            0 => {
                for _ in 0..1 + rnd(4) {
                    let k = rnd(p.len());
                    p[k] = rnd(256) as u8;
                }
            }
            1 => p.truncate(rnd(p.len())),
            2 => {
                let k = rnd(p.len());
                p.insert(k, rnd(256) as u8);
            }
            3 => {
                // An 8-byte body length somewhere set to an extreme.
                let k = rnd(p.len().saturating_sub(8));
                let vals = [u64::MAX, u64::MAX / 2, 1 << 40, 64 << 20, 0, 1];
                p[k..k + 8].copy_from_slice(&vals[rnd(vals.len())].to_be_bytes());
            }
            _ => {
                let k = rnd(p.len().saturating_sub(4));
                p[k..k + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            }
        }
        let bytes = seal_export(&mut v, &current, &p);
        let c = RecoveryCode::parse(&code.to_display_string()).unwrap();
        let r = std::panic::catch_unwind(move || read_all(&bytes, &c).map(|_| ()));
        assert!(r.is_ok(), "panic on mutation {i}");
    }
}
