//! Rules of docs/FORMAT.md that an independent implementation, written from
//! the text alone, found ambiguous. Each test pins what the reference does,
//! and its doc comment names the section of FORMAT.md that now states it.
//!
//! Two of them (JSON arrays read as manifest objects) failed when written;
//! the reader was fixed (`manifest::shape`).
//!
//! Only the public API and the files in tests/vectors/ are used (the files
//! are read with a parser of this file's own).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use medseal::record::{self, RecordContext};
use medseal::vault::deterministic;
use medseal::{
    check_sealed_text, hazmat, ContentType, Error, Manifest, PasskeyUnlock, PrfOutput, Vault,
};

// ---------------------------------------------------------------------------
// Helpers

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Reads a vector file (§12.1): `#` comments and empty lines are skipped;
/// every other line is `key: value`, split at the first colon, with one space
/// after the colon dropped, so `key: ` and `key:` both give an empty value.
fn parse_vector(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').expect("a `key: value` line");
        let value = value.strip_prefix(' ').unwrap_or(value);
        let old = out.insert(key.to_string(), value.to_string());
        assert!(old.is_none(), "key {key} twice");
    }
    out
}

/// Every vector file, by name, as text.
fn vector_texts() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(vector_dir())
        .expect("tests/vectors")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read_to_string(&p).expect("UTF-8 text"))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 17, "the vectors of §12.3");
    out
}

fn vector(name: &str) -> BTreeMap<String, String> {
    parse_vector(&std::fs::read_to_string(vector_dir().join(name)).expect(name))
}

/// The manifest of `v1-json-record.txt`, compact JSON as the writer emits it.
fn v1_json() -> String {
    vector("v1-json-record.txt")["manifest"].clone()
}

/// `json` with the first `from` replaced by `to` (which must be there).
fn edited(json: &str, from: &str, to: &str) -> String {
    assert!(json.contains(from), "{from} is not in the manifest");
    json.replacen(from, to, 1)
}

/// The error code of a result, or "ok".
fn code<T>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// Parses `json` and unlocks it with the passkey of `v1-json-record.txt`.
fn unlock(json: &str) -> Result<Vault, Error> {
    let f = vector("v1-json-record.txt");
    let manifest = Manifest::from_json(json)?;
    let cred = hex::decode(&f["credential-id"]).expect("hex");
    let prf = PrfOutput::new(&hex::decode(&f["prf-output"]).expect("hex"))?;
    Vault::unlock_with_prf(&manifest, &cred, prf, 0)
}

/// The vault of `v1-json-record.txt`, unlocked.
fn v1_vault() -> Vault {
    unlock(&v1_json()).expect("the v1-json-record vault unlocks")
}

fn is_unknown_manifest_version(r: Result<Manifest, Error>, want: u64) -> bool {
    matches!(r, Err(Error::UnknownVersion { what: "vault manifest", version }) if version == want)
}

// ---------------------------------------------------------------------------
// 1. §12.4: the plaintext of neg-other-vault

/// §12.4: the record of `neg-other-vault.txt` is the 18 bytes
/// `from another vault`, content type bytes (`0x00`), sealed by the
/// `vector-3` vault for record id `rec-0001` and no context (seal seed
/// `vector-3/seal`: tests/vectors.rs pins the bytes). The file's manifest is
/// the `vector-2` vault's.
#[test]
fn neg_other_vault_holds_from_another_vault_as_bytes() {
    let f = vector("neg-other-vault.txt");
    let passkey = PasskeyUnlock {
        credential_id: hex::decode(&f["credential-id"]).expect("hex"),
        prf_salt: deterministic::prf_salt(b"vector-3/salt"),
        prf_output: PrfOutput::new(&hex::decode(&f["prf-output"]).expect("hex")).expect("prf"),
        label: Some("test key".into()),
    };
    let (vector3, _) = deterministic::create(b"vector-3", passkey).expect("create");
    let sealed = record::from_text(&f["sealed"]).expect("text form");
    let ctx = RecordContext::new(f["record-id"].as_bytes());
    assert_eq!(f["context"], "");
    assert_eq!(
        vector3
            .open_typed(&sealed, &ctx)
            .expect("vector-3 opens it"),
        (ContentType::Bytes, b"from another vault".to_vec())
    );
    // The manifest in the file is the vector-2 vault's, not vector-3's.
    assert_eq!(f["manifest"], vector("v1-with-context.txt")["manifest"]);
    let m = Manifest::from_json(&f["manifest"]).expect("manifest");
    assert_ne!(m.vault_id(), &vector3.vault_id()[..]);
}

// ---------------------------------------------------------------------------
// 2. §7.3: repeated keys

/// §7.3 steps 2-5: a repeated `medseal` or `version` key is `Malformed`,
/// whatever the values (equal or not, known version or not). Neither the
/// first nor the last value is used: the check of step 2 refuses it before
/// any version is compared.
#[test]
fn a_repeated_medseal_or_version_key_is_malformed_whatever_the_values() {
    let j = v1_json();
    let version = r#""version":1,"#;
    let kind = r#""medseal":"vault-manifest","#;
    for (from, to) in [
        (version, r#""version":1,"version":1,"#),
        (version, r#""version":1,"version":4,"#),
        (version, r#""version":4,"version":1,"#),
        (version, r#""version":4,"version":4,"#),
        (
            kind,
            r#""medseal":"vault-manifest","medseal":"vault-manifest","#,
        ),
        (kind, r#""medseal":"other","medseal":"vault-manifest","#),
        (kind, r#""medseal":"vault-manifest","medseal":"other","#),
    ] {
        assert_eq!(
            code(Manifest::from_json(&edited(&j, from, to))),
            "Malformed",
            "{to}"
        );
    }
    // Also when the two are far apart (the repeat as the last key).
    for tail in [r#","version":1}"#, r#","version":4}"#] {
        let far = format!("{}{tail}", &j[..j.len() - 1]);
        assert_eq!(code(Manifest::from_json(&far)), "Malformed", "{tail}");
    }
    // The same with an unknown version in the first place: still Malformed.
    let v3 = edited(&j, version, r#""version":4,"#);
    let far = format!("{}{}", &v3[..v3.len() - 1], r#","version":4}"#);
    assert_eq!(code(Manifest::from_json(&far)), "Malformed");
}

/// §7.3 steps 5-6: any other repeated key is `Malformed` in step 6, which
/// runs only for a known version. A manifest of a version this reader does
/// not know is `UnknownVersion` even with repeated (or otherwise wrong)
/// keys: only `medseal` and `version` are read before the version check.
#[test]
fn other_repeated_keys_are_malformed_only_in_a_known_version() {
    let j = v1_json();
    let dup = [
        (r#""revision":1,"#, r#""revision":1,"revision":1,"#),
        (
            r#""type":"passkey","#,
            r#""type":"passkey","type":"passkey","#,
        ),
        (
            r#""label":"test key""#,
            r#""label":"test key","label":"test key""#,
        ),
    ];
    for (from, to) in dup {
        let twice = edited(&j, from, to);
        assert_eq!(code(Manifest::from_json(&twice)), "Malformed", "{to}");
        let v3 = edited(&twice, r#""version":1,"#, r#""version":4,"#);
        assert!(
            is_unknown_manifest_version(Manifest::from_json(&v3), 4),
            "{to}"
        );
    }
    // Version 4 with a field of the wrong type, or an unknown field.
    for (from, to) in [
        (r#""revision":1,"#, r#""revision":1.5,"#),
        (r#""revision":1,"#, r#""revision":1,"extra":[{}],"#),
    ] {
        let v3 = edited(&edited(&j, from, to), r#""version":1,"#, r#""version":4,"#);
        assert!(
            is_unknown_manifest_version(Manifest::from_json(&v3), 4),
            "{to}"
        );
    }
    // But all of it must be JSON: a syntax error anywhere is Malformed.
    for (from, to) in [
        (r#""revision":1,"#, r#""revision":01,"#),
        (r#""revision":1,"#, r#""revision":1,,"#),
        (r#""test key""#, "\"test\tkey\""),
    ] {
        let v3 = edited(&edited(&j, from, to), r#""version":1,"#, r#""version":4,"#);
        assert_eq!(code(Manifest::from_json(&v3)), "Malformed", "{to}");
    }
    // Step 3 before step 5: a wrong `medseal` wins over an unknown version.
    let other = edited(&j, r#""medseal":"vault-manifest""#, r#""medseal":"x""#);
    let other = edited(&other, r#""version":1,"#, r#""version":4,"#);
    assert_eq!(code(Manifest::from_json(&other)), "Malformed");
}

/// Bug (§7.3 step 2 says "a JSON object"): serde_json reads a Rust struct
/// from a JSON array too (its fields in declaration order), so the
/// two-element array `["vault-manifest",3]` passes the `medseal`/`version`
/// probe and gives `UnknownVersion`. (`["vault-manifest",1]` is `Malformed`,
/// but only because the full v1 struct wants seven elements.)
#[test]
fn a_manifest_written_as_a_json_array_is_malformed() {
    let got = [
        code(Manifest::from_json(r#"["vault-manifest",3]"#)),
        code(Manifest::from_json(r#"["vault-manifest",1]"#)),
    ];
    assert_eq!(got, ["Malformed", "Malformed"]);
}

/// Bug (§7.1 makes `identityKey` and each unlock entry a JSON object): the
/// reference also accepts them as arrays of their values in the order of its
/// structs, and such a manifest unlocks (the signature covers the decoded
/// values, not the JSON), so the JSON of a signed manifest is malleable in
/// shape, not only in key order and whitespace.
#[test]
fn nested_objects_written_as_arrays_are_malformed() {
    let j = v1_json();
    let v: serde_json::Value = serde_json::from_str(&j).expect("json");
    let ik = &v["identityKey"];
    let ik_array = serde_json::json!([ik["publicKey"], ik["wrappedPrivateKey"]]);
    let ik_text = serde_json::to_string(ik).expect("json");
    let ik_as_array = edited(&j, &ik_text, &ik_array.to_string());
    // The passkey entry, as written (`type` first), and as an array.
    let start = j.find(r#"{"type":"passkey""#).expect("a passkey entry");
    let end = start + j[start..].find('}').expect("its end") + 1;
    let e = &v["unlock"][0];
    let e_array = serde_json::json!([
        e["type"],
        e["id"],
        e["credentialId"],
        e["prfSalt"],
        e["wrappedVaultKey"],
        e["label"]
    ]);
    let e_as_array = edited(&j, &j[start..end], &e_array.to_string());
    let got = [code(unlock(&ik_as_array)), code(unlock(&e_as_array))];
    assert_eq!(got, ["Malformed", "Malformed"]);
}

// ---------------------------------------------------------------------------
// 3. §7.1, §7.3 step 4: "non-negative integer"

/// The number texts that are not a `u64`: a fraction or exponent (even when
/// the value is whole), a minus sign (even `-0`), leading zeros or `+`, and
/// anything from 2^64 on; also non-numbers.
const NOT_U64: &[&str] = &[
    "1.0",
    "1e0",
    "1E0",
    "10e-1",
    "1.5",
    "-0",
    "-0.0",
    "-1",
    "01",
    "+1",
    "18446744073709551616",
    "100000000000000000000000",
    "\"1\"",
    "null",
    "true",
    "[1]",
];

/// §7.1, §7.3 step 4: `version` is a JSON number written as digits only (no
/// `-`, `.`, exponent, leading zero or `+`) with a value in 0 … 2^64 − 1.
/// Anything else, `null` and a missing `version` are `Malformed`; a value in
/// range other than a known version is `UnknownVersion`.
#[test]
fn version_is_written_as_plain_digits_in_u64_range() {
    let j = v1_json();
    let version = r#""version":1,"#;
    for bad in NOT_U64 {
        let text = edited(&j, version, &format!(r#""version":{bad},"#));
        assert_eq!(code(Manifest::from_json(&text)), "Malformed", "{bad}");
    }
    assert_eq!(
        code(Manifest::from_json(&edited(&j, version, ""))),
        "Malformed"
    );
    for (text, want) in [("0", 0), ("4", 4), ("18446744073709551615", u64::MAX)] {
        let m = Manifest::from_json(&edited(&j, version, &format!(r#""version":{text},"#)));
        assert!(is_unknown_manifest_version(m, want), "{text}");
    }
    // JSON whitespace around it is fine.
    assert!(Manifest::from_json(&edited(&j, version, "\"version\" :\n 1 ,")).is_ok());
}

/// §7.1, §7.3 step 6: `revision` follows the same rule as `version`, over the
/// whole range 0 … 2^64 − 1. Parsing accepts 0 (a writer starts at 1) and
/// 2^64 − 1; the signature, not the parser, pins the value.
#[test]
fn revision_is_written_as_plain_digits_in_u64_range() {
    let j = v1_json();
    let revision = r#""revision":1,"#;
    for bad in NOT_U64 {
        let text = edited(&j, revision, &format!(r#""revision":{bad},"#));
        assert_eq!(code(Manifest::from_json(&text)), "Malformed", "{bad}");
    }
    for (text, want) in [("0", 0), ("1", 1)] {
        let m = Manifest::from_json(&edited(&j, revision, &format!(r#""revision":{text},"#)))
            .expect(text);
        assert_eq!(m.revision(), want);
    }
    // The top of the range (FORMAT.md §7.1, §13): 2^53 - 1 parses; above
    // it is out of range (ManifestInvalid), up to 2^64 - 1 (a u64 still).
    let top = edited(&j, revision, r#""revision":9007199254740991,"#);
    let top = Manifest::from_json(&top).map(|m| m.revision());
    assert_eq!(
        top,
        Ok((1 << 53) - 1),
        "update FORMAT.md §7.1 if the range changed"
    );
    for over in ["9007199254740992", "18446744073709551615"] {
        let text = edited(&j, revision, &format!(r#""revision":{over},"#));
        assert_eq!(
            code(Manifest::from_json(&text)),
            "ManifestInvalid",
            "{over}"
        );
    }
    // A changed revision parses but does not unlock: the signature covers it.
    assert_eq!(
        code(unlock(&edited(&j, revision, r#""revision":2,"#))),
        "ManifestInvalid"
    );
}

// ---------------------------------------------------------------------------
// 4. §7.1, §7.3: the entry `type`

/// §7.1, §7.3 step 6: an unlock entry whose `type` is missing, repeated,
/// `null`, not a string, or a string other than exactly `passkey` or
/// `recovery` (case matters) is `Malformed`; so is a known `type` with the
/// fields of the other. `type` may be anywhere in the entry.
#[test]
fn an_entry_type_missing_unknown_or_not_a_string_is_malformed() {
    let j = v1_json();
    let passkey = r#"{"type":"passkey","#;
    let recovery = r#"{"type":"recovery","#;
    for (from, to) in [
        (passkey, "{"),
        (passkey, r#"{"type":"Passkey","#),
        (passkey, r#"{"type":"webauthn","#),
        (passkey, r#"{"type":"","#),
        (passkey, r#"{"type":null,"#),
        (passkey, r#"{"type":1,"#),
        (passkey, r#"{"type":["passkey"],"#),
        (passkey, r#"{"type":"recovery","#),
        (passkey, r#"{"type":"passkey","type":"passkey","#),
        (recovery, "{"),
        (recovery, r#"{"type":"Recovery","#),
        (recovery, r#"{"type":"passkey","#),
    ] {
        let text = edited(&j, from, to);
        assert_eq!(code(Manifest::from_json(&text)), "Malformed", "{to}");
        // The entries of an unknown version are not looked at.
        let v3 = edited(&text, r#""version":1,"#, r#""version":4,"#);
        assert!(
            is_unknown_manifest_version(Manifest::from_json(&v3), 4),
            "{to}"
        );
    }
    // `type` last in the entry: the same manifest.
    let moved = edited(&j, passkey, "{");
    let moved = edited(
        &moved,
        r#""label":"test key"}"#,
        r#""label":"test key","type":"passkey"}"#,
    );
    assert_eq!(
        Manifest::from_json(&moved).expect("type last"),
        Manifest::from_json(&j).expect("v1")
    );
}

// ---------------------------------------------------------------------------
// 5. JSON escapes

/// `\u` escape of the first character of `s`.
fn escape_first(s: &str) -> String {
    let mut chars = s.chars();
    let first = chars.next().expect("not empty");
    assert!(first.is_ascii());
    format!("\\u{:04x}{}", u32::from(first), chars.as_str())
}

/// §7.3 step 6: JSON escapes are decoded in every string, keys included,
/// before any rule is applied: `medseal`, keys, `type`, `id`, `label` and the
/// b64u strings alike. A manifest with escapes is the manifest of the decoded
/// text, and it unlocks. (The old text said b64u strings with escapes were
/// refused; the reference has accepted them since `B64` reads owned strings.)
#[test]
fn json_escapes_are_decoded_in_every_string_and_key() {
    let j = v1_json();
    let plain = Manifest::from_json(&j).expect("v1");
    let v: serde_json::Value = serde_json::from_str(&j).expect("json");
    let entry_id = v["unlock"][0]["id"].as_str().expect("id").to_string();
    let recovery_id = v["unlock"][1]["id"].as_str().expect("id").to_string();
    let vault_id = v["vaultId"].as_str().expect("vaultId").to_string();
    let signature = v["signature"].as_str().expect("signature").to_string();
    let edits = [
        (
            r#""vault-manifest""#.to_string(),
            r#""vault-\u006danifest""#.to_string(),
        ),
        (
            r#""version":"#.to_string(),
            r#""ver\u0073ion":"#.to_string(),
        ),
        (
            r#""wrappedVaultKey":"#.to_string(),
            r#""wrapped\u0056aultKey":"#.to_string(),
        ),
        (r#""passkey""#.to_string(), r#""pass\u006bey""#.to_string()),
        (
            r#""recovery""#.to_string(),
            r#""\u0072ecovery""#.to_string(),
        ),
        (
            format!(r#""{entry_id}""#),
            format!(r#""{}""#, escape_first(&entry_id)),
        ),
        (
            format!(r#""{recovery_id}""#),
            format!(r#""{}""#, escape_first(&recovery_id)),
        ),
        (
            r#""test key""#.to_string(),
            r#""test\u0020key""#.to_string(),
        ),
        (
            r#""Y3JlZC0x""#.to_string(),
            r#""Y3JlZC0\u0078""#.to_string(),
        ),
        (
            format!(r#""{vault_id}""#),
            format!(r#""{}""#, escape_first(&vault_id)),
        ),
        (
            format!(r#""{signature}""#),
            format!(r#""{}""#, escape_first(&signature)),
        ),
    ];
    let mut all = j.clone();
    for (from, to) in &edits {
        let one = edited(&j, from, to);
        assert_eq!(Manifest::from_json(&one).expect(to), plain, "{to}");
        all = edited(&all, from, to);
    }
    assert_eq!(Manifest::from_json(&all).expect("all escaped"), plain);
    let vault = unlock(&all).expect("unlocks");
    let f = vector("v1-json-record.txt");
    let sealed = record::from_text(&f["sealed"]).expect("text form");
    let opened = vault.open(&sealed, &RecordContext::new(f["record-id"].as_bytes()));
    assert_eq!(hex::encode(opened.expect("opens")), f["plaintext"]);
    // An escape that decodes to a character outside base64url: Malformed.
    let bad_b64 = [
        "\\u002b".to_string() + &vault_id[1..],
        "\\/".to_string() + &vault_id[1..],
        "\\u0000".to_string() + &vault_id[1..],
    ];
    for bad in bad_b64 {
        let text = edited(&j, &vault_id, &bad);
        assert_eq!(code(Manifest::from_json(&text)), "Malformed", "{bad}");
    }
}

/// §7.1: the byte limits of `id` (64) and `label` (256) count the UTF-8 of
/// the decoded string, not the JSON text.
#[test]
fn id_and_label_limits_count_decoded_utf8_bytes() {
    let j = v1_json();
    let v: serde_json::Value = serde_json::from_str(&j).expect("json");
    let recovery_id = v["unlock"][1]["id"].as_str().expect("id").to_string();
    let e_acute = "\\u00e9"; // 2 bytes in UTF-8, 6 in JSON
    for (n, want) in [(32, "ok"), (33, "ManifestInvalid")] {
        let id = format!(r#""{}""#, e_acute.repeat(n));
        let text = edited(&j, &format!(r#""{recovery_id}""#), &id);
        assert_eq!(code(Manifest::from_json(&text)), want, "id of {n} é");
    }
    for (n, want) in [(128, "ok"), (129, "ManifestInvalid")] {
        let label = format!(r#""{}""#, e_acute.repeat(n));
        let text = edited(&j, r#""test key""#, &label);
        assert_eq!(code(Manifest::from_json(&text)), want, "label of {n} é");
    }
}

/// §7.3 steps 2 and 6: a lone surrogate escape (`\ud800` not followed by a
/// low surrogate escape, or a lone `\udc00`) cannot be decoded to UTF-8: it is
/// `Malformed` in every string and key the reader decodes. A pair is one
/// character. In a manifest of an unknown version, only `medseal`, `version`
/// and the top-level keys are decoded before `UnknownVersion`.
#[test]
fn a_lone_surrogate_is_malformed_where_the_string_is_read() {
    let j = v1_json();
    let v: serde_json::Value = serde_json::from_str(&j).expect("json");
    let entry_id = v["unlock"][0]["id"].as_str().expect("id").to_string();
    let lone = [
        r"\ud800",
        r"\udc00",
        r"x\ud800y",
        r"\ud800\u0041",
        r"\udc00\ud800",
    ];
    for s in lone {
        for (from, to) in [
            (r#""test key""#.to_string(), format!(r#""{s}""#)),
            (format!(r#""{entry_id}""#), format!(r#""{s}""#)),
            (r#""passkey""#.to_string(), format!(r#""{s}""#)),
            (r#""vault-manifest""#.to_string(), format!(r#""{s}""#)),
            (
                r#""revision":"#.to_string(),
                format!(r#""{s}":0,"revision":"#),
            ),
        ] {
            let text = edited(&j, &from, &to);
            assert_eq!(code(Manifest::from_json(&text)), "Malformed", "{to}");
        }
        // Version 4: the label is not read, so it is not decoded either.
        let v3 = edited(&j, r#""version":1,"#, r#""version":4,"#);
        let label = edited(&v3, r#""test key""#, &format!(r#""{s}""#));
        assert!(
            is_unknown_manifest_version(Manifest::from_json(&label), 4),
            "{s}"
        );
        // Nor are the keys inside the members.
        let key = edited(&v3, r#""label":"#, &format!(r#""{s}":"#));
        assert!(
            is_unknown_manifest_version(Manifest::from_json(&key), 4),
            "{s}"
        );
        // But `medseal` and the top-level keys are.
        let kind = edited(&v3, r#""vault-manifest""#, &format!(r#""{s}""#));
        assert_eq!(code(Manifest::from_json(&kind)), "Malformed", "{s}");
        let top = edited(&v3, r#""revision":"#, &format!(r#""{s}":0,"revision":"#));
        assert_eq!(code(Manifest::from_json(&top)), "Malformed", "{s}");
    }
    // A surrogate pair is one character (4 UTF-8 bytes).
    let pair = edited(&j, r#""test key""#, r#""\ud83d\ude00""#);
    let m = Manifest::from_json(&pair).expect("a pair");
    let label = m.passkeys().next().expect("a passkey").label;
    assert_eq!(label, Some("\u{1f600}"));
}

// ---------------------------------------------------------------------------
// 6. §6.2, §12.2: the text form comes before the record context

/// §6.2, §12.2: the record id and context are checked first among the
/// checks of opening bytes (§6.5 step 1); the text form is parsed before
/// that (§12.2 step 3). So a bad text form with a bad record id or context
/// gives the text form's error; a text form that decodes gives
/// `InvalidArgument`, whatever its bytes.
#[test]
fn the_text_form_is_parsed_before_the_record_context_is_checked() {
    let vault = v1_vault();
    let f = vector("v1-json-record.txt");
    let bad_magic = vector("neg-bad-magic.txt")["sealed"].clone();
    let truncated = vector("neg-truncated.txt")["sealed"].clone();
    let run = |text: &str, id: &[u8], ctx: &[u8]| -> Result<Vec<u8>, Error> {
        let bytes = record::from_text(text)?;
        vault.open(&bytes, &RecordContext::with_context(id, ctx))
    };
    let long_id = vec![b'r'; 1025];
    let long_ctx = vec![0u8; 65_537];
    let bad_contexts: [(&[u8], &[u8]); 3] = [(b"", b""), (&long_id, b""), (b"rec-0001", &long_ctx)];
    for (id, ctx) in bad_contexts {
        assert_eq!(code(run("ms1.*", id, ctx)), "Malformed");
        assert_eq!(code(run("ms1.A", id, ctx)), "Malformed");
        assert_eq!(code(run("msrc", id, ctx)), "Malformed");
        assert_eq!(code(run("ms3.AAAA", id, ctx)), "UnknownVersion");
        for decodes in ["ms1.", f["sealed"].as_str(), &bad_magic, &truncated] {
            assert_eq!(code(run(decodes, id, ctx)), "InvalidArgument", "{decodes}");
        }
    }
    // With a good context, the bytes' own errors.
    assert_eq!(code(run(&bad_magic, b"rec-0001", b"")), "Malformed");
    assert_eq!(code(run(&truncated, b"rec-0001", b"")), "Malformed");
    assert_eq!(code(run("ms1.", b"rec-0001", b"")), "Malformed");
}

// ---------------------------------------------------------------------------
// 7. §6.6: TooLarge against Malformed in the text form

/// §6.6: the text form is checked in this order: the prefix (`ms1.`, else
/// `UnknownVersion` or `Malformed`), then the length after `ms1.` (over
/// 402,653,696 characters: `TooLarge`, without looking at the characters),
/// then base64url (`Malformed`). The decoded bytes then go through §6.5,
/// whose step 6 gives `TooLarge` for the lengths just over `MAX_SEALED_LEN`
/// that a text form at the limit can still decode to.
#[test]
fn text_form_checks_prefix_then_length_then_base64url() {
    let limit = record::MAX_SEALED_LEN / 3 * 4 + 4;
    // One character over the limit, none of them base64url.
    let mut text = vec![b'*'; 4 + limit + 1];
    text[..4].copy_from_slice(b"ms1.");
    assert_eq!(code(record::from_text_bytes(&text)), "TooLarge");
    text[..4].copy_from_slice(b"ms3.");
    assert_eq!(code(record::from_text_bytes(&text)), "UnknownVersion");
    text[..4].copy_from_slice(b"xs1.");
    assert_eq!(code(record::from_text_bytes(&text)), "Malformed");
    // At the limit: the characters are looked at.
    text.pop();
    text[..4].copy_from_slice(b"ms1.");
    assert_eq!(code(record::from_text_bytes(&text)), "Malformed");
    // At the limit, valid base64url of a v1 header: 301,990,272 bytes, two
    // over MAX_SEALED_LEN, so TooLarge from §6.5 step 6 (no key needed).
    assert!(limit / 4 * 3 > record::MAX_SEALED_LEN);
    text[4..].fill(b'A');
    text[4..12].copy_from_slice(b"bXNyYwEB");
    let text = String::from_utf8(text).expect("ASCII");
    assert_eq!(code(check_sealed_text(&text)), "TooLarge");
    // The numbers FORMAT.md gives (§6.6, §13).
    assert_eq!(
        (limit, record::MAX_SEALED_LEN),
        (402_653_712, 301_990_282),
        "update FORMAT.md §6.6 and §13"
    );
}

// ---------------------------------------------------------------------------
// 8. §6.4, §6.5: the padded-size rule's place among the open steps

/// Seals `body` (the padded body, as given) as a record of `vault`, the way
/// a writer holding the key could: through the large-record path and an
/// outside AES-GCM.
fn seal_raw_body(vault: &mut Vault, body: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    let parts = hazmat::seal_large(vault, ContentType::Bytes, 0, ctx).expect("seal_large");
    let cipher = aes_gcm::Aes256Gcm::new(&(*parts.cipher().key()).into());
    let nonce: [u8; 12] = parts.cipher().nonce().try_into().expect("12 bytes");
    let mut buf = body.to_vec();
    let tag = cipher
        .encrypt_inout_detached(
            &nonce.into(),
            parts.cipher().aad(),
            buf.as_mut_slice().into(),
        )
        .expect("encrypt");
    let mut sealed = parts.prefix().to_vec();
    sealed.extend_from_slice(&buf);
    sealed.extend_from_slice(&tag);
    sealed
}

/// `head` followed by zeros up to `len` bytes.
fn body(head: &[u8], len: usize) -> Vec<u8> {
    let mut b = head.to_vec();
    b.resize(len, 0);
    b
}

/// §6.4, §6.5 steps 10-13: after the body authenticates, the reference
/// checks, in this order: a marker (the last non-zero byte is `0x80`; an
/// empty or all-zero body has none), a content-type byte before it, the
/// padded size `P == max(256, padme(n + 2))`, and only then the content-type
/// value. So a body of a wrong size is `Malformed` even when its content type
/// is unknown.
#[test]
fn the_padded_size_is_checked_after_the_marker_and_before_the_content_type() {
    let mut vault = v1_vault();
    let ctx = RecordContext::new(b"padding");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "Malformed"),                 // step 10: no byte at all
        (body(&[], 256), "Malformed"),             // step 10: all zero
        (body(&[7, 0x81], 256), "Malformed"),      // step 10: last non-zero is not 0x80
        (body(&[0x80], 256), "Malformed"),         // step 11: no content-type byte
        (body(&[7, 0x80], 255), "Malformed"),      // step 12 before 13: too short
        (body(&[7, 0x80], 272), "Malformed"),      // step 12 before 13: too long
        (body(&[7, 9, 0x80], 1024), "Malformed"),  // step 12 before 13
        (body(&[7, 0x80], 256), "UnknownVersion"), // step 13
        (body(&[0, 0x80], 256), "ok"),
        (body(&[1, 0x80], 256), "ok"),
    ];
    for (padded, want) in cases {
        let sealed = seal_raw_body(&mut vault, &padded, &ctx);
        let len = padded.len();
        let head = padded.get(..2).unwrap_or_default().to_vec();
        assert_eq!(
            code(vault.open(&sealed, &ctx)),
            want,
            "{len} bytes {head:?}"
        );
        // The same without the envelope.
        assert_eq!(
            code(hazmat::finish_body(padded)),
            want,
            "{len} bytes {head:?}"
        );
        // The size rule alone is checked without a key as well.
        let keyless = if hazmat::padded_len(len) == len {
            "ok"
        } else {
            "Malformed"
        };
        assert_eq!(
            code(check_sealed_text(&record::to_text(&sealed))),
            keyless,
            "{len}"
        );
    }
    let unknown = hazmat::finish_body(body(&[7, 0x80], 256));
    assert!(matches!(
        unknown,
        Err(Error::UnknownVersion {
            what: "record content type",
            version: 7
        })
    ));
}

// ---------------------------------------------------------------------------
// 9. §6.6, §10: `msN.`

/// §6.6, §10: a text form that starts with `ms`, then 1-3 ASCII digits, then
/// `.`, and is not `ms1.` is `UnknownVersion` with the digits read as a
/// decimal number: `ms01.` and `ms001.` are version 1, `ms0.` version 0.
/// Four digits, no digit, no dot, or other letters are `Malformed`. `ms1.`
/// followed by nothing decodes to no bytes (then §6.5 step 2: `Malformed`).
#[test]
fn text_prefixes_other_than_ms1_dot() {
    let unknown = |text: &str| match record::from_text(text) {
        Err(Error::UnknownVersion {
            what: "sealed record text form",
            version,
        }) => Some(version),
        _ => None,
    };
    for (text, want) in [
        ("ms01.bXNyYwEB", 1),
        ("ms001.bXNyYwEB", 1),
        ("ms0.", 0),
        ("ms3.", 3),
        ("ms3.not base64 at all", 3),
        ("ms09.", 9),
        ("ms999.AAAA", 999),
    ] {
        assert_eq!(unknown(text), Some(want), "{text}");
    }
    for text in [
        "ms1000.AAAA",
        "ms.AAAA",
        "ms1",
        "ms3",
        "ms1AAAA",
        "MS1.bXNyYwEB",
        "Ms1.bXNyYwEB",
        " ms1.bXNyYwEB",
        "ms+1.AAAA",
        "ms-1.AAAA",
        "ms1:bXNyYwEB",
        "ms\u{0661}.AAAA",
        "",
    ] {
        assert_eq!(code(record::from_text(text)), "Malformed", "{text:?}");
    }
    assert_eq!(record::from_text("ms1.").expect("empty"), Vec::<u8>::new());
    assert_eq!(code(check_sealed_text("ms1.")), "Malformed");
    assert_eq!(code(check_sealed_text("ms01.bXNyYwEB")), "UnknownVersion");
}

// ---------------------------------------------------------------------------
// 10. §12.1: empty values

/// §12.1: the vector files are LF-only UTF-8 text that ends with a newline,
/// and every empty value is written `key: ` with its trailing space (the
/// regeneration check compares bytes, so an editor that strips it breaks
/// tests/vectors.rs). A reader may still read `key:` as an empty value, as
/// this file's parser and the one in tests/vectors.rs do.
#[test]
fn vector_files_keep_the_space_of_empty_values() {
    let mut empty_values = 0;
    for (name, text) in vector_texts() {
        assert!(!text.contains('\r'), "{name}: CR in a vector file");
        assert!(text.ends_with('\n'), "{name}: no final newline");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.contains(": "),
                "{name}: `{line}`: trailing space stripped?"
            );
            if line.ends_with(": ") {
                empty_values += 1;
            } else {
                assert!(!line.ends_with(' '), "{name}: `{line}`: trailing space");
            }
        }
    }
    assert!(empty_values >= 10, "most vectors have an empty context");
    let f = parse_vector("# comment\ncontext:\nplaintext: \nrecord-id: a: b\n");
    assert_eq!(f["context"], "");
    assert_eq!(f["plaintext"], "");
    assert_eq!(f["record-id"], "a: b");
}

// ---------------------------------------------------------------------------
// 11. §12.3: high-S signatures

/// The vectors whose manifest signature has `s` in the high half
/// (`s > n/2`). Listed in FORMAT.md §12.3; these change when low-S becomes
/// the rule.
const HIGH_S: &[&str] = &[
    "neg-bad-magic.txt",
    "neg-flipped-body-bit.txt",
    "neg-flipped-commitment.txt",
    "neg-manifest-salt-changed.txt",
    "neg-manifest-signature.txt",
    "neg-recovery-code-typo.txt",
    "neg-truncated.txt",
    "neg-unknown-version.txt",
    "neg-wrong-prf-output.txt",
    "neg-wrong-record-id.txt",
    "neg2-high-s.txt",
    "neg3-high-s.txt",
    "v1-json-record.txt",
    "v1-recovery-code.txt",
];

/// §2, §12.3: reports, for each vector, whether its manifest signature's `s`
/// is high, and checks the list in FORMAT.md §12.3.
#[test]
fn vectors_with_a_high_s_manifest_signature() {
    use base64::Engine;
    // floor(n / 2) for the P-256 group order n.
    let half_n = hex::decode("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8")
        .expect("hex");
    let mut high = Vec::new();
    for (name, text) in vector_texts() {
        let f = parse_vector(&text);
        let m: serde_json::Value = serde_json::from_str(&f["manifest"]).expect("json");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(m["signature"].as_str().expect("a string"))
            .expect("b64u");
        let parsed = p256::ecdsa::Signature::from_slice(&sig).expect("r and s in range");
        let is_high = parsed.normalize_s() != parsed;
        assert_eq!(is_high, sig[32..] > half_n[..], "{name}");
        println!("{name}: s is {}", if is_high { "high" } else { "low" });
        if is_high {
            high.push(name);
        }
    }
    assert_eq!(high, HIGH_S, "update HIGH_S and FORMAT.md §12.3");
}
