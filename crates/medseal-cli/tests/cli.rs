//! The `medseal` binary, run as a person runs it: the export vector
//! (tests/vectors/export/export-1.txt) opens into plain files equal to what
//! was sealed; a wrong code, a typo, a changed byte, a cut or extended file
//! each fail with one line naming what was wrong, and leave no output; a
//! file name cannot leave `files/`.
//!
//! Offline: every run of the binary goes through `unshare -rn` (a new user
//! and network namespace: no network at all) where the machine allows it,
//! and `runs_with_no_network_at_all` shows what that namespace has. Where it
//! does not, the runs are direct and that test prints why it was skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use medseal::export::{self, ExportWriter, ItemKind, ItemMeta, LogBody};
use medseal::log::merkle::MemoryTree;
use medseal::log::note::Checkpoint;
use medseal::log::ServerLogKey;
use medseal::{PasskeyUnlock, PrfOutput, RecordContext, Vault};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_medseal");

/// Whether `unshare -rn` works here (checked once).
fn unshare() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        Command::new("unshare")
            .args(["-rn", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs the binary (under `unshare -rn` when possible) with `stdin`.
fn medseal(args: &[&str], stdin: &str) -> Output {
    let mut cmd = if unshare() {
        let mut c = Command::new("unshare");
        c.arg("-rn").arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn vector() -> BTreeMap<String, String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/export/export-1.txt");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

/// The vector's export written to `dir/export.medseal`, its code to `dir/code.txt`.
fn vector_files(dir: &Path) -> (PathBuf, PathBuf, BTreeMap<String, String>) {
    let v = vector();
    let e = dir.join("export.medseal");
    std::fs::write(&e, hex::decode(&v["export"]).unwrap()).unwrap();
    let c = dir.join("code.txt");
    std::fs::write(&c, format!("{}\n", v["recovery-code"])).unwrap();
    (e, c, v)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// JSON text without whitespace outside strings.
fn minify(s: &str) -> String {
    let mut out = String::new();
    let (mut in_s, mut esc) = (false, false);
    for c in s.chars() {
        if in_s {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_s = false;
            }
        } else if c == '"' {
            in_s = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `dir` holds nothing but `keep` (no output, no partial working directory).
fn nothing_left(dir: &Path, keep: &[&str]) {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    left.sort();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        dir.display()
    );
}

#[test]
fn opens_the_vector_into_what_was_sealed() {
    let d = scratch("open");
    let (e, c, v) = vector_files(&d);
    let out = d.join("out");
    let o = medseal(
        &["export", "open", s(&e), "--out", s(&out), "--quiet"],
        &std::fs::read_to_string(&c).unwrap(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    assert_eq!(
        tree(&out),
        [
            "INDEX.md",
            "fhir/AllergyIntolerance/a1.json",
            "fhir/Observation/o1.json",
            "fhir/bundle.json",
            "files/scan.pdf",
            "manifests/1.json",
            "manifests/2.json",
            "manifests/3.json",
            "records/note-2.bin",
        ]
    );
    // FHIR records: pretty JSON whose every token is the sealed one.
    let plain = |i: usize| hex::decode(&v[&format!("record-{i}-plaintext")]).unwrap();
    for (i, path) in [
        (0, "fhir/AllergyIntolerance/a1.json"),
        (2, "fhir/Observation/o1.json"),
    ] {
        let written = std::fs::read_to_string(out.join(path)).unwrap();
        assert!(written.contains("\n  \"resourceType\": "), "{written}");
        assert_eq!(minify(&written).as_bytes(), plain(i), "{path}");
        let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            parsed,
            serde_json::from_slice::<serde_json::Value>(&plain(i)).unwrap()
        );
    }
    // Other records: their bytes.
    assert_eq!(
        std::fs::read(out.join("records/note-2.bin")).unwrap(),
        plain(1)
    );
    // The file, named `../../etc/scan.pdf` in the vault, lands inside files/.
    let file = std::fs::read(out.join("files/scan.pdf")).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&file)), v["file-0-sha256"]);
    nothing_left(&d, &["export.medseal", "code.txt", "out"]);
    // The bundle: a FHIR R4 collection listing both resources.
    let b = json(&out.join("fhir/bundle.json"));
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    assert_eq!(b["timestamp"], "2025-12-01T00:00:00Z");
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, path) in entries.iter().zip([
        "fhir/AllergyIntolerance/a1.json",
        "fhir/Observation/o1.json",
    ]) {
        let url = entry["fullUrl"].as_str().unwrap();
        let uuid = url.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(entry["resource"], json(&out.join(path)));
    }
    assert_ne!(entries[0]["fullUrl"], entries[1]["fullUrl"]);
    // The manifests of the history, oldest first.
    for rev in 1..=3 {
        assert_eq!(
            json(&out.join(format!("manifests/{rev}.json")))["revision"],
            rev
        );
    }
    // The index: what, when, which vault, each item, and what was checked.
    let index = std::fs::read_to_string(out.join("INDEX.md")).unwrap();
    for want in [
        "| Vault | `pKN68uDG0qWXisnngH8VAA` |",
        "| Exported | 2025-12-01 00:00:00 UTC by medseal tests |",
        "[fhir/AllergyIntolerance/a1.json](fhir/AllergyIntolerance/a1.json) | 76 bytes",
        "| note-2 | cGF0aWVudDo3 | bytes | [records/note-2.bin](records/note-2.bin) | 22 bytes |",
        "| ../../etc/scan.pdf | scan-1 | application/pdf | [files/scan.pdf](files/scan.pdf) | 33,268 bytes |",
        "## Checked",
        "- Manifest signature: the export's manifest (revision 3, key epoch 2) is signed",
        "- History: 3 manifests chained from revision 1 to 3",
        "- Records: 3 records authenticated under the vault's keys",
        "- Files: 1 file, every chunk authenticated under the vault's keys (33,268 bytes)",
        "- Log: no log in this export.",
        "- Nothing cut or appended: all 3 chunks of the export authenticated",
        "(3 manifests, 3 records, 1 file, 0 logs)",
    ] {
        assert!(index.contains(want), "INDEX.md lacks {want:?}:\n{index}");
    }
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("3 records, 1 file, 3 manifests"),
        "{stdout}"
    );
    assert!(!stdout.contains(&v["recovery-code"]));
}

#[test]
fn verify_prints_what_was_checked_and_writes_nothing() {
    let d = scratch("verify");
    let (e, c, _) = vector_files(&d);
    let o = medseal(&["export", "verify", s(&e), "--code-file", s(&c)], "");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("is a valid export of vault pKN68uDG0qWXisnngH8VAA, made 2025-12-01 00:00:00 UTC: 3 records, 1 file, 3 manifests."), "{out}");
    for want in [
        "Checked:\n- Manifest signature:",
        "- History: 3 manifests chained from revision 1 to 3",
        "- Records: 3 records authenticated",
        "- Files: 1 file, every chunk authenticated",
        "- Log: no log in this export.",
        "- Nothing cut or appended",
    ] {
        assert!(out.contains(want), "lacks {want:?}:\n{out}");
    }
    nothing_left(&d, &["export.medseal", "code.txt"]);
    // The code as a person types it: lower case, spaces, on stdin.
    let v = vector();
    let typed = v["recovery-code"].to_lowercase().replace('-', " ");
    let o = medseal(&["export", "verify", s(&e)], &format!("{typed}\n"));
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn a_wrong_code_and_a_typo_fail_cleanly_and_write_nothing() {
    let d = scratch("codes");
    let (e, _, v) = vector_files(&d);
    let out = d.join("out");
    // Another vault's code (a valid one): tests/vectors/v2-recovery-code.txt.
    let other = "GPDQ-EV8X-YYYR-N1V9-6MZV-BX3M-A9AY-3S07";
    let mut typo = v["recovery-code"].clone().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    for (code, want) in [
        (
            other,
            "medseal: the recovery code does not open this export\n",
        ),
        (
            typo.as_str(),
            "medseal: that is not a valid recovery code (check for typos)\n",
        ),
        (
            "",
            "medseal: no recovery code given: pass it on standard input or with --code-file\n",
        ),
    ] {
        for cmd in ["open", "verify"] {
            let mut args = vec!["export", cmd, s(&e)];
            if cmd == "open" {
                args.extend(["--out", s(&out)]);
            }
            let o = medseal(&args, &format!("{code}\n"));
            assert_eq!(o.status.code(), Some(1), "{cmd} {code}");
            assert_eq!(text(&o.stderr), want, "{cmd} {code}");
            assert!(o.stdout.is_empty());
            nothing_left(&d, &["export.medseal", "code.txt"]);
        }
    }
}

/// Runs `open` on `bytes` as the export; the one line on stderr.
fn refused(d: &Path, bytes: &[u8]) -> String {
    let (_, c, v) = vector_files(d);
    let e = d.join("bad.medseal");
    std::fs::write(&e, bytes).unwrap();
    let out = d.join("out");
    let o = medseal(
        &[
            "export",
            "open",
            s(&e),
            "--out",
            s(&out),
            "--code-file",
            s(&c),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        !err.contains(&v["recovery-code"]) && !err.contains("penicillin"),
        "{err}"
    );
    nothing_left(d, &["export.medseal", "code.txt", "bad.medseal"]);
    err
}

#[test]
fn a_changed_byte_is_refused_naming_where() {
    let d = scratch("flip");
    let (_, _, v) = vector_files(&d);
    let good = hex::decode(&v["export"]).unwrap();
    let prefix = 9 + u32::from_be_bytes(good[5..9].try_into().unwrap()) as usize;
    let body = prefix + medseal::stream::HEADER_LEN;
    let chunk = medseal::stream::SEALED_CHUNK_LEN;
    for (at, want) in [
        (0, "is not a medseal export"),
        (40, "manifest signature: the export's manifest (bytes 9–"),
        (prefix + 50, "the export's stream header ("),
        (body + 10, "chunk 1 of the export (bytes "),
        (body + chunk + 10, "chunk 2 of the export (bytes "),
        (good.len() - 1, "chunk 3 of the export ("),
    ] {
        let mut b = good.clone();
        b[at] ^= 0x01;
        let err = refused(&d, &b);
        assert!(err.contains(want), "byte {at}: {err}");
    }
    let mut b = good.clone();
    b[4] = 9;
    assert!(refused(&d, &b).contains("this export is of version 9, written by a newer medseal"));
}

#[test]
fn a_cut_or_extended_file_is_refused_naming_it() {
    let d = scratch("cut");
    let (_, _, v) = vector_files(&d);
    let good = hex::decode(&v["export"]).unwrap();
    let prefix = 9 + u32::from_be_bytes(good[5..9].try_into().unwrap()) as usize;
    let body = prefix + medseal::stream::HEADER_LEN;
    let chunk = medseal::stream::SEALED_CHUNK_LEN;
    for (cut, want) in [
        (3, "the export is cut short: it ends inside its first bytes"),
        (100, "the export is cut short: it ends inside its manifest"),
        (
            prefix + 5,
            "the export is cut short: it ends inside its stream header",
        ),
        (
            body,
            "the export is cut short: it ends before its first chunk",
        ),
        (body + chunk / 2, "the export was cut short or extended"),
        (
            body + chunk,
            "the export was cut short: it ends after chunk 1, without the chunk that closes it",
        ),
        (
            body + 2 * chunk,
            "the export was cut short: it ends after chunk 2, without the chunk that closes it",
        ),
        (good.len() - 1, "the export was cut short or extended"),
    ] {
        let err = refused(&d, &good[..cut]);
        assert!(err.contains(want), "cut at {cut}: {err}");
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"appended");
    assert!(refused(&d, &longer).contains("cut short or extended"));
}

#[test]
fn an_output_directory_that_is_not_empty_is_refused() {
    let d = scratch("nonempty");
    let (e, c, _) = vector_files(&d);
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), b"keep me").unwrap();
    let o = medseal(
        &[
            "export",
            "open",
            s(&e),
            "--out",
            s(&out),
            "--code-file",
            s(&c),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("is not empty: give --out a new directory (nothing was written)")
    );
    assert_eq!(tree(&out), ["mine.txt"]);
    // An empty one is used.
    std::fs::remove_file(out.join("mine.txt")).unwrap();
    let o = medseal(
        &[
            "export",
            "open",
            s(&e),
            "--out",
            s(&out),
            "--code-file",
            s(&c),
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.join("INDEX.md").is_file());
    // The code is never an argument.
    let o = medseal(&["export", "verify", s(&e), "--code", "X"], "");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn runs_with_no_network_at_all() {
    if !unshare() {
        println!("skipped: `unshare -rn` (user and network namespaces) is not available here; the other tests ran the binary directly");
        return;
    }
    // What the binary sees inside the namespace: the loopback device only, down.
    let o = Command::new("unshare")
        .args(["-rn", "cat", "/proc/net/dev"])
        .output()
        .unwrap();
    let devices: Vec<String> = text(&o.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_owned()))
        .collect();
    assert_eq!(devices, ["lo"]);
    let d = scratch("offline");
    let (e, c, _) = vector_files(&d);
    let o = medseal(
        &["export", "open", s(&e), "--out", s(&d.join("out"))],
        &std::fs::read_to_string(c).unwrap(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}

// Exports made here with the core, for what only a writer holding the
// vault's keys could put inside an intact outer stream, and for names.

fn new_vault() -> (Vault, String) {
    let prf: Vec<u8> = (1..=32).collect();
    let (v, code) = Vault::create(PasskeyUnlock {
        credential_id: b"cred-1".to_vec(),
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: PrfOutput::new(&prf).unwrap(),
        label: None,
    })
    .unwrap();
    (v, code.to_display_string())
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn meta(id: &str, form: Option<&str>, name: Option<&str>) -> ItemMeta {
    ItemMeta {
        record_id: id.into(),
        context: None,
        form: form.map(str::to_owned),
        name: name.map(str::to_owned),
        media_type: None,
    }
}

/// An item: its kind, metadata and body.
type Frame = (ItemKind, String, Vec<u8>);

/// An export written frame by frame (as a browser does).
fn hand_written(v: &mut Vault, items: &[Frame]) -> Vec<u8> {
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

fn run_on(d: &Path, bytes: &[u8], code: &str) -> Output {
    let e = d.join("made.medseal");
    std::fs::write(&e, bytes).unwrap();
    let out = d.join("out");
    let _ = std::fs::remove_dir_all(&out);
    medseal(
        &["export", "open", s(&e), "--out", s(&out)],
        &format!("{code}\n"),
    )
}

#[test]
fn what_fails_inside_an_intact_export_is_named() {
    let d = scratch("inner");
    let (mut v, code) = new_vault();
    let m1 = v.manifest().to_json();
    v.add_passkey(PasskeyUnlock {
        credential_id: b"cred-2".to_vec(),
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: PrfOutput::new(&[7u8; 32]).unwrap(),
        label: None,
    })
    .unwrap();
    let m2 = v.manifest().to_json();
    v.add_passkey(PasskeyUnlock {
        credential_id: b"cred-3".to_vec(),
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: PrfOutput::new(&[8u8; 32]).unwrap(),
        label: None,
    })
    .unwrap();
    let m3 = v.manifest().to_json();
    let header = (
        ItemKind::Header,
        format!(
            r#"{{"medseal":"export","version":1,"vaultId":"{}","created":1}}"#,
            b64(v.vault_id())
        ),
        vec![],
    );
    let mj = |s: &String| (ItemKind::Manifest, "{}".to_string(), s.clone().into_bytes());
    let end = |m: u64, r: u64, f: u64| {
        (
            ItemKind::End,
            format!(r#"{{"manifests":{m},"records":{r},"files":{f},"logs":0}}"#),
            vec![],
        )
    };
    let sealed = v.seal(b"{}", &RecordContext::new(b"r1")).unwrap();
    let mut file = v
        .seal_stream(&RecordContext::new(b"f1"), 1)
        .unwrap()
        .seal_all(&vec![5u8; 20_000])
        .unwrap();
    let n = file.len();
    file[n - 3] ^= 1;
    let cases: Vec<(Vec<Frame>, &str)> = vec![
        (
            vec![
                header.clone(),
                mj(&m3),
                (
                    ItemKind::Record,
                    r#"{"recordId":"r2","form":"bytes"}"#.into(),
                    sealed.clone(),
                ),
                end(1, 1, 0),
            ],
            "record r2 does not open under the vault's keys: decryption failed",
        ),
        (
            vec![
                header.clone(),
                mj(&m3),
                (
                    ItemKind::File,
                    r#"{"recordId":"f1","name":"x-ray.png"}"#.into(),
                    file,
                ),
                end(1, 0, 1),
            ],
            "file x-ray.png (record f1): its chunk 2 does not authenticate under the vault's keys",
        ),
        (
            vec![header.clone(), mj(&m1), mj(&m3), end(2, 0, 0)],
            "history: the export's manifest after revision 1 does not follow it",
        ),
        (
            vec![header.clone(), mj(&m1), mj(&m2), end(2, 0, 0)],
            "history: the export's manifest history does not end at the export's manifest",
        ),
        (
            vec![header.clone(), mj(&m3), end(1, 1, 0)],
            "end counts: the export's end item does not match its items",
        ),
        (
            vec![header.clone(), mj(&m3)],
            "the export ends before its end item",
        ),
        (
            vec![header.clone(), mj(&m3), end(1, 0, 0), end(1, 0, 0)],
            "the export has data after its end item",
        ),
    ];
    for (items, want) in cases {
        let bytes = hand_written(&mut v, &items);
        let o = run_on(&d, &bytes, &code);
        assert_eq!(o.status.code(), Some(1), "{want}");
        let err = text(&o.stderr);
        assert!(err.contains(want), "want {want:?}, got {err}");
        assert_eq!(err.lines().count(), 1);
        nothing_left(&d, &["made.medseal"]);
    }
    // And the complete history reads.
    let ok = hand_written(&mut v, &[header, mj(&m1), mj(&m2), mj(&m3), end(3, 0, 0)]);
    let o = run_on(&d, &ok, &code);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("3 manifests chained from revision 1 to 3"));
}

#[test]
fn names_are_made_safe_and_the_bundle_lists_every_resource() {
    let d = scratch("names");
    let (mut v, code) = new_vault();
    let uuid = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    let records: Vec<(&str, String)> = vec![
        (
            "p",
            format!(r#"{{"resourceType":"Patient","id":"{uuid}","name":[{{"family":"Doe"}}]}}"#),
        ),
        (
            "o-a",
            r#"{"resourceType":"Observation","id":"x","valueQuantity":{"value":1.50}}"#.into(),
        ),
        ("o-b", r#"{"resourceType":"Observation","id":"X"}"#.into()),
        ("o/c", r#"{"resourceType":"Observation"}"#.into()),
        (
            "evil",
            r#"{"resourceType":"Observation","id":"../../x"}"#.into(),
        ),
        ("settings", r#"{"theme":"dark"}"#.into()),
        ("weird", r#"{"resourceType":"../etc"}"#.into()),
    ];
    let mut w = ExportWriter::new(&v, 1_700_000_000, None).unwrap();
    w.manifest(&v.manifest().to_json()).unwrap();
    for (id, body) in &records {
        let sealed = v
            .seal(body.as_bytes(), &RecordContext::new(id.as_bytes()))
            .unwrap();
        w.record(&meta(id, Some("bytes"), None), &sealed).unwrap();
    }
    let names = [
        "a.pdf",
        "A.pdf",
        "../..",
        "\u{202e}fdp.exe",
        "con.txt",
        "dir\\sub\\b.txt",
        "...",
    ];
    for (i, name) in names.iter().enumerate() {
        let id = format!("file-{i}");
        let sealed = v
            .seal_stream(&RecordContext::new(id.as_bytes()), 1)
            .unwrap()
            .seal_all(format!("file {i}").as_bytes())
            .unwrap();
        w.file(&meta(&id, None, Some(name)), &sealed).unwrap();
    }
    // A log: the server's key announced by the vault, a manifest event, and
    // the checkpoint the server signed over both.
    let server = ServerLogKey::generate("phr.example/log").unwrap();
    let l0 = v.log_entry(0, 1, &server.announcement()).unwrap();
    let l1 = v.log_entry(1, 2, &v.manifest_event(None)).unwrap();
    let mut t = MemoryTree::new();
    t.push(&l0);
    t.push(&l1);
    let cp = Checkpoint {
        origin: v.log_origin(),
        size: 2,
        root: t.root(2).unwrap(),
    };
    w.log(&LogBody {
        checkpoint: server.sign_checkpoint(&cp).unwrap(),
        leaves: vec![b64(&l0), b64(&l1)],
    })
    .unwrap();
    let bytes = w.finish(&mut v).unwrap();
    let o = run_on(&d, &bytes, &code);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = d.join("out");
    let files = tree(&out);
    for want in [
        "fhir/Patient/0F8FAD5B-D9CB-469F-A165-70867728950E.json",
        "fhir/Observation/x.json",
        "fhir/Observation/X-2.json",
        "fhir/Observation/o_c.json",
        "fhir/Observation/evil.json",
        "records/settings.json",
        "records/weird.json",
        "files/a.pdf",
        "files/A-2.pdf",
        "files/file-2",
        "files/fdp.exe",
        "files/_con.txt",
        "files/b.txt",
        "files/file-6",
    ] {
        assert!(files.contains(&want.to_owned()), "no {want} in {files:?}");
    }
    assert_eq!(std::fs::read(out.join("files/A-2.pdf")).unwrap(), b"file 1");
    // FHIR decimals keep their digits.
    let x = std::fs::read_to_string(out.join("fhir/Observation/x.json")).unwrap();
    assert!(x.contains("\"value\": 1.50"), "{x}");
    let b = json(&out.join("fhir/bundle.json"));
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(
        entries[0]["fullUrl"],
        format!("urn:uuid:{}", uuid.to_lowercase())
    );
    let urls: std::collections::HashSet<&str> = entries
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 5);
    for (e, (_, body)) in entries.iter().zip(&records) {
        assert_eq!(
            e["resource"],
            serde_json::from_str::<serde_json::Value>(body).unwrap()
        );
    }
    let index = std::fs::read_to_string(out.join("INDEX.md")).unwrap();
    assert!(
        index.contains("- Log: 2 leaves match the signed checkpoint"),
        "{index}"
    );
    assert!(index.contains("| \\\\u{202e}fdp.exe | file-3 |"), "{index}");
    assert!(
        index.contains("| dir\\\\sub\\\\b.txt | file-5 |"),
        "{index}"
    );
}

/// The hidden staging folders beside `out` (`.<name>.medseal-partial-*`).
fn partials(d: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().contains(".medseal-partial-"))
        .collect()
}

/// Kills the child if the test fails before waiting for it (a CLI blocked
/// on a FIFO would otherwise outlive the test).
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` for up to 20 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn an_interrupt_mid_export_leaves_no_decrypted_file_behind() {
    // The export arrives through a FIFO that stops before its end, so the
    // tool has written decrypted records into its hidden folder and waits
    // for more when Ctrl-C (SIGINT) and then SIGTERM come. Before the handler,
    // the folder and the plaintext in it stayed.
    if !Command::new("mkfifo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: no mkfifo here");
        return;
    }
    for signal in ["-INT", "-TERM"] {
        let d = scratch(&format!("interrupt{signal}"));
        let (e, c, _) = vector_files(&d);
        let bytes = std::fs::read(&e).unwrap();
        let fifo = d.join("export.fifo");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let out = d.join("out");
        let mut child = KillOnDrop(Some(
            Command::new(BIN)
                .args(["export", "open", s(&fifo), "--out", s(&out)])
                .args(["--code-file", s(&c)])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        // All but the last 2,000 bytes: the three records and most of the file.
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        w.write_all(&bytes[..bytes.len() - 2_000]).unwrap();
        wait_for("a decrypted record in the hidden folder", || {
            partials(&d).iter().any(|p| {
                tree(p)
                    .iter()
                    .any(|f| f.starts_with("fhir/") || f.starts_with("records/"))
            })
        });
        let pid = child.0.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        let o = child.0.take().unwrap().wait_with_output().unwrap();
        drop(w);
        assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("interrupted; nothing was written"),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(partials(&d), Vec::<PathBuf>::new());
        assert!(!out.exists());
    }
}
