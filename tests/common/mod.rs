//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use medseal::vault::deterministic;
use medseal::{Manifest, PasskeyUnlock, PrfOutput, RecordContext, RecoveryCode, Vault};

/// A PRF output as an authenticator would return it (any 32 non-zero bytes).
pub fn prf(tag: u8) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = tag.wrapping_mul(31).wrapping_add(i as u8).wrapping_add(1);
    }
    b
}

pub fn passkey(cred: &[u8], salt: [u8; 32], prf_bytes: [u8; 32]) -> PasskeyUnlock {
    PasskeyUnlock {
        credential_id: cred.to_vec(),
        prf_salt: salt,
        prf_output: PrfOutput::new(&prf_bytes).unwrap(),
        label: Some("test key".into()),
    }
}

/// A vault created with the OS random source.
pub fn new_vault() -> (Vault, RecoveryCode) {
    Vault::create(passkey(b"cred-1", medseal::new_prf_salt().unwrap(), prf(1))).unwrap()
}

/// A vault whose every random value comes from `seed`.
pub fn seeded_vault(seed: &[u8]) -> (Vault, RecoveryCode) {
    let salt = deterministic::prf_salt(&[seed, b"/salt"].concat());
    deterministic::create(seed, passkey(b"cred-1", salt, prf(1))).unwrap()
}

/// A record context with this record id and no further context.
pub fn ctx(id: &str) -> RecordContext<'_> {
    RecordContext::new(id.as_bytes())
}

/// Unpadded base64url, as every binary field of a manifest's JSON.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a base64url JSON field.
pub fn unb64(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.as_str().expect("a base64url string"))
        .unwrap()
}

/// Edits a base64url JSON field in place, as bytes.
pub fn edit_b64(v: &mut serde_json::Value, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = unb64(v);
    edit(&mut bytes);
    *v = serde_json::Value::String(b64(&bytes));
}

/// The manifest changed as a server could change it: through its JSON form
/// (the fields are private to the crate). `edit` gets the parsed JSON; the
/// result must still parse (shape and structural rules), since the tampering
/// is meant to be caught later, by the signature or the key binding.
pub fn tamper(m: &Manifest, edit: impl FnOnce(&mut serde_json::Value)) -> Manifest {
    try_tamper(m, edit).unwrap()
}

/// [`tamper`] for edits that may break the manifest's rules: what
/// [`Manifest::from_json`] says of the result.
pub fn try_tamper(
    m: &Manifest,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<Manifest, medseal::Error> {
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    edit(&mut v);
    Manifest::from_json(&v.to_string())
}

/// [`tamper`], then a signature over the result by `key` (a key of the
/// forger's own, whose public key the edit should put in the manifest, or
/// the vault's own identity key recovered from a seeded stream, see
/// [`seeded_identity`]). The signature is low-S, as a v2 reader requires: a
/// forger who wants to be accepted writes it that way.
pub fn tamper_and_sign(
    m: &Manifest,
    key: &p256::ecdsa::SigningKey,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Manifest {
    let unsigned = tamper(m, edit);
    let sig = sign_low_s(key, &deterministic::manifest_signed_bytes(&unsigned));
    tamper(&unsigned, |v| v["signature"] = b64(&sig).into())
}

/// An ECDSA P-256 signature (RFC 6979) with `s` in the low half, as P1363 bytes.
pub fn sign_low_s(key: &p256::ecdsa::SigningKey, msg: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let sig: p256::ecdsa::Signature = key.sign(msg);
    sig.normalize_s().to_bytes().to_vec()
}

/// The order n of the P-256 group, big-endian.
pub const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The other encoding of the same ECDSA signature: `r || (n - s)`. Valid
/// wherever `r || s` is, unless the verifier requires low S. Computed by
/// hand (big-endian subtraction), independently of the p256 crate.
pub fn negate_s(sig: &[u8]) -> Vec<u8> {
    assert_eq!(sig.len(), 64);
    let mut out = sig[..32].to_vec();
    let mut neg = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_N[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        neg[i] = d as u8;
    }
    assert_eq!(borrow, 0, "s < n");
    out.extend_from_slice(&neg);
    out
}

/// Whether a P1363 signature's `s` is in the high half (`s > n / 2`).
pub fn is_high_s(sig: &[u8]) -> bool {
    let s = p256::ecdsa::Signature::from_slice(sig).unwrap();
    s.normalize_s() != s
}

/// The first `n` bytes of the test-only seeded stream for `seed`, computed
/// from its definition (docs/FORMAT.md 12.4), not through medseal:
/// `SHA-256("medseal/test-rng" || seed || u64be(i))` for i = 0, 1, ...
pub fn seeded_stream(seed: &[u8], n: usize) -> Vec<u8> {
    use sha2::Digest;
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        let mut h = sha2::Sha256::new();
        h.update(b"medseal/test-rng");
        h.update(seed);
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(n);
    out
}

/// The identity signing key of a vault made by [`seeded_vault`]`(seed)`,
/// recovered from the seeded stream: `create` draws the vault id (16
/// bytes), the vault key (32), then the identity scalar (32, drawn again
/// while out of range). What lets a test sign as the vault (to show that a
/// rule other than the signature refuses a manifest). Checked against the
/// vault's public key by the caller.
pub fn seeded_identity(seed: &[u8]) -> p256::ecdsa::SigningKey {
    let stream = seeded_stream(seed, 16 + 32 + 8 * 32);
    stream[48..]
        .chunks(32)
        .find_map(|c| p256::ecdsa::SigningKey::from_slice(c).ok())
        .unwrap()
}

/// The compressed SEC1 public key of a signing key.
pub fn public_key(key: &p256::ecdsa::SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(true).as_bytes().to_vec()
}

/// A known-answer vector file of tests/vectors/, as its `key: value` pairs.
pub fn vector_file(name: &str) -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    parse_vector(&std::fs::read_to_string(&path).unwrap())
}

/// Unlocks with passkey `cred` whose PRF output is `prf(tag)`, no
/// revision floor.
pub fn unlock(m: &Manifest, cred: &[u8], tag: u8) -> medseal::Result<Vault> {
    Vault::unlock_with_prf(m, cred, PrfOutput::new(&prf(tag)).unwrap(), 0)
}

/// The entry id of the passkey with this credential id.
pub fn passkey_entry_id(m: &Manifest, cred: &[u8]) -> String {
    m.passkeys()
        .find(|p| p.credential_id == cred)
        .unwrap()
        .entry_id
        .to_string()
}

/// Reads a vector file's text (docs/FORMAT.md 12.1).
pub fn parse_vector(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap_or((l.trim_end_matches(':'), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A record written by the format-1 writer (a frozen `v1-*.txt` vector,
/// `expect: success`, unlocked by passkey), with the vault that opens it:
/// what tests use to show that format 1 still reads.
pub struct V1Record {
    pub vault: Vault,
    pub manifest: Manifest,
    pub sealed: Vec<u8>,
    pub text: String,
    pub record_id: Vec<u8>,
    pub context: Vec<u8>,
    pub plaintext: Vec<u8>,
}

impl V1Record {
    pub fn ctx(&self) -> RecordContext<'_> {
        RecordContext::with_context(&self.record_id, &self.context)
    }
}

/// Loads `v1-json-record.txt`, `v1-with-context.txt`, ... (passkey vectors).
pub fn v1_record(name: &str) -> V1Record {
    let f = vector_file(name);
    assert_eq!(f["expect"], "success", "{name}");
    let manifest = Manifest::from_json(&f["manifest"]).unwrap();
    assert_eq!(manifest.version(), 1, "{name} is a format-1 vector");
    let prf = PrfOutput::new(&hex::decode(&f["prf-output"]).unwrap()).unwrap();
    let cred = hex::decode(&f["credential-id"]).unwrap();
    let vault = Vault::unlock_with_prf(&manifest, &cred, prf, 0).unwrap();
    let text = f["sealed"].clone();
    assert!(text.starts_with("ms1."), "{name}");
    V1Record {
        vault,
        manifest,
        sealed: medseal::record::from_text(&text).unwrap(),
        text,
        record_id: f["record-id"].as_bytes().to_vec(),
        context: hex::decode(&f["context"]).unwrap(),
        plaintext: hex::decode(&f["plaintext"]).unwrap(),
    }
}

/// A generated vector file as it is on disk. With the environment variable
/// `var` set, the file is first (re)written as `rendered` (its folder made):
/// how each vector test regenerates its files (`cmd` is the command to say
/// when one is missing).
pub fn vector_on_disk(path: &std::path::Path, rendered: &str, var: &str, cmd: &str) -> String {
    if std::env::var_os(var).is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, rendered).unwrap();
    }
    std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} is missing: run {var}=1 {cmd}", path.display()))
}
pub mod log_server;
