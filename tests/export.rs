//! Exports (FORMAT.md §19): what the vault sealed comes back, with the
//! recovery code alone, and every change to the file is refused with what
//! was wrong: a wrong code, a byte changed anywhere, a cut or extended file,
//! another or an older prefix manifest, a history that skips a revision or
//! ends elsewhere, end counts that do not match.
//!
//! The vector `tests/vectors/export/export-1.txt` is rebuilt from its seeds
//! and must match byte for byte (`MEDSEAL_WRITE_VECTORS=1 cargo test --test
//! export` rewrites it); the command-line tool reads the same file
//! (crates/medseal-cli).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use common::*;
use medseal::export::{self, ExportReader, ExportWriter, Item, ItemKind, ItemMeta};
use medseal::stream::{HEADER_LEN, SEALED_CHUNK_LEN};
use medseal::vault::deterministic;
use medseal::{Error, RecordContext, RecoveryCode, Vault};

const SEED: &[u8] = b"export/vector-1";

struct Made {
    vault: Vault,
    code: String,
    bytes: Vec<u8>,
    /// (record id, context, plaintext) of each record, in order.
    records: Vec<(String, Vec<u8>, Vec<u8>)>,
    file: Vec<u8>,
    history: Vec<String>,
}

fn meta(id: &str, context: &[u8], form: Option<&str>) -> ItemMeta {
    ItemMeta {
        record_id: id.into(),
        context: (!context.is_empty()).then(|| b64(context)),
        form: form.map(str::to_owned),
        name: None,
        media_type: None,
    }
}

/// A vault with history (created, a second passkey, a re-key), records of
/// both epochs in both forms, and a file of three chunks.
fn make() -> Made {
    let (mut v, code) = seeded_vault(SEED);
    let code = code.to_display_string();
    let mut history = vec![v.manifest().to_json()];
    let allergy =
        br#"{"resourceType":"AllergyIntolerance","id":"a1","code":{"text":"penicillin"}}"#.to_vec();
    let s1 = v.seal(&allergy, &ctx("allergy-1")).unwrap();
    v.add_passkey(passkey(
        b"cred-2",
        deterministic::prf_salt(b"salt-2"),
        prf(2),
    ))
    .unwrap();
    history.push(v.manifest().to_json());
    v.rekey().unwrap();
    history.push(v.manifest().to_json());
    deterministic::reseed(&mut v, b"export/vector-1/after-rekey");
    let note = b"raw bytes \x00\x01\x02 not JSON".to_vec();
    let c2 = b"patient:7".to_vec();
    let s2 = v
        .seal(&note, &RecordContext::with_context(b"note-2", &c2))
        .unwrap();
    let obs = br#"{"resourceType":"Observation","id":"o1","status":"final"}"#.to_vec();
    let s3 = medseal::record::to_text(&v.seal(&obs, &ctx("obs-3")).unwrap());
    let file = seeded_stream(b"export file", 2 * 16_384 + 500);
    let sealed_file = v
        .seal_stream(&ctx("scan-1"), 1)
        .unwrap()
        .seal_all(&file)
        .unwrap();

    let mut w = ExportWriter::new(&v, 1_764_547_200, Some("medseal tests")).unwrap();
    for m in &history {
        w.manifest(m).unwrap();
    }
    w.record(&meta("allergy-1", b"", Some("bytes")), &s1)
        .unwrap();
    w.record(&meta("note-2", &c2, Some("bytes")), &s2).unwrap();
    w.record(&meta("obs-3", b"", Some("text")), s3.as_bytes())
        .unwrap();
    let mut fm = meta("scan-1", b"", None);
    fm.name = Some("../../etc/scan.pdf".into());
    fm.media_type = Some("application/pdf".into());
    w.file(&fm, &sealed_file).unwrap();
    deterministic::reseed(&mut v, b"export/vector-1/export");
    let bytes = w.finish(&mut v).unwrap();
    Made {
        vault: v,
        code,
        bytes,
        records: vec![
            ("allergy-1".into(), vec![], allergy),
            ("note-2".into(), c2, note),
            ("obs-3".into(), vec![], obs),
        ],
        file,
        history,
    }
}

/// Everything an export gave back: (record id, plaintext) pairs, the
/// files' bytes, and how many manifests it held.
type ReadBack = (Vec<(String, Vec<u8>)>, Vec<Vec<u8>>, u64);

/// Reads a whole export; returns the records' plaintexts and the file's.
fn read_all(bytes: &[u8], code: &str) -> medseal::Result<ReadBack> {
    let code = RecoveryCode::parse(code)?;
    let mut r = ExportReader::open(bytes, &code)?;
    let mut records = Vec::new();
    let mut files = Vec::new();
    let mut manifests = 0;
    while let Some(item) = r.next_item()? {
        match item {
            Item::Manifest(_) => manifests += 1,
            Item::Record { meta, record } => records.push((meta.record_id, record.data)),
            Item::File { .. } => {
                let mut out = Vec::new();
                r.copy_file(&mut out, |_| {})?;
                files.push(out);
            }
            _ => {}
        }
    }
    assert_eq!(r.checked().manifests, manifests);
    Ok((records, files, manifests))
}

#[test]
fn the_recovery_code_alone_reads_back_everything_sealed() {
    let m = make();
    let (records, files, manifests) = read_all(&m.bytes, &m.code).unwrap();
    assert_eq!(manifests, 3);
    let want: Vec<(String, Vec<u8>)> = m
        .records
        .iter()
        .map(|(i, _, p)| (i.clone(), p.clone()))
        .collect();
    assert_eq!(records, want);
    assert_eq!(files, vec![m.file.clone()]);
    // The code as a person types it: lower case, spaces.
    let typed = m.code.to_lowercase().replace('-', " ");
    assert!(read_all(&m.bytes, &typed).is_ok());
}

#[test]
fn a_file_item_not_read_is_still_checked() {
    let m = make();
    let code = RecoveryCode::parse(&m.code).unwrap();
    let mut r = ExportReader::open(&m.bytes[..], &code).unwrap();
    while r.next_item().unwrap().is_some() {}
    assert_eq!(r.checked().files, 1);
    assert_eq!(r.checked().file_bytes, m.file.len() as u64);
}

#[test]
fn a_wrong_code_fails_cleanly_and_a_typo_is_named() {
    let m = make();
    let (_, other) = seeded_vault(b"another vault");
    assert!(matches!(
        read_all(&m.bytes, &other.to_display_string()),
        Err(Error::UnlockFailed)
    ));
    let mut typo = m.code.clone().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    assert!(matches!(
        read_all(&m.bytes, core::str::from_utf8(&typo).unwrap()),
        Err(Error::InvalidRecoveryCode)
    ));
}

fn prefix_len(bytes: &[u8]) -> usize {
    9 + u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize
}

#[test]
fn a_changed_byte_anywhere_is_refused() {
    let m = make();
    let p = prefix_len(&m.bytes);
    let n = m.bytes.len();
    // Manifest text, stream header, first chunk, a middle chunk, the last tag.
    for at in [
        20,
        p + 10,
        p + HEADER_LEN + 5,
        p + HEADER_LEN + SEALED_CHUNK_LEN + 100,
        n - 1,
    ] {
        let mut b = m.bytes.clone();
        b[at] ^= 0x01;
        let r = read_all(&b, &m.code);
        assert!(
            matches!(
                r,
                Err(Error::ManifestInvalid | Error::DecryptionFailed | Error::Malformed(_))
            ),
            "byte {at}: {r:?}"
        );
    }
    let mut b = m.bytes.clone();
    b[0] = b'x';
    assert!(matches!(
        read_all(&b, &m.code),
        Err(Error::Malformed("not a medseal export"))
    ));
    let mut b = m.bytes.clone();
    b[4] = 2;
    assert!(matches!(
        read_all(&b, &m.code),
        Err(Error::UnknownVersion { .. })
    ));
}

#[test]
fn a_cut_or_extended_file_is_refused() {
    let m = make();
    let p = prefix_len(&m.bytes);
    let body = p + HEADER_LEN;
    for cut in [
        5,
        p - 1,
        p + 3,
        body,
        body + SEALED_CHUNK_LEN,
        body + SEALED_CHUNK_LEN + 7,
        m.bytes.len() - 1,
    ] {
        let r = read_all(&m.bytes[..cut], &m.code);
        assert!(
            matches!(
                r,
                Err(Error::Truncated
                    | Error::Malformed(_)
                    | Error::DecryptionFailed
                    | Error::ManifestInvalid)
            ),
            "cut at {cut}: {r:?}"
        );
    }
    // Cut at the last full chunk boundary: that chunk was not sealed as last.
    let boundary = body + ((m.bytes.len() - body) / SEALED_CHUNK_LEN) * SEALED_CHUNK_LEN;
    let r = read_all(&m.bytes[..boundary], &m.code);
    assert!(
        matches!(r, Err(Error::DecryptionFailed | Error::Truncated)),
        "{r:?}"
    );
    let mut longer = m.bytes.clone();
    longer.extend_from_slice(b"appended");
    assert!(read_all(&longer, &m.code).is_err());
}

#[test]
fn another_or_older_prefix_manifest_is_refused() {
    let m = make();
    let p = prefix_len(&m.bytes);
    // The vault's revision-2 manifest in place of the current one: the same
    // code opens it, but the stream is bound to the prefix it was sealed after
    // (and that manifest's newest epoch, 1, is not the stream's, 2).
    let older = export::prefix(&m.history[1]).unwrap();
    let mut b = older.clone();
    b.extend_from_slice(&m.bytes[p..]);
    assert!(matches!(
        read_all(&b, &m.code),
        Err(Error::DecryptionFailed | Error::Malformed(_))
    ));
    // Another vault's manifest: its code is not this one.
    let (other, _) = seeded_vault(b"another vault");
    let mut b = export::prefix(&other.manifest().to_json()).unwrap();
    b.extend_from_slice(&m.bytes[p..]);
    assert!(matches!(read_all(&b, &m.code), Err(Error::UnlockFailed)));
}

/// An export written item by item, as a browser does, for the checks a
/// well-behaved writer never trips.
fn hand_written(v: &mut Vault, items: &[(ItemKind, String, Vec<u8>)]) -> Vec<u8> {
    let mut plain = Vec::new();
    for (k, meta, body) in items {
        plain.extend_from_slice(&export::frame(*k, meta, body.len() as u64).unwrap());
        plain.extend_from_slice(body);
    }
    let mut out = export::prefix(&v.manifest().to_json()).unwrap();
    let c = export::context(&out);
    let sealed = v
        .seal_stream(&RecordContext::with_context(export::RECORD_ID, &c), 1)
        .unwrap()
        .seal_all(&plain)
        .unwrap();
    out.extend_from_slice(&sealed);
    out
}

fn header(v: &Vault) -> (ItemKind, String, Vec<u8>) {
    let h = format!(
        r#"{{"medseal":"export","version":1,"vaultId":"{}","created":1}}"#,
        b64(v.vault_id())
    );
    (ItemKind::Header, h, vec![])
}

fn end(manifests: u64, records: u64) -> (ItemKind, String, Vec<u8>) {
    (
        ItemKind::End,
        format!(r#"{{"manifests":{manifests},"records":{records},"files":0,"logs":0}}"#),
        vec![],
    )
}

#[test]
fn history_and_counts_must_hold() {
    let m = make();
    let mut v = m.vault;
    let h = header(&v);
    let mj = |s: &String| (ItemKind::Manifest, "{}".to_string(), s.clone().into_bytes());
    // Complete: fine.
    let ok = hand_written(
        &mut v,
        &[
            h.clone(),
            mj(&m.history[0]),
            mj(&m.history[1]),
            mj(&m.history[2]),
            end(3, 0),
        ],
    );
    assert!(read_all(&ok, &m.code).is_ok());
    // A revision skipped.
    let gap = hand_written(
        &mut v,
        &[h.clone(), mj(&m.history[0]), mj(&m.history[2]), end(2, 0)],
    );
    assert!(
        matches!(
            read_all(&gap, &m.code),
            Err(Error::HistoryIncomplete { .. })
        ),
        "{:?}",
        read_all(&gap, &m.code)
    );
    // History ending before the export's manifest.
    let short = hand_written(
        &mut v,
        &[h.clone(), mj(&m.history[0]), mj(&m.history[1]), end(2, 0)],
    );
    assert!(matches!(read_all(&short, &m.code), Err(Error::Malformed(w)) if w.contains("history")));
    // A record dropped after the end counts were written.
    let counts = hand_written(&mut v, &[h.clone(), mj(&m.history[2]), end(1, 1)]);
    assert!(matches!(read_all(&counts, &m.code), Err(Error::Malformed(w)) if w.contains("counts")));
    // No end item.
    let open_ended = hand_written(&mut v, &[h.clone(), mj(&m.history[2])]);
    assert!(matches!(
        read_all(&open_ended, &m.code),
        Err(Error::Truncated)
    ));
    // Bytes after the end item.
    let mut after = vec![h.clone(), mj(&m.history[2]), end(1, 0)];
    after.push(end(1, 0));
    let after = hand_written(&mut v, &after);
    assert!(matches!(read_all(&after, &m.code), Err(Error::Malformed(w)) if w.contains("after")));
    // No header first.
    let headless = hand_written(&mut v, &[mj(&m.history[2]), end(1, 0)]);
    assert!(matches!(
        read_all(&headless, &m.code),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn a_record_under_another_id_fails_to_open() {
    let m = make();
    let mut v = m.vault;
    let sealed = v.seal(b"{}", &ctx("r1")).unwrap();
    let h = header(&v);
    let bad = hand_written(
        &mut v,
        &[
            h,
            (
                ItemKind::Manifest,
                "{}".into(),
                m.history[2].clone().into_bytes(),
            ),
            (
                ItemKind::Record,
                r#"{"recordId":"r2","form":"bytes"}"#.into(),
                sealed,
            ),
            end(1, 1),
        ],
    );
    assert!(matches!(
        read_all(&bad, &m.code),
        Err(Error::DecryptionFailed)
    ));
}

#[test]
fn frames_refuse_what_a_reader_would_refuse() {
    assert!(export::frame(ItemKind::Record, r#"{"recordId":""}"#, 1).is_err());
    assert!(
        export::frame(ItemKind::Record, r#"{"recordId":"x"}"#, 1).is_err(),
        "form required"
    );
    assert!(export::frame(
        ItemKind::Record,
        r#"{"recordId":"x","form":"bytes","extra":1}"#,
        1
    )
    .is_err());
    assert!(
        export::frame(ItemKind::File, r#"{"recordId":"x"}"#, 3).is_err(),
        "shorter than a stream"
    );
    assert!(export::frame(
        ItemKind::Header,
        r#"{"medseal":"export","version":1,"vaultId":"x","created":1}"#,
        1
    )
    .is_err());
    assert!(export::frame(ItemKind::Manifest, r#"{"a":1}"#, 1).is_err());
    assert!(export::frame(ItemKind::End, "[]", 0).is_err());
}

#[test]
fn garbage_never_panics() {
    let m = make();
    let code = RecoveryCode::parse(&m.code).unwrap();
    let mut seed = 1u64;
    for len in [0usize, 1, 8, 9, 100, 5000] {
        let mut g = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            g.push((seed >> 33) as u8);
        }
        if len >= 4 {
            g[..4].copy_from_slice(b"msex");
        }
        assert!(ExportReader::open(&g[..], &code).is_err());
    }
}

#[test]
fn vector_export_1() {
    let m = make();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/export/export-1.txt");
    let mut text = String::new();
    text.push_str(
        "# An export (FORMAT.md §19) of the vault of seed \"export/vector-1\": three manifests\n",
    );
    text.push_str(
        "# (create, a second passkey, a re-key), a JSON record of epoch 1, a bytes record with a\n",
    );
    text.push_str("# context and a text-form record of epoch 2, and a file of 33,268 bytes.\n");
    text.push_str("expect: success\n");
    text.push_str(&format!("recovery-code: {}\n", m.code));
    for (i, (id, c, p)) in m.records.iter().enumerate() {
        text.push_str(&format!(
            "record-{i}-id: {id}\nrecord-{i}-context: {}\nrecord-{i}-plaintext: {}\n",
            hex::encode(c),
            hex::encode(p)
        ));
    }
    text.push_str(&format!(
        "file-0-sha256: {}\n",
        hex::encode(sha256(&m.file))
    ));
    text.push_str(&format!(
        "export-length: {}\nexport: {}\n",
        m.bytes.len(),
        hex::encode(&m.bytes)
    ));
    let on_disk = vector_on_disk(
        &path,
        &text,
        "MEDSEAL_WRITE_VECTORS",
        "cargo test --test export",
    );
    assert_eq!(
        on_disk, text,
        "the writer no longer produces tests/vectors/export/export-1.txt"
    );
    let v = parse_vector(&on_disk);
    let bytes = hex::decode(&v["export"]).unwrap();
    let (records, files, _) = read_all(&bytes, &v["recovery-code"]).unwrap();
    for (i, (id, p)) in records.iter().enumerate() {
        assert_eq!(id, &v[&format!("record-{i}-id")]);
        assert_eq!(hex::encode(p), v[&format!("record-{i}-plaintext")]);
    }
    assert_eq!(hex::encode(sha256(&files[0])), v["file-0-sha256"]);
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(b).into()
}
