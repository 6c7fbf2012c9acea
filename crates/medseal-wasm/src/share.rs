//! Sharing: grants to another vault, fingerprints and pins (the core's
//! `medseal::share`). Times cross as seconds since the Unix epoch (JS
//! numbers); grant and pin documents as JSON text; slots as bytes.

use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use medseal::{Fingerprint, Grant, GrantRequest, GrantScope, Pin, ReceivedGrant};

use crate::{binding, invalid, manifest_of, sealed_of, to_js, Opened, VaultHandle};

/// Seconds since the Unix epoch from JS: a whole number from 0 to 2^53 - 1.
fn seconds(v: f64, what: &'static str) -> Result<u64, JsValue> {
    if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(invalid(what))
    }
}

fn grant_of(json: &str) -> Result<Grant, JsValue> {
    Grant::from_json(json).map_err(to_js)
}

/// A vault's fingerprint (see `medseal::Fingerprint`).
#[wasm_bindgen(getter_with_clone)]
pub struct FingerprintInfo {
    /// The vault id, base64url.
    #[wasm_bindgen(js_name = vaultId)]
    pub vault_id: String,
    /// 40 digits in 8 groups of 5: what two people read to each other.
    pub digits: String,
    /// The QR code payload.
    pub qr: String,
    /// The digest, base64url.
    pub digest: String,
}

/// The fingerprint of the vault whose manifest this is (every signature of
/// the manifest is checked first).
#[wasm_bindgen]
pub fn fingerprint(manifest_json: &str) -> Result<FingerprintInfo, JsValue> {
    let m = manifest_of(manifest_json)?;
    let f = Fingerprint::of(&m).map_err(to_js)?;
    Ok(FingerprintInfo {
        vault_id: medseal::base64url(m.vault_id()),
        digits: f.digits(),
        qr: f.qr_payload(),
        digest: medseal::base64url(&f.digest),
    })
}

/// Checks a person's manifest against the pin stored for them (`undefined`:
/// first use); returns the pin to store. `KeyChanged` for another key,
/// `StaleManifest` for an older manifest than seen.
#[wasm_bindgen(js_name = checkPin)]
pub fn check_pin(manifest_json: &str, pin_json: Option<String>) -> Result<String, JsValue> {
    let m = manifest_of(manifest_json)?;
    let pinned = pin_json
        .map(|p| Pin::from_json(&p))
        .transpose()
        .map_err(to_js)?;
    Pin::check(&m, pinned.as_ref())
        .map(|p| p.to_json())
        .map_err(to_js)
}

/// An active grant or link as the manifest lists it.
#[wasm_bindgen(getter_with_clone)]
pub struct ShareItem {
    /// Its id, base64url.
    pub id: String,
    /// A SMART Health Link (else a grant).
    pub link: bool,
    /// The scope label of a grant that follows its scope.
    pub scope: Option<String>,
    /// End of validity, seconds since the Unix epoch.
    pub expires: f64,
    /// The digest of the signed grant, base64url.
    pub digest: String,
}

/// The active grants and links a manifest lists.
#[wasm_bindgen(js_name = manifestShares)]
pub fn manifest_shares(manifest_json: &str) -> Result<Vec<ShareItem>, JsValue> {
    let m = manifest_of(manifest_json)?;
    Ok(m.shares()
        .map(|s| ShareItem {
            id: medseal::base64url(s.id),
            link: s.link,
            scope: s.scope.map(str::to_owned),
            expires: s.expires as f64,
            digest: medseal::base64url(s.digest),
        })
        .collect())
}

/// What a grant says, read without a key (not yet verified: see
/// `acceptGrant`).
#[wasm_bindgen(getter_with_clone)]
pub struct GrantInfo {
    /// Grant id, base64url.
    pub id: String,
    /// The grantor's vault id, base64url.
    pub grantor: String,
    /// The grantee's vault id, base64url.
    pub grantee: String,
    /// The record ids of a fixed-records grant.
    pub records: Option<Vec<String>>,
    /// The label of a grant that follows its scope.
    pub label: Option<String>,
    /// When it was made, seconds since the Unix epoch.
    pub created: f64,
    /// When it ends, seconds since the Unix epoch.
    pub expires: f64,
    /// The digest the grantor's manifest lists for it, base64url.
    pub digest: String,
}

fn info(g: &Grant) -> GrantInfo {
    let (records, label) = match &g.scope {
        GrantScope::Records(r) => (Some(r.clone()), None),
        GrantScope::Label(l) => (None, Some(l.clone())),
    };
    GrantInfo {
        id: medseal::base64url(&g.id),
        grantor: medseal::base64url(&g.grantor),
        grantee: medseal::base64url(&g.grantee),
        records,
        label,
        created: g.created as f64,
        expires: g.expires as f64,
        digest: medseal::base64url(&g.digest()),
    }
}

/// Parses grant JSON (structure only; nothing verified).
#[wasm_bindgen(js_name = grantInfo)]
pub fn grant_info(grant_json: &str) -> Result<GrantInfo, JsValue> {
    grant_of(grant_json).map(|g| info(&g))
}

/// A grant this vault accepted: opens the records it gives, with their
/// slots, until it expires. Holds the grant's slot key, never the grantor's
/// vault key.
#[wasm_bindgen]
pub struct GrantHandle {
    inner: ReceivedGrant,
}

#[wasm_bindgen]
impl GrantHandle {
    /// What the grant says (verified).
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> GrantInfo {
        info(self.inner.grant())
    }

    /// Opens a shared record with its slot (`now`: seconds since the Unix
    /// epoch). `GrantExpired`, `NotGranted`, `DecryptionFailed`.
    pub fn open(
        &self,
        slot: &[u8],
        sealed: Vec<u8>,
        text: bool,
        record_id: &str,
        context: &[u8],
        now: f64,
    ) -> Result<Opened, JsValue> {
        let bytes = sealed_of(sealed, text)?;
        let now = seconds(now, "now must be seconds since 1970")?;
        let r = self
            .inner
            .open_record(slot, &bytes, &binding(record_id, context), now)
            .map_err(to_js)?;
        Ok(Opened {
            json: r.content_type == medseal::ContentType::Json,
            version: r.meta.version as f64,
            data: Zeroizing::new(r.data),
        })
    }
}

#[wasm_bindgen]
impl VaultHandle {
    /// Grants records to the vault whose manifest is `grantee_manifest`:
    /// exactly `records`, or every record filed under `label` (one of the
    /// two). Returns the signed grant JSON; the new manifest (listing it) is
    /// `manifestJson()`.
    #[wasm_bindgen(js_name = grant)]
    pub fn grant(
        &mut self,
        grantee_manifest: &str,
        records: Option<Vec<String>>,
        label: Option<String>,
        created: f64,
        expires: f64,
    ) -> Result<String, JsValue> {
        let grantee = manifest_of(grantee_manifest)?;
        let scope = match (records, label) {
            (Some(r), None) => GrantScope::Records(r),
            (None, Some(l)) => GrantScope::Label(l),
            _ => return Err(invalid("a grant gives records or a label (exactly one)")),
        };
        let created = seconds(created, "created must be seconds since 1970")?;
        let expires = seconds(expires, "expires must be seconds since 1970")?;
        let g = self
            .get_mut()?
            .grant(GrantRequest {
                grantee: &grantee,
                scope,
                created,
                expires,
            })
            .map_err(to_js)?;
        self.saw_manifest()?;
        Ok(g.grant.to_json())
    }

    /// A slot of one of this vault's active grants for one of its records
    /// (see `Vault::grant_slot`).
    #[wasm_bindgen(js_name = grantSlot)]
    pub fn grant_slot(
        &mut self,
        grant_json: &str,
        sealed: Vec<u8>,
        text: bool,
        record_id: &str,
        context: &[u8],
        now: f64,
    ) -> Result<Vec<u8>, JsValue> {
        let grant = grant_of(grant_json)?;
        let bytes = sealed_of(sealed, text)?;
        let now = seconds(now, "now must be seconds since 1970")?;
        let ctx = binding(record_id, context);
        let meta = medseal::read_meta(&bytes).map_err(to_js)?;
        self.seen.check_record(&ctx, &meta).map_err(to_js)?;
        self.get_mut()?
            .grant_slot(&grant, &bytes, &ctx, now)
            .map_err(to_js)
    }

    /// Revokes a grant or link (id, base64url); returns the new manifest's
    /// JSON.
    #[wasm_bindgen(js_name = revokeShare)]
    pub fn revoke_share(&mut self, id: &str) -> Result<String, JsValue> {
        let id = medseal::base64url_decode(id).ok_or_else(|| invalid("a grant id is base64url"))?;
        self.get_mut()?.revoke_share(&id).map_err(to_js)?;
        self.saw_manifest()
    }

    /// Verifies and opens a grant addressed to this vault (see
    /// `Vault::accept_grant`; pin the grantor with `checkPin` first).
    #[wasm_bindgen(js_name = acceptGrant)]
    pub fn accept_grant(
        &self,
        grant_json: &str,
        grantor_manifest: &str,
        now: f64,
    ) -> Result<GrantHandle, JsValue> {
        let grant = grant_of(grant_json)?;
        let grantor = manifest_of(grantor_manifest)?;
        let now = seconds(now, "now must be seconds since 1970")?;
        let inner = self
            .get()?
            .accept_grant(grant, &grantor, now)
            .map_err(to_js)?;
        Ok(GrantHandle { inner })
    }
}
