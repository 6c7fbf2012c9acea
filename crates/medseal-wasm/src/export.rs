//! Exports (the core's `medseal::export`, FORMAT.md §19): the bytes around
//! an export's items. The JS layer frames the app's sealed records and
//! files with these and pipes the whole through the vault's stream sealer;
//! the core checks every frame's metadata against what a reader accepts.

use wasm_bindgen::prelude::*;

use medseal::export::{self, ItemKind};

use crate::{invalid, to_js};

/// The bytes before the export's stream: magic, version, the manifest.
#[wasm_bindgen(js_name = exportPrefix)]
pub fn export_prefix(manifest_json: &str) -> Result<Vec<u8>, JsValue> {
    export::prefix(manifest_json).map_err(to_js)
}

/// The export stream's record context for `prefix`.
#[wasm_bindgen(js_name = exportContext)]
pub fn export_context(prefix: &[u8]) -> Vec<u8> {
    export::context(prefix).to_vec()
}

/// One item's frame (`kind`: header, manifest, record, file, log, end):
/// its body of `body_len` bytes follows.
#[wasm_bindgen(js_name = exportFrame)]
pub fn export_frame(kind: &str, meta: &str, body_len: f64) -> Result<Vec<u8>, JsValue> {
    let kind = ItemKind::from_name(kind).ok_or_else(|| invalid("unknown export item kind"))?;
    if !(body_len >= 0.0 && body_len.fract() == 0.0 && body_len <= 9_007_199_254_740_991.0) {
        return Err(invalid("body length must be a byte count"));
    }
    export::frame(kind, meta, body_len as u64).map_err(to_js)
}
