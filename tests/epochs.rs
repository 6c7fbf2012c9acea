//! Issue #13: key epochs, identity rotation, the hash-chained manifest
//! history, record versions and a device's `Seen` state, tested as attacks.
//! Each test is named after the attack it refuses; its doc comment says the
//! attack and what the code did before key epochs (HEAD 64ddac6), where the
//! attacks of tests 1, 2, 4, 5 and 6 were run and succeeded.
//!
//! Some attackers hold an identity private key: whoever holds an old
//! recovery code or a removed passkey can unwrap the old vault key and with
//! it the old identity key. Outside the crate the only way to hold one is to
//! find it in the seeded test stream (docs/FORMAT.md 12.4) that created the
//! vault: `recover_identity` does, and checks the key found is the one the
//! manifest names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    b64, ctx, edit_b64, passkey, passkey_entry_id, prf, tamper, try_tamper, unb64, unlock,
};
use medseal::record;
use medseal::vault::deterministic;
use medseal::{ContentType, Error, Manifest, PrfOutput, RecoveryCode, Seen, Vault};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::Value;

const CHALLENGE: [u8; 32] = [0x5c; 32];
const AUDIENCE: &str = "https://health.example";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A vault created from `seed` (every random value drawn from the seeded
/// stream), unlocked by passkey `cred` whose PRF output is `prf(tag)`.
fn seeded(seed: &[u8], cred: &[u8], tag: u8) -> (Vault, RecoveryCode) {
    let salt = deterministic::prf_salt(&[seed, b"/salt"].concat());
    deterministic::create(seed, passkey(cred, salt, prf(tag))).unwrap()
}

fn json(m: &Manifest) -> Value {
    serde_json::from_str(&m.to_json()).unwrap()
}

/// The seeded test stream (docs/FORMAT.md 12.4), its first `len` bytes.
fn test_stream(seed: &[u8], len: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(len + 32);
    let mut block = 0u64;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(b"medseal/test-rng");
        h.update(seed);
        h.update(block.to_be_bytes());
        out.extend_from_slice(h.finalize().as_slice());
        block += 1;
    }
    out
}

/// The identity private key whose public key is `public_key`, found in the
/// stream of the vault created from `seed` (an identity key is 32
/// consecutive bytes of it).
fn recover_identity(seed: &[u8], public_key: &[u8]) -> SigningKey {
    let target = VerifyingKey::from_sec1_bytes(public_key).unwrap();
    test_stream(seed, 16 << 10)
        .windows(32)
        .find_map(|w| {
            SigningKey::from_slice(w)
                .ok()
                .filter(|k| k.verifying_key() == &target)
        })
        .expect("the identity key is in the first 16 KiB of the seeded stream")
}

/// An ECDSA signature as medseal writes them: `r || s`, `s` low.
fn sign_low_s(key: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(msg);
    sig.normalize_s().to_bytes().to_vec()
}

/// The manifest edited through its JSON, then signed by `key` (low-S).
fn resign(m: &Manifest, key: &SigningKey, edit: impl FnOnce(&mut Value)) -> Manifest {
    let unsigned = tamper(m, edit);
    let sig = sign_low_s(key, &deterministic::manifest_signed_bytes(&unsigned));
    tamper(&unsigned, |v| v["signature"] = b64(&sig).into())
}

fn compressed(key: &SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(true).as_bytes().to_vec()
}

fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

/// What an epoch's identity key signs to hand over to the next epoch's key
/// (docs/FORMAT.md): `lp("medseal/v2/identity/handover") || lp(vault_id) ||
/// u32be(next epoch) || lp(next public key)`.
fn handover_message(vault_id: &[u8], next_epoch: u32, next_key: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    put_lp(&mut m, b"medseal/v2/identity/handover");
    put_lp(&mut m, vault_id);
    m.extend_from_slice(&next_epoch.to_be_bytes());
    put_lp(&mut m, next_key);
    m
}

fn is_low_s(sig: &[u8]) -> bool {
    let s = Signature::from_slice(sig).unwrap();
    s.normalize_s() == s
}

/// The other valid encoding of the same signature: `(r, n - s)`.
fn flip_s(sig: &[u8]) -> Vec<u8> {
    let s = Signature::from_slice(sig).unwrap();
    Signature::from_scalars(s.r(), -s.s())
        .unwrap()
        .to_bytes()
        .to_vec()
}

/// What the three judges of a manifest say of `forged` offered after
/// `current`: the server (`check_update`), a device whose `Seen` saw
/// `current`, and the victim's vault (`update_manifest`, which must leave
/// the vault on `current`).
fn refusals(forged: &Manifest, current: &Manifest, victim: &mut Vault) -> [Error; 3] {
    assert_eq!(victim.manifest(), current);
    let mut seen = Seen::new();
    seen.saw_manifest(current);
    let server = forged.check_update(current).unwrap_err();
    let device = seen.check(forged, &[]).unwrap_err();
    let vault = victim.update_manifest(forged).unwrap_err();
    assert_eq!(
        victim.manifest(),
        current,
        "a refused update changes nothing"
    );
    [server, device, vault]
}

/// Attack shared by tests 1 and 2: `attacker` is a vault unlocked from an
/// old manifest (epoch 1) with a way in that the victim since revoked (a
/// re-key to epoch 2 made `current`); `old_identity` is the epoch-1
/// identity key, which the attacker can unwrap. Every manifest it can sign
/// is refused by the server, by a device that saw `current`, and by the
/// victim's vault.
fn assert_old_epoch_forgeries_refused(
    victim: &mut Vault,
    current: &Manifest,
    mut attacker: Vault,
    old_identity: &SigningKey,
) {
    let old = attacker.manifest().clone();
    assert_eq!((old.epoch(), current.epoch()), (1, 2));
    assert_eq!(
        old.identity_public_key(),
        compressed(old_identity).as_slice()
    );
    let cur = current.revision();
    let fork = |offered: [u8; 32]| Error::ForkDetected {
        revision: cur,
        seen: current.hash(),
        offered,
    };

    // (a) Its own passkey added: a validly signed manifest at old + 1, the
    // current revision.
    let own = attacker
        .add_passkey(passkey(b"attacker-1", [0xA1; 32], prf(0xA1)))
        .unwrap()
        .clone();
    assert_eq!(own.revision(), old.revision() + 1);
    assert_eq!(own.revision(), cur);
    own.verify_self_signature().unwrap();
    assert_eq!(refusals(&own, current, victim), [fork(own.hash()); 3]);

    // (b) One more commit: current + 1, but its parent is the attacker's
    // branch, not `current`.
    let next = attacker
        .add_passkey(passkey(b"attacker-2", [0xA2; 32], prf(0xA2)))
        .unwrap()
        .clone();
    assert_eq!(next.revision(), cur + 1);
    next.verify_self_signature().unwrap();
    assert_eq!(refusals(&next, current, victim), [fork(own.hash()); 3]);
    let mut seen = Seen::new();
    seen.saw_manifest(current);
    assert_eq!(
        seen.check(&next, core::slice::from_ref(&own)).unwrap_err(),
        fork(own.hash()),
        "the attacker's branch as history is a fork too"
    );

    // (c) Grafted onto `current`: parent = current's hash, still the
    // epoch-1 identity, re-signed with it. Self-consistent, but epoch 2's
    // key does not descend to it.
    let grafted = resign(&next, old_identity, |v| {
        v["parent"] = b64(&current.hash()).into();
    });
    grafted.verify_self_signature().unwrap();
    assert_eq!(
        refusals(&grafted, current, victim),
        [Error::ManifestInvalid; 3]
    );

    // (d) Posing as epoch 2: current's epochs and entries plus the
    // attacker's passkey entry, the old identity key as epoch 2's, with a
    // hand-over from epoch 1 to it that the old key signs itself.
    let attacker_entry = json(&next)["unlock"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["credentialId"] == b64(b"attacker-2").as_str())
        .unwrap()
        .clone();
    let old_json = json(&old);
    let handover = sign_low_s(
        old_identity,
        &handover_message(current.vault_id(), 2, &compressed(old_identity)),
    );
    let posing = resign(current, old_identity, |v| {
        v["revision"] = (cur + 1).into();
        v["parent"] = b64(&current.hash()).into();
        v["identityKey"] = old_json["identityKey"].clone();
        v["epochs"][0]["handover"] = b64(&handover).into();
        v["unlock"].as_array_mut().unwrap().push(attacker_entry);
    });
    posing.verify_self_signature().unwrap();
    assert_eq!(
        refusals(&posing, current, victim),
        [Error::ManifestInvalid; 3]
    );

    // (e) Or with epoch 2's identity key left in place (the server cannot
    // change it without being caught), signed by the old key.
    let unsigned = resign(current, old_identity, |v| {
        v["revision"] = (cur + 1).into();
        v["parent"] = b64(&current.hash()).into();
    });
    assert_eq!(
        unsigned.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        refusals(&unsigned, current, victim),
        [Error::ManifestInvalid; 3]
    );

    // None of it let the attacker's passkey into the victim's vault.
    assert_eq!(
        unlock(victim.manifest(), b"attacker-1", 0xA1).unwrap_err(),
        Error::UnknownUnlockEntry
    );
}

// ---------------------------------------------------------------------------
// 1, 2, 3: revoked ways in
// ---------------------------------------------------------------------------

/// Attack: after `rotate_recovery_code`, the holder of the OLD code (and of
/// the old manifest, a public file) reads records sealed after the rotation
/// and writes manifests (its own passkey added) that the server and the
/// user's devices accept.
///
/// Before (HEAD): the rotation kept the vault key and the identity key: the
/// old code opened a record sealed after it, and a manifest it signed at
/// revision current + 1 passed `check_update` and the victim's
/// `update_manifest`, after which the attacker's passkey unlocked the vault.
///
/// Now: the old code opens the old manifest (an old copy, as it should) and
/// what was sealed then, nothing sealed after (`DecryptionFailed`); it
/// cannot follow the rotation (`UnlockFailed`); every manifest it can sign
/// is `ForkDetected` or `ManifestInvalid`.
#[test]
fn old_recovery_code_cannot_read_or_write_after_rotation() {
    let seed = b"epochs/old-recovery-code";
    let (mut v, old_code) = seeded(seed, b"cred-1", 1);
    let before = v.seal(b"sealed before", &ctx("r-before")).unwrap();
    let old_manifest = v.manifest().clone();
    let new_code = v.rotate_recovery_code().unwrap();
    let current = v.manifest().clone();
    assert_eq!(current.revision(), old_manifest.revision() + 1);
    assert_eq!(current.epoch(), 2);
    let after = v.seal(b"sealed after", &ctx("r-after")).unwrap();

    let mut attacker = Vault::unlock_with_recovery_code(&old_manifest, &old_code, 0).unwrap();
    assert_eq!(
        attacker.open(&before, &ctx("r-before")).unwrap(),
        b"sealed before"
    );
    assert_eq!(
        attacker.open(&after, &ctx("r-after")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        Vault::unlock_with_recovery_code(&current, &old_code, 0).unwrap_err(),
        Error::UnlockFailed
    );
    assert_eq!(
        attacker.update_manifest(&current).unwrap_err(),
        Error::UnlockFailed
    );
    assert_eq!(attacker.manifest(), &old_manifest);

    let fresh = Vault::unlock_with_recovery_code(&current, &new_code, 0).unwrap();
    assert_eq!(
        fresh.open(&after, &ctx("r-after")).unwrap(),
        b"sealed after"
    );
    assert_eq!(
        fresh.open(&before, &ctx("r-before")).unwrap(),
        b"sealed before"
    );

    let old_identity = recover_identity(seed, old_manifest.identity_public_key());
    assert_old_epoch_forgeries_refused(&mut v, &current, attacker, &old_identity);
}

/// Attack: the same with a removed passkey (a lost or stolen authenticator
/// the user removed with `remove_unlock`), which still unlocks any old copy
/// of the manifest.
///
/// Before (HEAD): removal kept the vault key: the removed passkey opened a
/// record sealed after its removal, and its manifest at revision
/// current + 1 passed `check_update` and the victim's `update_manifest`.
///
/// Now: as for the old recovery code.
#[test]
fn removed_passkey_cannot_read_or_write_after_removal() {
    let seed = b"epochs/removed-passkey";
    let (mut v, _) = seeded(seed, b"cred-1", 1);
    v.add_passkey(passkey(b"cred-A", [0x0A; 32], prf(0x0A)))
        .unwrap();
    let before = v.seal(b"sealed before", &ctx("r-before")).unwrap();
    let old_manifest = v.manifest().clone();
    v.remove_unlock(&passkey_entry_id(&old_manifest, b"cred-A"))
        .unwrap();
    let current = v.manifest().clone();
    assert_eq!(current.revision(), old_manifest.revision() + 1);
    assert_eq!(current.epoch(), 2);
    let after = v.seal(b"sealed after", &ctx("r-after")).unwrap();

    let mut attacker = unlock(&old_manifest, b"cred-A", 0x0A).unwrap();
    assert_eq!(
        attacker.open(&before, &ctx("r-before")).unwrap(),
        b"sealed before"
    );
    assert_eq!(
        attacker.open(&after, &ctx("r-after")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        attacker.update_manifest(&current).unwrap_err(),
        Error::UnlockFailed
    );

    let old_identity = recover_identity(seed, old_manifest.identity_public_key());
    assert_old_epoch_forgeries_refused(&mut v, &current, attacker, &old_identity);
}

/// Attack: a removed passkey logs in to the server: it unlocks the current
/// manifest, or proves the vault with a login proof made by a vault it
/// unlocked from an old copy.
///
/// Before (HEAD): the removed passkey could not unlock the current manifest,
/// but the identity key never changed, so its login proof verified against
/// the current manifest.
///
/// Now: `UnknownUnlockEntry`, and the proof (by the epoch-1 identity key)
/// is `UnlockFailed` against the current manifest.
#[test]
fn removed_passkey_cannot_unlock_or_log_in() {
    let (mut v, _) = seeded(b"epochs/removed-login", b"cred-1", 1);
    v.add_passkey(passkey(b"cred-A", [0x0A; 32], prf(0x0A)))
        .unwrap();
    let old_manifest = v.manifest().clone();
    v.remove_unlock(&passkey_entry_id(&old_manifest, b"cred-A"))
        .unwrap();
    let current = v.manifest().clone();

    assert_eq!(
        unlock(&current, b"cred-A", 0x0A).unwrap_err(),
        Error::UnknownUnlockEntry
    );
    let attacker = unlock(&old_manifest, b"cred-A", 0x0A).unwrap();
    let proof = attacker.sign_login_proof(&CHALLENGE, AUDIENCE).unwrap();
    // A real proof, of the old manifest's identity...
    old_manifest
        .verify_login_proof(&CHALLENGE, AUDIENCE, &proof)
        .unwrap();
    // ...that the current one refuses.
    assert_eq!(
        current
            .verify_login_proof(&CHALLENGE, AUDIENCE, &proof)
            .unwrap_err(),
        Error::UnlockFailed
    );
    let own = v.sign_login_proof(&CHALLENGE, AUDIENCE).unwrap();
    current
        .verify_login_proof(&CHALLENGE, AUDIENCE, &own)
        .unwrap();
}

/// Attack: the old recovery code does a recovery login (the path for a user
/// who lost every passkey) after the code was rotated.
///
/// Before (HEAD): there was no recovery login key; a recovery-code vault
/// logged in with the identity key's login proof, which never changed, so
/// the old code's proof verified against the current manifest.
///
/// Now: the old code's recovery login is `UnlockFailed` against the current
/// manifest (a new entry with a new login key), while the new code's
/// verifies.
#[test]
fn old_recovery_code_cannot_log_in() {
    let (mut v, old_code) = seeded(b"epochs/recovery-login", b"cred-1", 1);
    let old_manifest = v.manifest().clone();
    let new_code = v.rotate_recovery_code().unwrap();
    let current = v.manifest().clone();

    let old = Vault::unlock_with_recovery_code(&old_manifest, &old_code, 0).unwrap();
    let proof = old.sign_recovery_login(&CHALLENGE, AUDIENCE).unwrap();
    old_manifest
        .verify_recovery_login(&CHALLENGE, AUDIENCE, &proof)
        .unwrap();
    assert_eq!(
        current
            .verify_recovery_login(&CHALLENGE, AUDIENCE, &proof)
            .unwrap_err(),
        Error::UnlockFailed
    );
    // Nor does its identity-key login proof pass for either kind of login.
    let identity_proof = old.sign_login_proof(&CHALLENGE, AUDIENCE).unwrap();
    assert_eq!(
        current
            .verify_recovery_login(&CHALLENGE, AUDIENCE, &identity_proof)
            .unwrap_err(),
        Error::UnlockFailed
    );
    assert_eq!(
        current
            .verify_login_proof(&CHALLENGE, AUDIENCE, &identity_proof)
            .unwrap_err(),
        Error::UnlockFailed
    );

    let fresh = Vault::unlock_with_recovery_code(&current, &new_code, 0).unwrap();
    let good = fresh.sign_recovery_login(&CHALLENGE, AUDIENCE).unwrap();
    current
        .verify_recovery_login(&CHALLENGE, AUDIENCE, &good)
        .unwrap();
}

// ---------------------------------------------------------------------------
// 4: revisions
// ---------------------------------------------------------------------------

/// Attack: a manifest at revision 2^63 - 1 (or anything past 2^53 - 1):
/// once a device or server stores it, no later revision can follow, and
/// JavaScript and SQL cannot hold the number exactly.
///
/// Before (HEAD): `Manifest::from_json` accepted revisions 2^63 - 1 and 2^53.
///
/// Now: any revision above 2^53 - 1 is `ManifestInvalid`, even validly
/// signed by the vault's own identity key; a number that is not a u64 is
/// `Malformed`; 2^53 - 1 itself parses, and a vault at 2^53 - 1 refuses to
/// commit (`InvalidArgument`). Nothing panics.
#[test]
fn revision_past_2_pow_53_is_refused() {
    const MAX: u64 = (1 << 53) - 1;
    let seed = b"epochs/revision";
    let (mut v, _) = seeded(seed, b"cred-1", 1);
    let m = v
        .add_passkey(passkey(b"cred-2", [2; 32], prf(2)))
        .unwrap()
        .clone();
    let identity = recover_identity(seed, m.identity_public_key());
    // Control: the recovered key re-signs the manifest exactly as the vault
    // did (RFC 6979 nonces): it is the vault's identity key.
    assert_eq!(resign(&m, &identity, |_| {}), m);

    for r in [MAX + 1, (1 << 63) - 1, 1 << 63, u64::MAX] {
        assert_eq!(
            try_tamper(&m, |j| j["revision"] = r.into()).unwrap_err(),
            Error::ManifestInvalid,
            "revision {r}"
        );
        // Validly signed by the vault itself: refused all the same.
        let mut j = json(&m);
        j["revision"] = r.into();
        let signed = signed_json(&m, &identity, j);
        assert_eq!(
            Manifest::from_json(&signed).unwrap_err(),
            Error::ManifestInvalid,
            "signed revision {r}"
        );
    }
    for bad in ["18446744073709551616", "-1", "9007199254740992.0", "1e300"] {
        let text = m
            .to_json()
            .replace("\"revision\":2,", &format!("\"revision\":{bad},"));
        assert!(
            matches!(Manifest::from_json(&text), Err(Error::Malformed(_))),
            "revision {bad}"
        );
    }

    // 2^53 - 1 parses; unsigned it is refused wherever it is checked...
    let at_max = tamper(&m, |j| j["revision"] = MAX.into());
    assert_eq!(at_max.revision(), MAX);
    assert_eq!(
        at_max.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        at_max.check_update(&m).unwrap_err(),
        Error::HistoryIncomplete {
            seen: 2,
            offered: MAX
        }
    );
    // ...signed by the vault it unlocks, and the vault cannot go past it.
    let at_max = resign(&m, &identity, |j| j["revision"] = MAX.into());
    at_max.verify_self_signature().unwrap();
    let mut v = unlock(&at_max, b"cred-1", 1).unwrap();
    assert_eq!(
        v.add_passkey(passkey(b"cred-3", [3; 32], prf(3)))
            .unwrap_err(),
        Error::InvalidArgument("revision overflow")
    );
    assert_eq!(
        v.rekey().unwrap_err(),
        Error::InvalidArgument("revision overflow")
    );
    assert_eq!(v.manifest(), &at_max);
    // A device that saw 2^53 - 1 refuses everything older, without overflow.
    let mut seen = Seen::new();
    seen.saw_manifest(&at_max);
    assert_eq!(
        seen.check(&m, &[]).unwrap_err(),
        Error::StaleManifest {
            seen: MAX,
            offered: 2
        }
    );
}

/// `m`'s JSON replaced by `j`, with a signature by `key` over its signed
/// bytes, as text (for values that `Manifest::from_json` refuses, so the
/// signed bytes are computed from `m` with the revision set through bytes).
fn signed_json(m: &Manifest, key: &SigningKey, mut j: Value) -> String {
    // The signed bytes of `j` are those of `m` but for the revision (u64be
    // after lp(label), u64be(version), lp(vault id)): FORMAT.md 14.4.
    let mut bytes = deterministic::manifest_signed_bytes(m);
    let label_len = usize::try_from(u32::from_be_bytes(bytes[..4].try_into().unwrap())).unwrap();
    let at = 4 + label_len + 8 + 4 + m.vault_id().len();
    assert_eq!(bytes[at..at + 8], m.revision().to_be_bytes());
    bytes[at..at + 8].copy_from_slice(&j["revision"].as_u64().unwrap().to_be_bytes());
    j["signature"] = b64(&sign_low_s(key, &bytes)).into();
    j.to_string()
}

// ---------------------------------------------------------------------------
// 5: records
// ---------------------------------------------------------------------------

/// Attack: the server serves an older version of an edited record (the
/// allergy list before penicillin was added) under the same record id, or
/// the version from before the record was deleted; or relabels an old
/// version's header as newer.
///
/// Before (HEAD): records had no version: the older sealing opened under
/// the same id, indistinguishable from the newer one.
///
/// Now: the version is in the authenticated header; a device's `Seen` that
/// saw version 2 refuses version 1 (`StaleRecord`); a tombstone opens as
/// `RecordDeleted`, and once seen, every older version is `RecordDeleted`;
/// a relabelled header does not open.
#[test]
fn older_record_version_and_deleted_record_are_refused() {
    let (mut v, _) = seeded(b"epochs/records", b"cred-1", 1);
    let c = ctx("rec-allergies");
    let v1 = v
        .seal_version(ContentType::Json, br#"{"allergy":"none"}"#, &c, 1)
        .unwrap();
    let v2 = v
        .seal_version(ContentType::Json, br#"{"allergy":"penicillin"}"#, &c, 2)
        .unwrap();

    let mut seen = Seen::new();
    seen.saw_manifest(v.manifest());
    let newer = v.open_record(&v2, &c).unwrap();
    assert_eq!(newer.meta.version, 2);
    seen.check_record(&c, &newer.meta).unwrap();
    assert!(seen.saw_record(&c, newer.meta.version, false));
    // The device remembers it across sessions.
    let mut seen = Seen::from_json(&seen.to_json().unwrap()).unwrap();

    // The old version is authentic, and old: the vault opens it, the device
    // refuses it.
    let older = v.open_record(&v1, &c).unwrap();
    assert_eq!(older.data, br#"{"allergy":"none"}"#);
    assert_eq!(older.meta.version, 1);
    assert_eq!(
        seen.check_record(&c, &older.meta).unwrap_err(),
        Error::StaleRecord {
            seen: 2,
            offered: 1
        }
    );
    // Relabelling its header as version 3 breaks it.
    let mut relabelled = v1.clone();
    relabelled[10..18].copy_from_slice(&3u64.to_be_bytes());
    assert_eq!(record::read_meta(&relabelled).unwrap().version, 3);
    assert_eq!(
        v.open_record(&relabelled, &c).unwrap_err(),
        Error::DecryptionFailed
    );
    // Another record is not affected.
    let other = v.seal(b"x", &ctx("rec-other")).unwrap();
    let other_meta = v.open_record(&other, &ctx("rec-other")).unwrap().meta;
    seen.check_record(&ctx("rec-other"), &other_meta).unwrap();

    // Deleted: the tombstone opens as RecordDeleted...
    let tomb = v.seal_tombstone(&c, 3).unwrap();
    assert_eq!(
        v.open_record(&tomb, &c).unwrap_err(),
        Error::RecordDeleted { version: 3 }
    );
    assert_eq!(
        v.open(&tomb, &c).unwrap_err(),
        Error::RecordDeleted { version: 3 }
    );
    assert!(seen.saw_record(&c, 3, true));
    let seen = Seen::from_json(&seen.to_json().unwrap()).unwrap();
    // ...and after it, every older version is RecordDeleted.
    for old in [&v1, &v2] {
        let meta = v.open_record(old, &c).unwrap().meta;
        assert_eq!(
            seen.check_record(&c, &meta).unwrap_err(),
            Error::RecordDeleted { version: 3 }
        );
    }
    // Re-created at a newer version, it is accepted.
    let v4 = v.seal_version(ContentType::Bytes, b"again", &c, 4).unwrap();
    let meta = v.open_record(&v4, &c).unwrap().meta;
    seen.check_record(&c, &meta).unwrap();
}

// ---------------------------------------------------------------------------
// 6, 7: forks and rollbacks
// ---------------------------------------------------------------------------

/// Attack: a fork. Two devices of one vault each commit a different change
/// at the same revision; a server (malicious, or one that does not
/// serialize writes) shows each device its own branch, or swaps one for
/// the other.
///
/// Before (HEAD): `update_manifest` accepted a manifest of equal revision
/// with different content (only an older revision was refused), so either
/// device silently took the other's branch.
///
/// Now: each device's `Seen`, shown the other's manifest, and each vault's
/// `update_manifest`, report `ForkDetected` with both manifests' hashes; so
/// does the server's `check_update`, and the other branch's continuation.
#[test]
fn fork_at_equal_revision_is_detected() {
    let (v, _) = seeded(b"epochs/fork", b"cred-1", 1);
    let m = v.manifest().clone();
    let mut a = unlock(&m, b"cred-1", 1).unwrap();
    let mut b = unlock(&m, b"cred-1", 1).unwrap();
    let mut seen_a = Seen::new();
    let mut seen_b = Seen::new();
    seen_a.saw_manifest(&m);
    seen_b.saw_manifest(&m);

    let ma = a
        .add_passkey(passkey(b"cred-a", [0x0A; 32], prf(0x0A)))
        .unwrap()
        .clone();
    let mb = b
        .add_passkey(passkey(b"cred-b", [0x0B; 32], prf(0x0B)))
        .unwrap()
        .clone();
    seen_a.check(&ma, &[]).unwrap();
    seen_a.saw_manifest(&ma);
    seen_b.check(&mb, &[]).unwrap();
    seen_b.saw_manifest(&mb);
    assert_eq!(ma.revision(), mb.revision());
    assert_ne!(ma.hash(), mb.hash());

    let r = ma.revision();
    let a_sees_b = Error::ForkDetected {
        revision: r,
        seen: ma.hash(),
        offered: mb.hash(),
    };
    let b_sees_a = Error::ForkDetected {
        revision: r,
        seen: mb.hash(),
        offered: ma.hash(),
    };
    assert_eq!(seen_a.check(&mb, &[]).unwrap_err(), a_sees_b);
    assert_eq!(seen_b.check(&ma, &[]).unwrap_err(), b_sees_a);
    assert_eq!(a.update_manifest(&mb).unwrap_err(), a_sees_b);
    assert_eq!(b.update_manifest(&ma).unwrap_err(), b_sees_a);
    assert_eq!(a.manifest(), &ma);
    assert_eq!(b.manifest(), &mb);
    // The server holding A's refuses B's.
    assert_eq!(mb.check_update(&ma).unwrap_err(), a_sees_b);

    // B's branch goes on; shown to A with or without its history, it is
    // still the fork at revision r.
    let mb3 = b
        .add_passkey(passkey(b"cred-b2", [0x0C; 32], prf(0x0C)))
        .unwrap()
        .clone();
    assert_eq!(
        seen_a.check(&mb3, core::slice::from_ref(&mb)).unwrap_err(),
        a_sees_b
    );
    assert_eq!(seen_a.check(&mb3, &[]).unwrap_err(), a_sees_b);
    assert_eq!(
        a.update_manifests(&[mb.clone(), mb3.clone()]).unwrap_err(),
        a_sees_b
    );
    assert_eq!(mb3.check_update(&ma).unwrap_err(), a_sees_b);
    // The device's own manifest again is fine.
    a.update_manifest(&ma).unwrap();
    seen_a.check(&ma, &[]).unwrap();
}

/// Five manifests of one vault, revisions 1 to 5.
fn five_revisions(seed: &[u8]) -> (Vault, Vec<Manifest>) {
    let (mut v, _) = seeded(seed, b"cred-1", 1);
    let mut ms = vec![v.manifest().clone()];
    for i in 2..=5u8 {
        let m = v
            .add_passkey(passkey(&[b'c', i], [i; 32], prf(i)))
            .unwrap()
            .clone();
        ms.push(m);
    }
    for (i, m) in ms.iter().enumerate() {
        assert_eq!(m.revision(), i as u64 + 1);
    }
    (v, ms)
}

/// Attack: rollback. A server shows a device that saw revision n an older
/// manifest (one that still lists a removed passkey, say), or a newer one
/// without the manifests in between (which could hide a removal and a
/// re-addition).
///
/// Before (HEAD): the client had only `min_revision` (a number the app had
/// to keep itself); a newer manifest needed no history.
///
/// Now: a `Seen` that saw n refuses n - 1 (`StaleManifest`) and n + 2
/// without history (`HistoryIncomplete`), and accepts n + 2 with the
/// history [n + 1]; so does a vault (`update_manifest(s)`, `min_revision`).
#[test]
fn rollback_and_history_gap_are_refused() {
    let (_, ms) = five_revisions(b"epochs/rollback");
    let [m1, m2, m3, m4, m5] = <[Manifest; 5]>::try_from(ms).unwrap();

    let mut seen = Seen::new();
    seen.check(&m3, &[]).unwrap();
    seen.saw_manifest(&m3);
    for seen in [
        seen.clone(),
        Seen::from_json(&seen.to_json().unwrap()).unwrap(),
    ] {
        assert_eq!(seen.revision(), 3);
        assert_eq!(
            seen.check(&m2, &[]).unwrap_err(),
            Error::StaleManifest {
                seen: 3,
                offered: 2
            }
        );
        assert_eq!(
            seen.check(&m1, &[]).unwrap_err(),
            Error::StaleManifest {
                seen: 3,
                offered: 1
            }
        );
        assert_eq!(
            seen.check(&m5, &[]).unwrap_err(),
            Error::HistoryIncomplete {
                seen: 3,
                offered: 5
            }
        );
        seen.check(&m5, core::slice::from_ref(&m4)).unwrap();
        seen.check(&m5, &[m4.clone(), m5.clone()]).unwrap();
        seen.check(&m5, &[m2.clone(), m3.clone(), m4.clone()])
            .unwrap();
        seen.check(&m3, &[]).unwrap();
    }

    assert_eq!(
        Vault::unlock_with_prf(&m2, b"cred-1", PrfOutput::new(&prf(1)).unwrap(), 3).unwrap_err(),
        Error::StaleManifest {
            seen: 3,
            offered: 2
        }
    );
    let mut dev = unlock(&m3, b"cred-1", 1).unwrap();
    assert_eq!(
        dev.update_manifest(&m5).unwrap_err(),
        Error::HistoryIncomplete {
            seen: 3,
            offered: 5
        }
    );
    assert_eq!(dev.manifest(), &m3);
    dev.update_manifests(&[m4, m5.clone()]).unwrap();
    assert_eq!(dev.manifest(), &m5);
}

/// Attack: rollback through the vault. A device at revision n asks for
/// updates; the server answers with revision n - 1.
///
/// Before (HEAD): `update_manifest` reported `StaleManifest` (and
/// tests/core.rs `another_device_adopts_newer_manifest` still expects it).
///
/// Now (core bug): `update_manifest` returns `Ok(())` and silently keeps
/// revision n. The rollback does not take effect, but the app is not told
/// that its server served an older manifest, unlike `Seen::check`, which
/// reports `StaleManifest` for the same input. Expected: `StaleManifest`.
#[test]
fn rollback_through_update_manifest_is_reported() {
    let (_, ms) = five_revisions(b"epochs/rollback-vault");
    let mut dev = unlock(&ms[2], b"cred-1", 1).unwrap();
    let result = dev.update_manifest(&ms[1]);
    assert_eq!(dev.manifest(), &ms[2], "the rollback does not take effect");
    assert_eq!(
        result,
        Err(Error::StaleManifest {
            seen: 3,
            offered: 2
        })
    );
}

// ---------------------------------------------------------------------------
// 8, 9: re-keys in practice
// ---------------------------------------------------------------------------

/// Attack: a lost device, unlocked with passkey A before A was removed,
/// follows the vault past the removal, as the user's other devices do.
///
/// Before (HEAD): there was no re-key; the lost device kept the vault key
/// and read everything sealed after the removal.
///
/// Now: the re-key (`remove_unlock` takes no PRF output; it ran on a device
/// unlocked with passkey C) sealed the new vault key to the remaining
/// passkeys' public keys: passkey B unlocks the new manifest, and a device
/// unlocked with B before the removal follows it with `update_manifest` and
/// opens records sealed after it; the device unlocked with A gets
/// `UnlockFailed` and stays on the old manifest, reading nothing new.
#[test]
fn removed_passkey_device_cannot_follow_the_rekey() {
    let (mut owner, _) = seeded(b"epochs/remaining", b"cred-C", 0x0C);
    owner
        .add_passkey(passkey(b"cred-A", [0x0A; 32], prf(0x0A)))
        .unwrap();
    let m2 = owner
        .add_passkey(passkey(b"cred-B", [0x0B; 32], prf(0x0B)))
        .unwrap()
        .clone();
    let mut dev_b = unlock(&m2, b"cred-B", 0x0B).unwrap();
    let mut dev_a = unlock(&m2, b"cred-A", 0x0A).unwrap();
    let mut seen_b = Seen::new();
    seen_b.saw_manifest(&m2);
    let before = owner.seal(b"before", &ctx("r-before")).unwrap();

    let m3 = owner
        .remove_unlock(&passkey_entry_id(&m2, b"cred-A"))
        .unwrap()
        .clone();
    assert_eq!(m3.epoch(), 2);
    assert_ne!(m3.identity_public_key(), m2.identity_public_key());
    let after = owner.seal(b"after", &ctx("r-after")).unwrap();

    // B, not asked during the re-key, unlocks the new manifest.
    let fresh_b = unlock(&m3, b"cred-B", 0x0B).unwrap();
    assert_eq!(fresh_b.open(&after, &ctx("r-after")).unwrap(), b"after");
    assert_eq!(fresh_b.open(&before, &ctx("r-before")).unwrap(), b"before");

    // The device unlocked with B follows the re-key.
    seen_b.check(&m3, &[]).unwrap();
    dev_b.update_manifest(&m3).unwrap();
    assert_eq!(dev_b.manifest(), &m3);
    assert_eq!(dev_b.open(&after, &ctx("r-after")).unwrap(), b"after");
    assert_eq!(dev_b.open(&before, &ctx("r-before")).unwrap(), b"before");
    let from_b = dev_b.seal(b"from b", &ctx("r-b")).unwrap();
    assert_eq!(record::read_meta(&from_b).unwrap().epoch, 2);
    assert_eq!(owner.open(&from_b, &ctx("r-b")).unwrap(), b"from b");

    // The device unlocked with A does not.
    assert_eq!(dev_a.update_manifest(&m3).unwrap_err(), Error::UnlockFailed);
    assert_eq!(dev_a.manifest(), &m2);
    assert_eq!(
        dev_a.open(&after, &ctx("r-after")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        dev_a.open(&from_b, &ctx("r-b")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        unlock(&m3, b"cred-A", 0x0A).unwrap_err(),
        Error::UnknownUnlockEntry
    );
}

/// Attack (on availability and on the retirement of old keys): a re-wrap
/// of 1,000 records is interrupted half-way; resuming it must neither
/// double-wrap nor lose records, and retiring the old epoch must leave
/// exactly the records not re-wrapped unreadable (what the old key, if
/// leaked, still opens: nothing the vault still uses).
///
/// Before (HEAD): there were no epochs, no re-wrap and no retirement: a
/// leaked vault key read every record forever.
///
/// Now: re-wrap returns `Some` once per record and `None` after (so the
/// run can simply start over); it changes only the 78-byte header and
/// wrapped key (body, nonce and tag identical, length equal); after
/// `retire_epochs` all 1,000 open, and a record left in epoch 1 gives
/// `DecryptionFailed`.
#[test]
fn interrupted_rewrap_resumes_and_retire_drops_the_rest() {
    const N: usize = 1000;
    let (mut v, _) = seeded(b"epochs/rewrap", b"cred-1", 1);
    let ids: Vec<String> = (0..N).map(|i| format!("rec-{i:04}")).collect();
    let body = |i: usize| format!("record {i}").into_bytes();
    let originals: Vec<Vec<u8>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| v.seal(&body(i), &ctx(id)).unwrap())
        .collect();
    let stray = v.seal(b"never re-wrapped", &ctx("rec-stray")).unwrap();
    v.rekey().unwrap();
    assert_eq!(v.manifest().epoch(), 2);

    let check_rewrap = |old: &[u8], new: &[u8]| {
        assert_eq!(new.len(), old.len());
        assert_eq!(new[78..], old[78..], "body, nonce and tag untouched");
        assert_ne!(new[..78], old[..78]);
        let (mo, mn) = (
            record::read_meta(old).unwrap(),
            record::read_meta(new).unwrap(),
        );
        assert_eq!((mo.epoch, mn.epoch), (1, 2));
        assert_eq!(mn.version, mo.version);
    };

    let mut store = originals.clone();
    for (sealed, id) in store.iter_mut().zip(&ids).take(N / 2) {
        let new = v
            .rewrap(sealed, &ctx(id))
            .unwrap()
            .expect("an epoch-1 record is re-wrapped");
        check_rewrap(sealed, &new);
        *sealed = new;
    }
    // Interrupted: the session ends; a new one unlocks the stored manifest
    // and runs the re-wrap over everything again.
    let m = v.manifest().clone();
    drop(v);
    let mut v = unlock(&m, b"cred-1", 1).unwrap();
    let mut redone = 0;
    for (i, (sealed, id)) in store.iter_mut().zip(&ids).enumerate() {
        match v.rewrap(sealed, &ctx(id)).unwrap() {
            None => assert!(i < N / 2, "record {i} was not re-wrapped yet"),
            Some(new) => {
                assert!(i >= N / 2, "record {i} was re-wrapped twice");
                check_rewrap(sealed, &new);
                *sealed = new;
                redone += 1;
            }
        }
    }
    assert_eq!(redone, N / 2);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(v.rewrap(&store[i], &ctx(id)).unwrap(), None);
    }

    let retired = v.retire_epochs().unwrap().clone();
    let fresh = unlock(&retired, b"cred-1", 1).unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(v.open(&store[i], &ctx(id)).unwrap(), body(i));
        assert_eq!(fresh.open(&store[i], &ctx(id)).unwrap(), body(i));
    }
    for vault in [&v, &fresh] {
        assert_eq!(
            vault.open(&stray, &ctx("rec-stray")).unwrap_err(),
            Error::DecryptionFailed
        );
        assert_eq!(
            vault.open(&originals[0], &ctx(&ids[0])).unwrap_err(),
            Error::DecryptionFailed
        );
    }
    assert_eq!(
        v.rewrap(&stray, &ctx("rec-stray")).unwrap_err(),
        Error::DecryptionFailed
    );
}

// ---------------------------------------------------------------------------
// 10, 11: signatures and the identity chain
// ---------------------------------------------------------------------------

/// Attack: signature malleability. `(r, n - s)` is a second valid ECDSA
/// signature of the same manifest; a server that re-encodes a signature
/// makes two byte-different copies of one manifest (and of a hand-over).
///
/// Before (HEAD): signatures were normalized when written but either `s`
/// was accepted.
///
/// Now: every signature the vault writes (manifests and hand-overs, through
/// adds, removals, rotations, re-keys and retirement) has low `s`; a v2
/// manifest whose `s` (or a hand-over's) is replaced by `n - s` is
/// `ManifestInvalid` for `verify_self_signature`, `check_update`, a `Seen`
/// and unlocking, although p256 itself accepts the signature.
#[test]
fn high_s_signature_is_refused() {
    let seed = b"epochs/low-s";
    let (mut v, _) = seeded(seed, b"cred-1", 1);
    let mut ms = vec![v.manifest().clone()];
    ms.push(
        v.add_passkey(passkey(b"cred-2", [2; 32], prf(2)))
            .unwrap()
            .clone(),
    );
    v.rotate_recovery_code().unwrap();
    ms.push(v.manifest().clone());
    ms.push(
        v.add_passkey(passkey(b"cred-3", [3; 32], prf(3)))
            .unwrap()
            .clone(),
    );
    let id3 = passkey_entry_id(v.manifest(), b"cred-3");
    ms.push(v.remove_unlock(&id3).unwrap().clone());
    ms.push(v.rekey().unwrap().clone());
    ms.push(v.retire_epochs().unwrap().clone());
    let mut signatures = 0;
    for m in &ms {
        let j = json(m);
        assert!(
            is_low_s(&unb64(&j["signature"])),
            "revision {}",
            m.revision()
        );
        for e in j["epochs"].as_array().unwrap() {
            assert!(is_low_s(&unb64(&e["handover"])));
            signatures += 1;
        }
        signatures += 1;
    }
    assert!(signatures >= 12);

    let (prev, last) = (&ms[ms.len() - 2], &ms[ms.len() - 1]);
    assert_eq!(last.version(), 3);
    let sig = unb64(&json(last)["signature"]);
    let high = flip_s(&sig);
    assert!(!is_low_s(&high));
    // The same signature in its other encoding: p256 accepts it.
    VerifyingKey::from_sec1_bytes(last.identity_public_key())
        .unwrap()
        .verify(
            &deterministic::manifest_signed_bytes(last),
            &Signature::from_slice(&high).unwrap(),
        )
        .unwrap();
    let malleated = tamper(last, |j| j["signature"] = b64(&high).into());
    assert_eq!(
        malleated.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        malleated.check_update(prev).unwrap_err(),
        Error::ManifestInvalid
    );
    let mut seen = Seen::new();
    seen.saw_manifest(prev);
    assert_eq!(
        seen.check(&malleated, &[]).unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        unlock(&malleated, b"cred-1", 1).unwrap_err(),
        Error::ManifestInvalid
    );

    // A hand-over in its high-s form, the manifest re-signed by the vault's
    // current identity key, so that only the hand-over is at fault.
    let current = recover_identity(seed, last.identity_public_key());
    assert_eq!(resign(last, &current, |_| {}), *last);
    let malleated = resign(last, &current, |j| {
        edit_b64(&mut j["epochs"][0]["handover"], |h| *h = flip_s(h));
    });
    assert_eq!(
        malleated.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        malleated.check_update(prev).unwrap_err(),
        Error::ManifestInvalid
    );
}

/// Attack: a forged identity chain. A server alters an epoch's hand-over,
/// or swaps the vault's identity key for one of its own and re-signs (a
/// vault id is public, so a forged manifest can name it).
///
/// Before (HEAD): there was one identity key for the vault's life and no
/// hand-overs; `check_update` compared it with the stored one (which a
/// client that had seen nothing could not).
///
/// Now: after two re-keys `epochs` lists the epoch-1 and epoch-2 identity
/// keys, each with a hand-over to the next that verifies; an altered
/// hand-over is `ManifestInvalid` (even re-signed by the current key); a
/// manifest re-signed by an attacker's key, named in `identityKey`, is
/// refused by `check_update`, a `Seen` and `update_manifest`, whether it
/// keeps the epoch, claims a new one, or starts a history of its own.
#[test]
fn altered_handover_and_foreign_identity_are_refused() {
    let seed = b"epochs/identity-chain";
    let (mut v, _) = seeded(seed, b"cred-1", 1);
    let e1 = v.manifest().clone();
    let e2 = v.rekey().unwrap().clone();
    let e3 = v.rekey().unwrap().clone();
    assert_eq!((e1.epoch(), e2.epoch(), e3.epoch()), (1, 2, 3));
    let keys = [
        e1.identity_public_key(),
        e2.identity_public_key(),
        e3.identity_public_key(),
    ];
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);

    let j = json(&e3);
    let epochs = j["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (i, e) in epochs.iter().enumerate() {
        let epoch = u32::try_from(i + 1).unwrap();
        assert_eq!(e["epoch"], epoch);
        assert_eq!(unb64(&e["publicKey"]), keys[i]);
        let handover = Signature::from_slice(&unb64(&e["handover"])).unwrap();
        VerifyingKey::from_sec1_bytes(keys[i])
            .unwrap()
            .verify(
                &handover_message(e3.vault_id(), epoch + 1, keys[i + 1]),
                &handover,
            )
            .unwrap();
        assert!(e["wrappedVaultKey"].is_string());
    }
    // A device that saw epoch 1 follows the chain to epoch 3.
    let mut seen = Seen::new();
    seen.saw_manifest(&e1);
    seen.check(&e3, core::slice::from_ref(&e2)).unwrap();
    e3.check_update(&e2).unwrap();

    // Altered hand-over, as a server can (no key): the signature breaks.
    let altered = tamper(&e3, |j| {
        edit_b64(&mut j["epochs"][0]["handover"], |h| h[40] ^= 1);
    });
    assert_eq!(
        altered.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        altered.check_update(&e2).unwrap_err(),
        Error::ManifestInvalid
    );
    // Re-signed with the current identity key: the hand-over itself fails.
    let current = recover_identity(seed, keys[2]);
    let epoch1 = recover_identity(seed, keys[0]);
    assert_eq!(resign(&e3, &current, |_| {}), e3);
    let altered = resign(&e3, &current, |j| {
        edit_b64(&mut j["epochs"][0]["handover"], |h| h[40] ^= 1);
    });
    assert_eq!(
        altered.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    // A valid signature by the epoch-1 key, over another next key.
    let attacker = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let attacker_pk = compressed(&attacker);
    let wrong = sign_low_s(&epoch1, &handover_message(e3.vault_id(), 2, &attacker_pk));
    let altered = resign(&e3, &current, |j| {
        j["epochs"][0]["handover"] = b64(&wrong).into();
    });
    assert_eq!(
        altered.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        unlock(&altered, b"cred-1", 1).unwrap_err(),
        Error::ManifestInvalid
    );

    // The attacker's own identity key, in the same epoch.
    let next = |j: &mut Value| {
        j["revision"] = (e3.revision() + 1).into();
        j["parent"] = b64(&e3.hash()).into();
        j["identityKey"]["publicKey"] = b64(&attacker_pk).into();
    };
    let same_epoch = resign(&e3, &attacker, next);
    assert_eq!(
        refusals(&same_epoch, &e3, &mut v),
        [Error::ManifestInvalid; 3]
    );
    assert_eq!(
        unlock(&same_epoch, b"cred-1", 1).unwrap_err(),
        Error::ManifestInvalid
    );
    // Claiming epoch 4, with a hand-over from epoch 3 that it signs itself.
    let forged_handover = sign_low_s(&attacker, &handover_message(e3.vault_id(), 4, &attacker_pk));
    let new_epoch = resign(&e3, &attacker, |j| {
        next(j);
        j["epoch"] = 4.into();
        j["epochs"].as_array_mut().unwrap().push(serde_json::json!({
            "epoch": 3,
            "publicKey": b64(keys[2]),
            "handover": b64(&forged_handover),
        }));
    });
    assert_eq!(
        refusals(&new_epoch, &e3, &mut v),
        [Error::ManifestInvalid; 3]
    );
    // A history of its own: epoch 1, no older epochs, its key. It verifies
    // on its own, and descends from nothing this vault signed.
    let own_history = resign(&e3, &attacker, |j| {
        next(j);
        j["epoch"] = 1.into();
        j["epochs"] = serde_json::json!([]);
    });
    own_history.verify_self_signature().unwrap();
    assert_eq!(
        refusals(&own_history, &e3, &mut v),
        [Error::ManifestInvalid; 3]
    );
}

// ---------------------------------------------------------------------------
// 12: format 1
// ---------------------------------------------------------------------------

/// Attack (on compatibility, and on the re-key's promise): a vault from
/// format 1 is upgraded; the upgrade must keep its v1 records readable, and
/// a re-key must not silently cut off an unlock entry that has no public
/// key yet (a v1 entry cannot receive a new vault key without its KEK).
///
/// Before (HEAD): format 1 was the only format; there was no re-key.
///
/// Now: the v1 manifest and record of tests/vectors/v1-json-record.txt
/// unlock and open; after `add_passkey` the manifest is version 2 (the
/// passkey used gets its public key, the v1 recovery entry stays as it
/// is), a device that saw the v1 manifest accepts it, and the v1 record
/// still opens. `rekey` (and `remove_unlock`) on that vault is refused with
/// `InvalidArgument` while the v1 recovery entry is there, changing
/// nothing; `rotate_recovery_code` replaces that entry and re-keys; so
/// does a vault unlocked with the v1 recovery code (its entry is upgraded
/// in the same commit). The v1 record opens throughout.
#[test]
fn v1_vault_upgrade_keeps_records_and_rekey_waits_for_v1_entries() {
    let tv = common::parse_vector(include_str!("vectors/v1-json-record.txt"));
    let cred = hex::decode(&tv["credential-id"]).unwrap();
    let prf_bytes = hex::decode(&tv["prf-output"]).unwrap();
    let plaintext = hex::decode(&tv["plaintext"]).unwrap();
    let c =
        medseal::RecordContext::with_context(tv["record-id"].as_bytes(), tv["context"].as_bytes());
    let sealed = record::from_text(&tv["sealed"]).unwrap();
    let v1 = Manifest::from_json(&tv["manifest"]).unwrap();
    assert_eq!(v1.version(), 1);
    let unlock_v1 =
        |m: &Manifest| Vault::unlock_with_prf(m, &cred, PrfOutput::new(&prf_bytes).unwrap(), 0);

    let mut v = unlock_v1(&v1).unwrap();
    let (ct, data) = v.open_typed(&sealed, &c).unwrap();
    assert_eq!(
        (ct, data.as_slice()),
        (ContentType::Json, plaintext.as_slice())
    );

    let m2 = v
        .add_passkey(passkey(b"cred-new", [0x4E; 32], prf(0x4E)))
        .unwrap()
        .clone();
    assert_eq!((m2.version(), m2.revision(), m2.epoch()), (3, 2, 1));
    assert_eq!(m2.identity_public_key(), v1.identity_public_key());
    let j = json(&m2);
    for e in j["unlock"].as_array().unwrap() {
        let expect_key = e["type"] == "passkey";
        assert_eq!(e.get("publicKey").is_some(), expect_key, "{e}");
    }
    let mut seen = Seen::new();
    seen.saw_manifest(&v1);
    seen.check(&m2, &[]).unwrap();
    m2.check_update(&v1).unwrap();
    assert_eq!(v.open(&sealed, &c).unwrap(), plaintext);
    assert_eq!(
        unlock_v1(&m2).unwrap().open(&sealed, &c).unwrap(),
        plaintext
    );
    let by_new = unlock(&m2, b"cred-new", 0x4E).unwrap();
    assert_eq!(by_new.open(&sealed, &c).unwrap(), plaintext);

    // A re-key with the v1 recovery entry still there is refused.
    let refused = |e: Error| matches!(e, Error::InvalidArgument(m) if m.contains("format 1"));
    let e = v.rekey().unwrap_err();
    assert!(refused(e), "{e:?}");
    let new_id = passkey_entry_id(&m2, b"cred-new");
    let e = v.remove_unlock(&new_id).unwrap_err();
    assert!(refused(e), "{e:?}");
    assert_eq!(v.manifest(), &m2);
    assert_eq!(v.open(&sealed, &c).unwrap(), plaintext);

    // Way out 1: unlocked with the v1 recovery code (same vault:
    // tests/vectors/v1-recovery-code.txt), a vault upgrades that entry in
    // the re-key's own commit.
    let rc = common::parse_vector(include_str!("vectors/v1-recovery-code.txt"));
    assert_eq!(rc["manifest"], tv["manifest"]);
    let code = RecoveryCode::parse(&rc["recovery-code"]).unwrap();
    let mut by_code = Vault::unlock_with_recovery_code(&m2, &code, 0).unwrap();
    let m3 = by_code.rekey().unwrap().clone();
    assert_eq!(m3.epoch(), 2);
    assert!(json(&m3)["unlock"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.get("publicKey").is_some()));
    assert_eq!(by_code.open(&sealed, &c).unwrap(), plaintext);
    assert_eq!(
        Vault::unlock_with_recovery_code(&m3, &code, 0)
            .unwrap()
            .open(&sealed, &c)
            .unwrap(),
        plaintext
    );
    v.update_manifest(&m3).unwrap();
    assert_eq!(v.open(&sealed, &c).unwrap(), plaintext);

    // Way out 2: from m2, rotating the recovery code replaces the v1 entry.
    let mut v = unlock_v1(&m2).unwrap();
    let new_code = v.rotate_recovery_code().unwrap();
    let m3 = v.manifest().clone();
    assert_eq!(m3.epoch(), 2);
    v.rekey().unwrap();
    v.remove_unlock(&new_id).unwrap();
    assert_eq!(v.manifest().epoch(), 4);
    assert_eq!(v.open(&sealed, &c).unwrap(), plaintext);
    let later = Vault::unlock_with_recovery_code(v.manifest(), &new_code, 0).unwrap();
    assert_eq!(later.open(&sealed, &c).unwrap(), plaintext);
    assert_eq!(
        Vault::unlock_with_recovery_code(&m3, &code, 0).unwrap_err(),
        Error::UnlockFailed
    );
}

/// Attack (found in review): a removed passkey still holds its epoch's vault
/// key, so it can seal *new* records under that ended epoch, with any record
/// id and version, and a device opens them (nothing in a record says when it
/// was sealed). What holds (docs/SECURITY.md §8): such a record does not
/// raise what the device expects of that record id (`Seen::saw_opened`), so
/// it cannot lock the real next version out; and once the app re-wraps its
/// records and retires the old epoch, nothing sealed under it opens any more.
#[test]
fn a_removed_passkey_can_seal_under_its_ended_epoch_until_it_is_retired() {
    let (mut v, _) = seeded(b"review/old-epoch", b"cred-1", 1);
    let salt = deterministic::prf_salt(b"review/old-epoch/salt-2");
    v.add_passkey(passkey(b"cred-2", salt, prf(2))).unwrap();
    let before = v.manifest().clone();
    let c = ctx("med-1");
    let real_v1 = v
        .seal_version(ContentType::Json, b"{\"dose\":5}", &c, 1)
        .unwrap();
    // cred-2 is removed; its holder keeps the old manifest and its vault key.
    v.remove_unlock(&passkey_entry_id(v.manifest(), b"cred-2"))
        .unwrap();
    let mut removed = unlock(&before, b"cred-2", 2).unwrap();
    let forged = removed
        .seal_version(ContentType::Json, b"{\"dose\":999}", &c, 1000)
        .unwrap();
    // The documented limit: it opens (under epoch 1, now ended)...
    let opened = v.open_record(&forged, &c).unwrap();
    assert_eq!(opened.data, b"{\"dose\":999}");
    assert_eq!(opened.meta.epoch, 1);
    assert!(opened.meta.epoch < v.manifest().epoch());
    // ...but does not raise the device's expectation of the record.
    let mut seen = Seen::new();
    seen.saw_manifest(v.manifest());
    assert!(!seen.saw_opened(&c, &opened.meta, v.manifest().epoch(), false));
    let real_v2 = v
        .seal_version(ContentType::Json, b"{\"dose\":6}", &c, 2)
        .unwrap();
    let meta2 = record::read_meta(&real_v2).unwrap();
    seen.check_record(&c, &meta2).unwrap();
    assert!(seen.saw_opened(&c, &meta2, v.manifest().epoch(), false));
    // Re-wrap what the app has, retire: the removed key's records stop opening.
    let rewrapped = v.rewrap(&real_v1, &c).unwrap().unwrap();
    v.retire_epochs().unwrap();
    assert_eq!(v.open(&rewrapped, &c).unwrap(), b"{\"dose\":5}");
    let late = removed
        .seal_version(ContentType::Json, b"{\"dose\":999}", &c, 1001)
        .unwrap();
    assert_eq!(v.open(&late, &c).unwrap_err(), Error::DecryptionFailed);
    assert_eq!(v.open(&forged, &c).unwrap_err(), Error::DecryptionFailed);
}

/// Found in review: a device that adopts another device's `retire_epochs`
/// kept the retired keys in memory, opened old-epoch records, and its next
/// re-key wrote the retired key back into the manifest. Now a retirement
/// seen through `update_manifest` retires here too, and stays retired.
#[test]
fn a_retirement_made_elsewhere_stays_retired() {
    let (mut a, _) = seeded(b"review/retire", b"cred-1", 1);
    let m1 = a.manifest().clone();
    let c = ctx("old");
    let old = a.seal(b"epoch 1", &c).unwrap();
    a.rekey().unwrap();
    let m2 = a.manifest().clone();
    let mut b = unlock(&m1, b"cred-1", 1).unwrap();
    b.update_manifest(&m2).unwrap();
    assert_eq!(b.open(&old, &c).unwrap(), b"epoch 1");
    a.retire_epochs().unwrap();
    b.update_manifest(a.manifest()).unwrap();
    assert_eq!(b.open(&old, &c).unwrap_err(), Error::DecryptionFailed);
    b.rekey().unwrap();
    assert!(
        json(b.manifest())["epochs"][0]
            .get("wrappedVaultKey")
            .is_none(),
        "the retired epoch's key is not written back"
    );
    let fresh = unlock(b.manifest(), b"cred-1", 1).unwrap();
    assert_eq!(fresh.open(&old, &c).unwrap_err(), Error::DecryptionFailed);
}
