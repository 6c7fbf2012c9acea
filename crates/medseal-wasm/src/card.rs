//! The emergency card (the core's `medseal::card`): a FHIR Bundle signed as
//! a SMART Health Card with its key in the header, read from its `shc:/`
//! QR text with no vault and no server. Times cross as seconds since the
//! Unix epoch (JS numbers); the bundle goes in as bytes and comes out as
//! text.

use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::{invalid, to_js, VaultHandle};

/// An emergency card just made.
#[wasm_bindgen(getter_with_clone)]
pub struct CardInfo {
    /// The JWS (what a `.smart-health-card` file lists).
    pub jws: String,
    /// The QR code's text, `shc:/` and digits: encode `shc:/` in byte mode
    /// and the digits in numeric mode (one QR, version 22 or lower, error
    /// correction L).
    pub qr: String,
    /// The signing key's fingerprint (the card's `kid`), to show beside
    /// the card.
    pub fingerprint: String,
}

/// A card whose signature checked out under the key it carries. Whose key
/// that is, only a comparison of `fingerprint` with the one the patient's
/// app shows can tell.
#[wasm_bindgen(getter_with_clone)]
pub struct VerifiedCardInfo {
    /// The issuer the card names (`medseal:vault:…`): a claim, not checked.
    pub iss: String,
    /// When it was issued, seconds since 1970.
    pub nbf: f64,
    /// The fingerprint of the key that signed it.
    pub fingerprint: String,
    /// The FHIR Bundle's JSON, exactly as signed.
    pub bundle: String,
}

#[wasm_bindgen]
impl VaultHandle {
    /// Makes an emergency card of a FHIR Bundle (UTF-8 JSON; wiped from
    /// wasm memory after use) issued at `nbf` (seconds since 1970), signed
    /// with this key epoch's card key. `TooLarge` when it would not fit one
    /// QR code (a JWS over 1195 characters).
    #[wasm_bindgen(js_name = emergencyCard)]
    pub fn emergency_card(&self, bundle_json: Vec<u8>, nbf: f64) -> Result<CardInfo, JsValue> {
        let bundle_json = Zeroizing::new(bundle_json);
        let nbf = if nbf >= 0.0 && nbf.fract() == 0.0 && nbf <= 9_007_199_254_740_991.0 {
            nbf as u64
        } else {
            return Err(invalid("nbf must be seconds since 1970"));
        };
        let c = self
            .get()?
            .emergency_card(&bundle_json, nbf)
            .map_err(to_js)?;
        Ok(CardInfo {
            jws: c.jws,
            qr: c.qr,
            fingerprint: c.fingerprint,
        })
    }

    /// The fingerprint of the cards this vault makes now (its current card
    /// key): show it next to the card for a reader to compare.
    #[wasm_bindgen(js_name = cardFingerprint)]
    pub fn card_fingerprint(&self) -> Result<String, JsValue> {
        self.get()?.card_fingerprint().map_err(to_js)
    }
}

/// Reads and verifies an emergency card from its QR text (`shc:/…`) or its
/// JWS. No vault needed.
#[wasm_bindgen(js_name = readCard)]
pub fn read_card(text: &str) -> Result<VerifiedCardInfo, JsValue> {
    let c = medseal::card::read_card(text).map_err(to_js)?;
    let bundle = String::from_utf8(c.bundle_json)
        .map_err(|_| to_js(medseal::Error::Malformed("card: the bundle is not UTF-8")))?;
    Ok(VerifiedCardInfo {
        iss: c.iss,
        nbf: c.nbf as f64,
        fingerprint: c.fingerprint,
        bundle,
    })
}
