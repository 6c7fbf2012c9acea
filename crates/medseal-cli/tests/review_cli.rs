//! Review of `medseal export open` (crates/medseal-cli). Each test is the
//! attack, asserting what the tool promises; each failed (the attack
//! succeeded) until the tool was fixed, and passes since.
//!
//! Run: flock /tmp/medseal-build.lock cargo test --locked -p medseal-cli --test review_cli

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use medseal::export::{ExportWriter, ItemMeta};
use medseal::{PasskeyUnlock, PrfOutput, RecordContext, Vault};

const BIN: &str = env!("CARGO_BIN_EXE_medseal");

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

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("review-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn record_meta(id: &str) -> ItemMeta {
    ItemMeta {
        record_id: id.into(),
        context: None,
        form: Some("bytes".into()),
        name: None,
        media_type: None,
    }
}

/// An export of `records` (record id, plaintext), opened with the CLI into `d/out`.
fn open_export(d: &Path, records: &[(&str, Vec<u8>)]) -> (Output, PathBuf, u64) {
    let (mut v, code) = new_vault();
    let mut w = ExportWriter::new(&v, 1, Some("review")).unwrap();
    w.manifest(&v.manifest().to_json()).unwrap();
    for (id, data) in records {
        let sealed = v
            .seal(data, &RecordContext::with_context(id.as_bytes(), b""))
            .unwrap();
        w.record(&record_meta(id), &sealed).unwrap();
    }
    let bytes = w.finish(&mut v).unwrap();
    let e = d.join("made.medseal");
    std::fs::write(&e, &bytes).unwrap();
    let out = d.join("out");
    let mut child = Command::new(BIN)
        .args([
            "export",
            "open",
            e.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes())
        .unwrap();
    (child.wait_with_output().unwrap(), out, bytes.len() as u64)
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        out.push((p.clone(), e.metadata().unwrap().len()));
        if p.is_dir() {
            walk(&p, out);
        }
    }
}

/// FINDING C1 (resource exhaustion). `fhir::pretty` indents every value by
/// two spaces per level; a FHIR record of nested arrays (depth ~120, within
/// serde_json's limit) holding many small values grows ~120x when written.
/// A 64 MiB record (MAX_INLINE_LEN) becomes ~8 GB built in one String in
/// memory, then written to disk.
#[test]
fn c1_pretty_printing_a_deep_record_multiplies_its_size() {
    let d = scratch("c1");
    let depth = 120;
    let n = 128 * 1024;
    let mut rec = String::from(r#"{"resourceType":"Observation","x":"#);
    rec.push_str(&"[".repeat(depth));
    rec.push_str(&vec!["1"; n].join(","));
    rec.push_str(&"]".repeat(depth));
    rec.push('}');
    let (o, out, export_len) = open_export(&d, &[("deep", rec.clone().into_bytes())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files = Vec::new();
    walk(&out, &mut files);
    let written: u64 = files.iter().map(|(_, l)| l).sum();
    let _ = std::fs::remove_dir_all(&d);
    assert!(
        written < 10 * export_len,
        "ATTACK SUCCEEDED: a {} byte export of a {} byte record wrote {} bytes ({}x)",
        export_len,
        rec.len(),
        written,
        written / export_len
    );
}

/// FINDING C2 (Windows names). names.rs promises "nothing Windows refuses",
/// but a FHIR `resourceType` names a directory without going through
/// `names::component` (only its shape is checked: `CON` passes), and
/// `is_windows_device` misses `CONIN$`, `CONOUT$` and the superscript
/// `COM¹`..`LPT³` that Windows also reserves.
#[test]
fn c2_windows_reserved_names_reach_the_file_system() {
    let d = scratch("c2");
    let (o, out, _) = open_export(
        &d,
        &[
            ("r1", br#"{"resourceType":"CON","id":"x1"}"#.to_vec()),
            ("r2", br#"{"resourceType":"AUX","id":"x2"}"#.to_vec()),
            ("CONIN$", b"plain bytes".to_vec()),
            ("COM\u{b9}", b"plain bytes".to_vec()),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files = Vec::new();
    walk(&out, &mut files);
    let reserved = |name: &str| {
        let stem = name.split('.').next().unwrap_or("").to_uppercase();
        matches!(
            stem.as_str(),
            "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
        ) || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.chars().count() == 4
            && stem
                .chars()
                .nth(3)
                .is_some_and(|c| c.is_ascii_digit() || matches!(c, '\u{b9}' | '\u{b2}' | '\u{b3}')))
    };
    let bad: Vec<String> = files
        .iter()
        .filter(|(p, _)| reserved(p.file_name().unwrap().to_str().unwrap()))
        .map(|(p, _)| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    let _ = std::fs::remove_dir_all(&d);
    assert!(
        bad.is_empty(),
        "ATTACK SUCCEEDED: Windows device names written: {bad:?}"
    );
}
