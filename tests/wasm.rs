//! wasm-bindgen tests of the WebAssembly surface, run in headless Chromium
//! (`wasm-pack test --headless --chrome -- --test wasm`): the handle, the
//! error objects JS sees, and lock().
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use js_sys::{Reflect, Uint8Array};
use medseal::wasm::{new_prf_salt, passkey_requests, prf_input, VaultHandle};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn code_of(e: JsValue) -> String {
    Reflect::get(&e, &JsValue::from_str("code"))
        .unwrap()
        .as_string()
        .unwrap()
}

fn new_vault() -> (VaultHandle, [u8; 32]) {
    let salt = new_prf_salt().unwrap();
    let mut prf = [0u8; 32];
    getrandom::fill(&mut prf).unwrap();
    let h = VaultHandle::create_from_prf(
        bytes(b"cred"),
        bytes(&salt),
        bytes(&prf),
        JsValue::from_str("laptop"),
    )
    .unwrap();
    (h, prf)
}

#[wasm_bindgen_test]
fn seal_open_json_and_bytes_in_the_browser() {
    let (mut h, _) = new_vault();
    let t = h
        .seal(
            JsValue::from_str("{\"a\":1}"),
            false,
            JsValue::from_str("r1"),
            JsValue::UNDEFINED,
            true,
        )
        .unwrap();
    assert!(t.as_string().unwrap().starts_with("ms1."));
    assert_eq!(
        h.open(t, false, JsValue::from_str("r1"), JsValue::UNDEFINED)
            .unwrap()
            .as_string()
            .unwrap(),
        "{\"a\":1}"
    );
    let b = h
        .seal(
            bytes(&[1, 2, 3]),
            false,
            JsValue::from_str("r2"),
            JsValue::from_str("ctx"),
            false,
        )
        .unwrap();
    let out = h
        .open(b, false, JsValue::from_str("r2"), JsValue::from_str("ctx"))
        .unwrap();
    assert_eq!(Uint8Array::from(out).to_vec(), vec![1, 2, 3]);
}

#[wasm_bindgen_test]
fn text_form_and_json_as_utf8_bytes() {
    // The JS layer passes strings as UTF-8 bytes (TextEncoder is faster than
    // wasm-bindgen's string copy): the same records, the same errors.
    let (mut h, _) = new_vault();
    let t = h
        .seal(
            bytes(b"{\"a\":\"\xc3\xa9\"}"),
            true,
            JsValue::from_str("r1"),
            JsValue::UNDEFINED,
            true,
        )
        .unwrap();
    let text = t.as_string().unwrap();
    let opened = h
        .open(
            bytes(text.as_bytes()),
            true,
            JsValue::from_str("r1"),
            JsValue::UNDEFINED,
        )
        .unwrap();
    assert_eq!(opened.as_string().unwrap(), "{\"a\":\"é\"}");
    let many = h
        .open_many(
            js_sys::JSON::parse(&format!("[{{\"sealed\":\"{text}\",\"recordId\":\"r1\"}}]"))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(many.get(0).as_string().unwrap(), "{\"a\":\"é\"}");
    // In a batch, the item's `text` flag says so; without it the same bytes
    // are taken as a binary record (no guessing from the first bytes).
    let item = js_sys::Object::new();
    Reflect::set(&item, &"sealed".into(), &bytes(text.as_bytes())).unwrap();
    Reflect::set(&item, &"recordId".into(), &"r1".into()).unwrap();
    Reflect::set(&item, &"text".into(), &true.into()).unwrap();
    let flagged = h.open_many(js_sys::Array::of1(&item).into()).unwrap();
    assert_eq!(flagged.get(0).as_string().unwrap(), "{\"a\":\"é\"}");
    Reflect::set(&item, &"text".into(), &false.into()).unwrap();
    let unflagged = h.open_many(js_sys::Array::of1(&item).into()).unwrap();
    assert_eq!(code_of(unflagged.get(0)), "Malformed");
    assert_eq!(
        code_of(
            h.open(
                bytes(text.as_bytes()),
                false,
                JsValue::from_str("r1"),
                JsValue::UNDEFINED
            )
            .unwrap_err()
        ),
        "Malformed"
    );
    assert_eq!(
        code_of(
            h.open(
                bytes(b"ms9.AAAA"),
                true,
                JsValue::from_str("r1"),
                JsValue::UNDEFINED
            )
            .unwrap_err()
        ),
        "UnknownVersion"
    );
    assert_eq!(
        code_of(
            h.open(
                bytes(b"ms1.\xff"),
                true,
                JsValue::from_str("r1"),
                JsValue::UNDEFINED
            )
            .unwrap_err()
        ),
        "Malformed"
    );
    assert_eq!(
        code_of(
            h.seal(
                bytes(b"\xff"),
                true,
                JsValue::from_str("r"),
                JsValue::UNDEFINED,
                true
            )
            .unwrap_err()
        ),
        "InvalidArgument"
    );
}

#[wasm_bindgen_test]
fn unlock_from_manifest_and_recovery_code() {
    let (mut h, prf) = new_vault();
    let code = h.take_recovery_code().unwrap();
    assert!(
        h.take_recovery_code().is_none(),
        "the recovery code is handed out once"
    );
    let m = JsValue::from_str(&h.manifest_json().unwrap());
    let sealed = h
        .seal(
            JsValue::from_str("\"x\""),
            false,
            JsValue::from_str("r"),
            JsValue::UNDEFINED,
            true,
        )
        .unwrap();
    let h2 =
        VaultHandle::unlock_from_prf(m.clone(), bytes(b"cred"), bytes(&prf), JsValue::UNDEFINED)
            .unwrap();
    assert!(h2
        .open(
            sealed.clone(),
            false,
            JsValue::from_str("r"),
            JsValue::UNDEFINED
        )
        .is_ok());
    let h3 = VaultHandle::unlock_with_recovery_code(
        m.clone(),
        JsValue::from_str(&code),
        JsValue::from_f64(1.0),
    )
    .unwrap();
    assert!(h3
        .open(sealed, false, JsValue::from_str("r"), JsValue::UNDEFINED)
        .is_ok());
    let reqs = passkey_requests(m).unwrap();
    assert_eq!(js_sys::Array::from(&reqs).length(), 1);
    assert_eq!(prf_input(&[0u8; 32]).len(), 20 + 32);
}

#[wasm_bindgen_test]
fn errors_reach_js_as_codes_and_the_instance_survives() {
    let (mut h, prf) = new_vault();
    let m = JsValue::from_str(&h.manifest_json().unwrap());
    let sealed = h
        .seal(
            JsValue::from_str("1"),
            false,
            JsValue::from_str("r"),
            JsValue::UNDEFINED,
            true,
        )
        .unwrap();
    assert_eq!(
        code_of(
            h.open(
                sealed.clone(),
                false,
                JsValue::from_str("other"),
                JsValue::UNDEFINED
            )
            .unwrap_err()
        ),
        "DecryptionFailed"
    );
    assert_eq!(
        code_of(
            h.open(
                JsValue::from_str("ms9.AAAA"),
                false,
                JsValue::from_str("r"),
                JsValue::UNDEFINED
            )
            .unwrap_err()
        ),
        "UnknownVersion"
    );
    assert_eq!(
        code_of(
            h.open(
                JsValue::from_f64(3.0),
                false,
                JsValue::from_str("r"),
                JsValue::UNDEFINED
            )
            .unwrap_err()
        ),
        "InvalidArgument"
    );
    assert_eq!(
        code_of(
            h.seal(
                JsValue::NULL,
                false,
                JsValue::from_str("r"),
                JsValue::UNDEFINED,
                true
            )
            .unwrap_err()
        ),
        "InvalidArgument"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_from_prf(
                m.clone(),
                bytes(b"cred"),
                bytes(&[0; 32]),
                JsValue::UNDEFINED
            )
            .err()
            .unwrap()
        ),
        "InvalidPrfOutput"
    );
    let mut wrong = prf;
    wrong[0] ^= 1;
    assert_eq!(
        code_of(
            VaultHandle::unlock_from_prf(
                m.clone(),
                bytes(b"cred"),
                bytes(&wrong),
                JsValue::UNDEFINED
            )
            .err()
            .unwrap()
        ),
        "UnlockFailed"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_from_prf(
                m.clone(),
                bytes(b"cred"),
                bytes(&prf),
                JsValue::from_f64(5.0)
            )
            .err()
            .unwrap()
        ),
        "StaleManifest"
    );
    assert_eq!(
        code_of(
            VaultHandle::unlock_with_recovery_code(
                m,
                JsValue::from_str("AAAA"),
                JsValue::UNDEFINED
            )
            .err()
            .unwrap()
        ),
        "InvalidRecoveryCode"
    );
    // Still usable after all of that.
    assert!(h
        .open(
            sealed.clone(),
            false,
            JsValue::from_str("r"),
            JsValue::UNDEFINED
        )
        .is_ok());
    h.lock();
    assert!(h.is_locked());
    assert_eq!(
        code_of(
            h.open(sealed, false, JsValue::from_str("r"), JsValue::UNDEFINED)
                .unwrap_err()
        ),
        "Locked"
    );
}
