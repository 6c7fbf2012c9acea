//! Deletion that destroys keys (FORMAT.md, "Deletion"): a vault's signed
//! destroy request verifies against exactly the manifest it was made on,
//! for exactly the challenge and audience it answers, under exactly the
//! vault's identity key; the server's tombstone verifies under its log key
//! and under no other, and any edit of it is refused. Bad input of every
//! kind is an error, never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use medseal::destroy::{verify_tombstone, Tombstone};
use medseal::log::note::Checkpoint;
use medseal::log::ServerLogKey;
use medseal::{Error, Manifest, PasskeyUnlock, PrfOutput, RecoveryCode, Vault};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

const AUDIENCE: &str = "https://phr.example";

fn passkey(id: u8) -> PasskeyUnlock {
    PasskeyUnlock {
        credential_id: vec![id; 16],
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: PrfOutput::new(&[id.wrapping_add(1); 32]).unwrap(),
        label: None,
    }
}

fn vault() -> (Vault, RecoveryCode) {
    Vault::create(passkey(1)).unwrap()
}

fn challenge() -> Vec<u8> {
    let mut c = vec![0u8; 32];
    getrandom::fill(&mut c).unwrap();
    c
}

/// FORMAT.md's destroy message, written here from the text (not from the crate).
fn spec_message(m: &Manifest, challenge: &[u8], audience: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for field in [
        b"medseal/v3/vault/destroy".as_slice(),
        m.vault_id(),
        &m.hash(),
        challenge,
        audience.as_bytes(),
    ] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

#[test]
fn a_destroy_request_verifies_against_the_manifest_it_was_made_on() {
    let (v, _) = vault();
    let c = challenge();
    let sig = v.sign_destroy(&c, AUDIENCE).unwrap();
    assert_eq!(sig.len(), 64);
    v.manifest().verify_destroy(&sig, &c, AUDIENCE).unwrap();
    // The message is the one FORMAT.md gives: checked with p256 directly,
    // against the manifest's identity key, low-S.
    let vk = VerifyingKey::from_sec1_bytes(v.manifest().identity_public_key()).unwrap();
    let s = Signature::from_slice(&sig).unwrap();
    assert!(s.normalize_s() == s, "low-S");
    vk.verify(&spec_message(v.manifest(), &c, AUDIENCE), &s)
        .unwrap();
    // Through JSON (what a server stores) it verifies the same.
    let stored = Manifest::from_json(&v.manifest().to_json()).unwrap();
    stored.verify_destroy(&sig, &c, AUDIENCE).unwrap();
}

#[test]
fn every_binding_holds() {
    let (mut v, _) = vault();
    let (other, _) = vault();
    let c = challenge();
    let sig = v.sign_destroy(&c, AUDIENCE).unwrap();
    let m = v.manifest().clone();
    let refused = |m: &Manifest, sig: &[u8], c: &[u8], a: &str| {
        assert_eq!(m.verify_destroy(sig, c, a), Err(Error::UnlockFailed));
    };
    // Another challenge, another audience.
    refused(&m, &sig, &challenge(), AUDIENCE);
    refused(&m, &sig, &c, "https://evil.example");
    // Another vault: its request, for the same challenge, against this manifest (and the reverse).
    let other_sig = other.sign_destroy(&c, AUDIENCE).unwrap();
    refused(&m, &other_sig, &c, AUDIENCE);
    refused(other.manifest(), &sig, &c, AUDIENCE);
    // Another identity key signing exactly the message of this manifest.
    let stranger = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let forged: Signature = stranger.sign(&spec_message(&m, &c, AUDIENCE));
    refused(&m, &forged.normalize_s().to_bytes(), &c, AUDIENCE);
    // Another revision of the same vault: a request made on revision 1 does
    // not delete revision 2 (the server holds the newer one), nor the reverse.
    v.add_passkey(passkey(2)).unwrap();
    let newer = v.manifest().clone();
    refused(&newer, &sig, &c, AUDIENCE);
    let newer_sig = v.sign_destroy(&c, AUDIENCE).unwrap();
    newer.verify_destroy(&newer_sig, &c, AUDIENCE).unwrap();
    refused(&m, &newer_sig, &c, AUDIENCE);
    // After a re-key (a new identity key): the old epoch's key signs nothing accepted.
    v.rekey().unwrap();
    refused(v.manifest(), &newer_sig, &c, AUDIENCE);
    // The high-S twin of a valid signature, a flipped bit, wrong lengths.
    let high = common::negate_s(&newer_sig);
    assert!(common::is_high_s(&high));
    refused(&newer, &high, &c, AUDIENCE);
    let mut flipped = newer_sig.clone();
    flipped[10] ^= 1;
    refused(&newer, &flipped, &c, AUDIENCE);
    refused(&newer, &newer_sig[..63], &c, AUDIENCE);
    refused(&newer, &[], &c, AUDIENCE);
    // A login proof over the same challenge and audience is not a destroy request.
    let proof = v.sign_login_proof(&c, AUDIENCE).unwrap();
    refused(v.manifest(), &proof, &c, AUDIENCE);
    let destroy = v.sign_destroy(&c, AUDIENCE).unwrap();
    assert_eq!(
        v.manifest().verify_login_proof(&c, AUDIENCE, &destroy),
        Err(Error::UnlockFailed)
    );
}

#[test]
fn arguments_out_of_range_and_altered_manifests_are_refused() {
    let (v, _) = vault();
    for c in [vec![0u8; 15], vec![0u8; 1025], vec![]] {
        assert!(matches!(
            v.sign_destroy(&c, AUDIENCE),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            v.manifest().verify_destroy(&[0; 64], &c, AUDIENCE),
            Err(Error::InvalidArgument(_))
        ));
    }
    for a in ["", &"a".repeat(1025)] {
        assert!(matches!(
            v.sign_destroy(&challenge(), a),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(v.sign_destroy(&[7; 16], &"a".repeat(1024)).is_ok());
    // A manifest the server altered (its revision) is refused whole.
    let c = challenge();
    let sig = v.sign_destroy(&c, AUDIENCE).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&v.manifest().to_json()).unwrap();
    json["revision"] = serde_json::json!(7);
    let checked =
        Manifest::from_json(&json.to_string()).and_then(|m| m.verify_destroy(&sig, &c, AUDIENCE));
    assert_eq!(checked, Err(Error::ManifestInvalid));
}

fn b64u(b: &[u8]) -> String {
    medseal::base64url(b)
}

#[test]
fn a_tombstone_names_the_vault_the_time_and_the_request_and_nothing_else() {
    let (v, _) = vault();
    let c = challenge();
    let sig = v.sign_destroy(&c, AUDIENCE).unwrap();
    let t = Tombstone::new(AUDIENCE, v.manifest(), 1_767_225_600, &sig).unwrap();
    let text = t.to_text().unwrap();
    assert_eq!(
        text,
        format!(
            "https://phr.example/tombstone\nvault {}\ndeleted 1767225600\nrequest {}\nidentity {}\n",
            b64u(v.manifest().vault_id()),
            b64u(&Sha256::digest(&sig)),
            b64u(v.manifest().identity_public_key()),
        )
    );
    assert!(t.names_request(&sig));
    assert!(!t.names_request(&v.sign_destroy(&challenge(), AUDIENCE).unwrap()));
    assert_eq!(Tombstone::parse_text(&text).unwrap(), t);

    let key = ServerLogKey::generate("phr.example/log").unwrap();
    let note = t.sign(&key).unwrap();
    let pk = key.public_key();
    assert_eq!(verify_tombstone(&note, "phr.example/log", &pk).unwrap(), t);
    let json: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(json["vaultId"], b64u(v.manifest().vault_id()));
    assert_eq!(json["deleted"], 1_767_225_600u64);
    // Not a checkpoint, and a checkpoint signed by the same key is not a tombstone.
    assert!(Checkpoint::parse_text(&text).is_err());
    let cp = key
        .sign_checkpoint(&Checkpoint {
            origin: "https://phr.example/tombstone".into(),
            size: 3,
            root: [1; 32],
        })
        .unwrap();
    assert!(matches!(
        verify_tombstone(&cp, "phr.example/log", &pk),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn forged_or_altered_tombstones_are_refused() {
    let (v, _) = vault();
    let sig = v.sign_destroy(&challenge(), AUDIENCE).unwrap();
    let t = Tombstone::new(AUDIENCE, v.manifest(), 1_767_225_600, &sig).unwrap();
    let key = ServerLogKey::generate("phr.example/log").unwrap();
    let pk = key.public_key();
    let note = t.sign(&key).unwrap();
    let check = |n: &str| verify_tombstone(n, "phr.example/log", &pk);

    // Edited after signing: the time, the vault, the request.
    let (other, _) = vault();
    for edited in [
        note.replace("deleted 1767225600", "deleted 1767225601"),
        note.replace(
            &b64u(v.manifest().vault_id()),
            &b64u(other.manifest().vault_id()),
        ),
        note.replace(&b64u(&t.request), &b64u(&[0; 32])),
    ] {
        assert_ne!(edited, note);
        assert_eq!(check(&edited), Err(Error::TombstoneInvalid), "{edited}");
    }
    // Signed by another key under the same name; the right key under another name.
    let other_key = ServerLogKey::generate("phr.example/log").unwrap();
    assert_eq!(
        check(&t.sign(&other_key).unwrap()),
        Err(Error::TombstoneInvalid)
    );
    assert_eq!(
        verify_tombstone(&note, "other.example/log", &pk),
        Err(Error::TombstoneInvalid)
    );
    // Unsigned: the text alone, or with an empty signature block.
    let text = t.to_text().unwrap();
    assert_eq!(check(&text), Err(Error::TombstoneInvalid));
    assert_eq!(check(&format!("{text}\n")), Err(Error::TombstoneInvalid));
    // A signature line moved from another tombstone.
    let t2 = Tombstone::new(AUDIENCE, other.manifest(), 1_767_225_600, &sig).unwrap();
    let line = t2
        .sign(&key)
        .unwrap()
        .rsplit_once("\n\n")
        .unwrap()
        .1
        .to_string();
    assert_eq!(
        check(&format!("{text}\n{line}")),
        Err(Error::TombstoneInvalid)
    );
    // A key that cannot be one is the caller's mistake, not a forgery.
    assert!(matches!(
        verify_tombstone(&note, "phr.example/log", &pk[..32]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        verify_tombstone(&note, "bad name", &pk),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn the_text_is_parsed_strictly() {
    let (v, _) = vault();
    let sig = v.sign_destroy(&challenge(), AUDIENCE).unwrap();
    let good = Tombstone::new(AUDIENCE, v.manifest(), 1_767_225_600, &sig)
        .unwrap()
        .to_text()
        .unwrap();
    let id = b64u(v.manifest().vault_id());
    let cases = [
        good.replace("/tombstone\n", "/gravestone\n"),
        good.replace("https://phr.example/tombstone", "/tombstone"),
        good.replace("https://phr.example", "https://phr example"),
        good.replace("deleted 1767225600", "deleted 01767225600"),
        good.replace("deleted 1767225600", "deleted -1"),
        good.replace("deleted 1767225600", "deleted 9007199254740992"),
        good.replace("deleted 1767225600", "deleted "),
        good.replace(&format!("vault {id}"), &format!("vault {id}==")),
        good.replace(&format!("vault {id}"), "vault AAAA"),
        good.replace("\nvault ", "\nvault  "),
        good.replace("\nrequest ", "\nRequest "),
        good.replace("identity ", &format!("identity {}", "A".repeat(44))),
        // Another point encoding: 0x04 is no compressed SEC1 prefix.
        good.replace("identity A", "identity B")
            .replace("identity C", "identity B")
            .replace("identity D", "identity B"),
        format!("{good}name Pat Doe\n"),
        good.trim_end().to_string(),
        good.replacen('\n', "\r\n", 1),
        // Lines out of order.
        {
            let l: Vec<&str> = good.lines().collect();
            format!("{}\n{}\n{}\n{}\n{}\n", l[0], l[2], l[1], l[3], l[4])
        },
        String::new(),
        "\n".into(),
    ];
    for c in cases {
        if c == good {
            continue; // a replacement that did not apply (a key that starts with another letter)
        }
        assert!(
            matches!(Tombstone::parse_text(&c), Err(Error::Malformed(_))),
            "{c:?}"
        );
    }
    assert!(Tombstone::new("has space", v.manifest(), 1, &sig).is_err());
    assert!(Tombstone::new("", v.manifest(), 1, &sig).is_err());
    assert!(Tombstone::new(AUDIENCE, v.manifest(), 1 << 53, &sig).is_err());
    assert!(Tombstone::new(AUDIENCE, v.manifest(), (1 << 53) - 1, &sig).is_ok());
}

/// A small deterministic generator (xorshift64*), so a failure repeats.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn garbage_and_mutations_are_errors_never_panics() {
    let (v, _) = vault();
    let sig = v.sign_destroy(&challenge(), AUDIENCE).unwrap();
    let t = Tombstone::new(AUDIENCE, v.manifest(), 1_767_225_600, &sig).unwrap();
    let key = ServerLogKey::generate("phr.example/log").unwrap();
    let pk = key.public_key();
    let note = t.sign(&key).unwrap();
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let alphabet: Vec<char> = "ab/+=-_ \n\u{2014}\u{0}AZ09.:\r\t\u{ffff}"
        .chars()
        .collect();
    // Random strings over an alphabet of the note's own characters.
    for _ in 0..3000 {
        let n = g.below(300);
        let s: String = (0..n).map(|_| alphabet[g.below(alphabet.len())]).collect();
        assert!(verify_tombstone(&s, "phr.example/log", &pk).is_err());
        assert!(Tombstone::parse_text(&s).is_err());
    }
    // Every truncation of the genuine note.
    let chars: Vec<(usize, char)> = note.char_indices().collect();
    for (i, _) in &chars {
        assert!(verify_tombstone(&note[..*i], "phr.example/log", &pk).is_err());
    }
    // Single-character substitutions, insertions and deletions: only the
    // genuine note verifies (a substitution inside a signature line's
    // base64 may still decode to the same bytes only if it is the same text).
    for _ in 0..3000 {
        let mut c: Vec<char> = note.chars().collect();
        let at = g.below(c.len());
        match g.below(3) {
            0 => c[at] = alphabet[g.below(alphabet.len())],
            1 => c.insert(at, alphabet[g.below(alphabet.len())]),
            _ => {
                c.remove(at);
            }
        }
        let m: String = c.into_iter().collect();
        if let Ok(got) = verify_tombstone(&m, "phr.example/log", &pk) {
            assert!(m == note && got == t, "a mutated note verified: {m:?}");
        }
    }
    // Oversized input.
    assert_eq!(
        verify_tombstone(&"a".repeat(5000), "phr.example/log", &pk),
        Err(Error::TooLarge)
    );
}
