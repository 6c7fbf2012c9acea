//! Review of account deletion (FORMAT §20): what a request that passed its
//! session check before the deletion can still write after it. Held up:
//! every write of a deleted user's id fails on the foreign keys of the one
//! writer connection (`PRAGMA foreign_keys = ON`), and an attachment upload
//! in flight is never moved into place.
//!
//! Run: flock /tmp/medseal-build.lock cargo test --locked -p medseal-server --test review_destroy

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use medseal::{PasskeyUnlock, PrfOutput, Vault};
use medseal_server::db::{self, AccountDeletion, Db};

#[test]
fn writes_racing_a_deletion_fail_after_it() {
    let dir = std::env::temp_dir().join(format!("review-destroy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = Db::open(&dir, 1).unwrap();
    let prf: Vec<u8> = (1..=32).collect();
    let (v, _) = Vault::create(PasskeyUnlock {
        credential_id: b"cred-1".to_vec(),
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: PrfOutput::new(&prf).unwrap(),
        label: None,
    })
    .unwrap();
    let mj = v.manifest().to_json();
    let rev = i64::try_from(v.manifest().revision()).unwrap();
    d.write_blocking(|c| db::create_user(c, "u1", "alice", "cred-1", "{}", &mj, rev))
        .unwrap();
    d.write_blocking(|c| db::put_record(c, "u1", "r1", "sealed-before"))
        .unwrap();
    let del = d
        .write_blocking(|c| {
            db::delete_account(c, "u1", |_| Ok::<_, ()>(("vid".into(), "note".into())))
        })
        .unwrap();
    assert!(matches!(del, AccountDeletion::Deleted(_)));
    // In-flight requests whose session check passed before the deletion:
    assert!(d
        .write_blocking(|c| db::put_record(c, "u1", "r2", "sealed-after"))
        .is_err());
    assert!(d
        .write_blocking(|c| db::new_session(c, "tok", "u1", 3600))
        .is_err());
    let mut placed = false;
    let r = d.write_blocking(|c| {
        db::put_attachment(c, "u1", "a1", 100, (1 << 30, 100), || {
            placed = true;
            Ok::<_, ()>(())
        })
    });
    assert!(r.is_err(), "attachment row written for a deleted user");
    assert!(
        !placed,
        "attachment file moved into place for a deleted user"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
