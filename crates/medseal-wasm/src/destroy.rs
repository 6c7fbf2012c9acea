//! Deletion that destroys keys (the core's `medseal::destroy`): a vault's
//! signed destroy request, after which the handle is locked for good, and
//! the server's signed tombstone, verified against its log key.

use wasm_bindgen::prelude::*;

use medseal::destroy::verify_tombstone as verify;

use crate::{to_js, VaultHandle};

/// A tombstone whose signature checked out under the server key given.
#[wasm_bindgen(getter_with_clone)]
pub struct TombstoneInfo {
    /// The server's origin.
    pub origin: String,
    /// The deleted vault's id, base64url.
    #[wasm_bindgen(js_name = vaultId)]
    pub vault_id: String,
    /// When it was deleted, seconds since 1970.
    pub deleted: f64,
    /// SHA-256 of the destroy request's signature, base64url.
    pub request: String,
    /// The identity public key that signed the request, base64url.
    pub identity: String,
}

#[wasm_bindgen]
impl VaultHandle {
    /// Signs a request to delete this vault for good (see
    /// `Vault::sign_destroy`), then locks this handle: its keys are wiped
    /// and every later call throws `Locked`. On a bad argument nothing is
    /// signed and the handle stays unlocked.
    #[wasm_bindgen(js_name = signDestroy)]
    pub fn sign_destroy(&mut self, challenge: &[u8], audience: &str) -> Result<Vec<u8>, JsValue> {
        let sig = self
            .get()?
            .sign_destroy(challenge, audience)
            .map_err(to_js)?;
        self.lock();
        Ok(sig)
    }
}

/// Verifies a server's signed tombstone under its log key (`key_name`, and
/// `key` the compressed SEC1 public key). With `request` (the signature
/// `signDestroy` returned), the tombstone must name that request, else
/// `TombstoneInvalid`.
#[wasm_bindgen(js_name = verifyTombstone)]
pub fn verify_tombstone(
    note: &str,
    key_name: &str,
    key: &[u8],
    request: Option<Vec<u8>>,
) -> Result<TombstoneInfo, JsValue> {
    let t = verify(note, key_name, key).map_err(to_js)?;
    if request.is_some_and(|r| !t.names_request(&r)) {
        return Err(to_js(medseal::Error::TombstoneInvalid));
    }
    Ok(TombstoneInfo {
        origin: t.origin.clone(),
        vault_id: medseal::base64url(&t.vault_id),
        // At most 2^53 - 1 (checked by the parser): exact as a double.
        deleted: t.deleted as f64,
        request: medseal::base64url(&t.request),
        identity: medseal::base64url(&t.identity),
    })
}
