//! wasm-bindgen tests of the WebAssembly surface (crates/medseal-wasm), run
//! in headless Chromium (`wasm-pack test --headless --chrome
//! crates/medseal-wasm -- --test wasm`): the handle, the error objects JS
//! sees, the one-time values, the wiping of PRF buffers, and lock().
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use js_sys::Reflect;
use medseal_wasm::{
    error_codes, large_head_length, new_prf_salt, passkey_requests, prf_input, to_text,
    HandoffReceiver, NewPasskey, VaultHandle,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn code_of(e: JsValue) -> String {
    Reflect::get(&e, &JsValue::from_str("code"))
        .unwrap()
        .as_string()
        .unwrap()
}

fn new_vault() -> (VaultHandle, [u8; 32], String) {
    let salt = new_prf_salt().unwrap();
    let mut prf = [0u8; 32];
    getrandom::fill(&mut prf).unwrap();
    let mut buf = prf;
    let created = VaultHandle::create(
        NewPasskey::new(b"cred", &salt, Some("laptop".into()), &mut buf).unwrap(),
    )
    .unwrap();
    assert_eq!(buf, [0u8; 32], "the caller's PRF buffer is wiped");
    let code = created.recovery_code();
    (created.into_vault(), prf, code)
}

#[wasm_bindgen_test]
fn seal_open_json_and_bytes_in_the_browser() {
    let (mut h, _, _) = new_vault();
    let t = h
        .seal_text(b"{\"a\":1}".to_vec(), true, "r1", &[], None)
        .unwrap();
    assert!(t.starts_with("ms2."));
    let o = h.open(t.into_bytes(), true, "r1", &[]).unwrap();
    assert!(o.json);
    assert_eq!(String::from(o.into_text().unwrap()), "{\"a\":1}");
    let b = h
        .seal_bytes(vec![1, 2, 3], false, "r2", b"ctx", None)
        .unwrap();
    let o = h.open(b, false, "r2", b"ctx").unwrap();
    assert!(!o.json);
    assert_eq!(o.into_bytes().to_vec(), vec![1, 2, 3]);
}

#[wasm_bindgen_test]
fn text_form_errors_keep_their_codes() {
    let (mut h, _, _) = new_vault();
    let text = h
        .seal_text(b"{\"a\":\"\xc3\xa9\"}".to_vec(), true, "r1", &[], None)
        .unwrap();
    assert_eq!(
        h.open(text.clone().into_bytes(), true, "r1", &[])
            .unwrap()
            .into_text()
            .map(String::from)
            .unwrap(),
        "{\"a\":\"é\"}"
    );
    // Without the text flag the same bytes are a binary record (no guessing).
    assert_eq!(
        code_of(h.open(text.into_bytes(), false, "r1", &[]).err().unwrap()),
        "Malformed"
    );
    assert_eq!(
        code_of(h.open(b"ms9.AAAA".to_vec(), true, "r1", &[]).err().unwrap()),
        "UnknownVersion"
    );
    assert_eq!(
        code_of(h.open(b"ms1.\xff".to_vec(), true, "r1", &[]).err().unwrap()),
        "Malformed"
    );
    assert_eq!(
        code_of(
            h.seal_text(b"\xff".to_vec(), true, "r", &[], None)
                .unwrap_err()
        ),
        "InvalidArgument"
    );
    assert_eq!(
        code_of(h.seal_text(b"1".to_vec(), true, "", &[], None).unwrap_err()),
        "InvalidArgument"
    );
}

#[wasm_bindgen_test]
fn unlock_from_manifest_and_recovery_code() {
    let (mut h, prf, code) = new_vault();
    let m = h.manifest_json().unwrap();
    let sealed = h
        .seal_bytes(b"\"x\"".to_vec(), true, "r", &[], None)
        .unwrap();
    let mut buf = prf;
    let mut h2 = VaultHandle::unlock_with_prf(&m, vec![], None, b"cred", &mut buf, None).unwrap();
    assert_eq!(buf, [0u8; 32], "the caller's PRF buffer is wiped");
    assert!(h2.open(sealed.clone(), false, "r", &[]).is_ok());
    let mut h3 =
        VaultHandle::unlock_with_recovery_code(&m, vec![], None, &code, Some(1.0)).unwrap();
    assert!(h3.open(sealed, false, "r", &[]).is_ok());
    let reqs = passkey_requests(&m).unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].credential_id, b"cred");
    assert_eq!(reqs[0].label.as_deref(), Some("laptop"));
    assert_eq!(prf_input(&[0u8; 32]).len(), 20 + 32);
    // A rotated code is handed out by the call that made it, once.
    let mut h4 = h3;
    let new_code = h4.rotate_recovery_code().unwrap();
    assert_ne!(new_code, code);
    let m4 = h4.manifest_json().unwrap();
    assert!(VaultHandle::unlock_with_recovery_code(&m4, vec![], None, &new_code, None).is_ok());
}

#[wasm_bindgen_test]
fn large_records_leave_only_their_body_key() {
    let (mut h, _, _) = new_vault();
    let mut job = h.seal_large(false, 70_000.0, "scan", b"c", None).unwrap();
    let key = job.take_key().unwrap();
    assert_eq!(key.length(), 32);
    assert!(job.take_key().is_none(), "the body key is handed out once");
    assert_eq!(job.body_head().len(), 1);
    assert_eq!(job.prefix().len(), large_head_length() as usize);
    let sealed = h
        .seal_bytes(vec![7; 70_000], false, "scan", b"c", None)
        .unwrap();
    let head = &sealed[..large_head_length() as usize];
    let mut open = h
        .open_large(head, sealed.len() as f64, "scan", b"c")
        .unwrap();
    assert!(open.take_key().is_some());
    assert!(open.take_key().is_none());
    assert_eq!(
        code_of(
            h.open_large(head, sealed.len() as f64, "other", b"c")
                .err()
                .unwrap()
        ),
        "DecryptionFailed"
    );
    assert_eq!(
        code_of(h.seal_large(false, -1.0, "scan", &[], None).err().unwrap()),
        "InvalidArgument"
    );
    assert!(to_text(&sealed).starts_with("ms2."));
}

#[wasm_bindgen_test]
fn hand_off_between_two_handles() {
    let (mut h, _, _) = new_vault();
    let m = h.manifest_json().unwrap();
    let sealed = h.seal_bytes(b"1".to_vec(), true, "r", &[], None).unwrap();
    let mut r = HandoffReceiver::new().unwrap();
    let msg = h.hand_off(&r.public_key().unwrap()).unwrap();
    let mut h2 = r.accept(&msg, Some(m), None).unwrap();
    assert!(h2.open(sealed, false, "r", &[]).is_ok());
    assert!(r.public_key().is_none(), "a receiver is used once");
    assert_eq!(
        code_of(r.accept(&msg, None, None).err().unwrap()),
        "InvalidArgument"
    );
}

#[wasm_bindgen_test]
fn errors_reach_js_as_codes_and_the_instance_survives() {
    let (mut h, prf, _) = new_vault();
    let m = h.manifest_json().unwrap();
    let sealed = h.seal_bytes(b"1".to_vec(), true, "r", &[], None).unwrap();
    assert_eq!(
        code_of(h.open(sealed.clone(), false, "other", &[]).err().unwrap()),
        "DecryptionFailed"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_prf(&m, vec![], None, b"cred", &mut [0; 32], None)
                .err()
                .unwrap()
        ),
        "InvalidPrfOutput"
    );
    let mut wrong = prf;
    wrong[0] ^= 1;
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_prf(&m, vec![], None, b"cred", &mut wrong, None)
                .err()
                .unwrap()
        ),
        "UnlockFailed"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_prf(&m, vec![], None, b"cred", &mut prf.clone(), Some(5.0))
                .err()
                .unwrap()
        ),
        "StaleManifest"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_prf(&m, vec![], None, b"cred", &mut prf.clone(), Some(-1.0))
                .err()
                .unwrap()
        ),
        "InvalidArgument"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_recovery_code(&m, vec![], None, "AAAA", None)
                .err()
                .unwrap()
        ),
        "InvalidRecoveryCode"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_recovery_code("{", vec![], None, "AAAA", None)
                .err()
                .unwrap()
        ),
        "Malformed"
    );
    // Still usable after all of that.
    assert!(h.open(sealed.clone(), false, "r", &[]).is_ok());
    h.lock();
    assert!(h.is_locked());
    assert_eq!(
        code_of(h.open(sealed, false, "r", &[]).err().unwrap()),
        "Locked"
    );
    assert!(error_codes().contains(&"Locked".to_string()));
}
