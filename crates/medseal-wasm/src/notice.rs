//! Security notices (the core's `medseal::notice`): verified against the
//! operator keys the app pins; the answer is the notice's JSON.

use wasm_bindgen::prelude::*;

use medseal::notice::Notice;

use crate::to_js;

/// Verifies a signed notice against pinned keys (`[{name, key}]` as JSON);
/// returns the notice as JSON. `NoticeInvalid` unless a pinned key signed it.
#[wasm_bindgen(js_name = verifyNotice)]
pub fn verify_notice(signed: &str, keys_json: &str) -> Result<String, JsValue> {
    Notice::verify_json(signed, keys_json)
        .map(|n| n.to_json())
        .map_err(to_js)
}
