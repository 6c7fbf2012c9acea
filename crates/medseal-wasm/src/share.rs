//! Sharing: grants to another vault, fingerprints and pins (the core's
//! `medseal::share`). Times cross as seconds since the Unix epoch (JS
//! numbers); grant and pin documents as JSON text; slots as bytes.

use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use medseal::{Fingerprint, Grant, GrantRequest, GrantScope, Pin, ReceivedGrant};

use crate::{binding, invalid, manifest_of, sealed_of, to_js, Opened, VaultHandle};

/// Seconds since the Unix epoch from JS: a whole number from 0 to 2^53 - 1.
pub(crate) fn seconds(v: f64, what: &'static str) -> Result<u64, JsValue> {
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
    /// The grantor's key epoch that signed it (a grant signed before the
    /// grantor's latest re-key is one to re-issue).
    #[wasm_bindgen(js_name = grantorEpoch)]
    pub grantor_epoch: u32,
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
        grantor_epoch: g.grantor_epoch,
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
    pub(crate) inner: ReceivedGrant,
}

#[wasm_bindgen]
impl GrantHandle {
    /// What the grant says (verified).
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> GrantInfo {
        info(self.inner.grant())
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
        // A large file's header (FORMAT.md §17.5) or a sealed record.
        let meta = if bytes.starts_with(&medseal::stream::MAGIC) {
            medseal::stream::read_header(&bytes)
                .map_err(to_js)?
                .as_record_meta()
        } else {
            medseal::read_meta(&bytes).map_err(to_js)?
        };
        self.seen.check_record(&ctx, &meta).map_err(to_js)?;
        self.get_mut()?
            .grant_slot(&grant, &bytes, &ctx, now)
            .map_err(to_js)
    }

    /// Re-issues one of this vault's grants under a new key, listed in place
    /// of the old (see `Vault::reissue_grant`); returns the new grant's JSON
    /// (the new manifest is `manifestJson()`).
    #[wasm_bindgen(js_name = reissueGrant)]
    pub fn reissue_grant(
        &mut self,
        grant_json: &str,
        grantee_manifest: &str,
        now: f64,
    ) -> Result<String, JsValue> {
        let old = grant_of(grant_json)?;
        let grantee = manifest_of(grantee_manifest)?;
        let now = seconds(now, "now must be seconds since 1970")?;
        let g = self
            .get_mut()?
            .reissue_grant(&old, &grantee, now)
            .map_err(to_js)?;
        self.saw_manifest()?;
        Ok(g.grant.to_json())
    }

    /// Revokes a grant or link (id, base64url); returns the new manifest's
    /// JSON.
    #[wasm_bindgen(js_name = revokeShare)]
    pub fn revoke_share(&mut self, id: &str) -> Result<String, JsValue> {
        let id = medseal::base64url_decode(id).ok_or_else(|| invalid("a grant id is base64url"))?;
        self.get_mut()?.revoke_share(&id).map_err(to_js)?;
        self.saw_manifest()
    }

    /// Opens one record shared under `grant` with its slot, and checks it
    /// against what this device saw of that grantor's record (a server that
    /// serves an older version after a newer one was opened here is
    /// `StaleRecord`; a deleted one `RecordDeleted`), as `open` does for the
    /// vault's own records. Shared records are remembered apart from the
    /// vault's own (keyed by the grantor's vault id too).
    #[wasm_bindgen(js_name = openShared)]
    #[allow(clippy::too_many_arguments)]
    pub fn open_shared(
        &mut self,
        grant: &GrantHandle,
        slot: &[u8],
        sealed: Vec<u8>,
        text: bool,
        record_id: &str,
        context: &[u8],
        now: f64,
    ) -> Result<Opened, JsValue> {
        let bytes = sealed_of(sealed, text)?;
        let now = seconds(now, "now must be seconds since 1970")?;
        let ctx = binding(record_id, context);
        let mut remembered = b"medseal/shared/".to_vec();
        remembered.extend_from_slice(&grant.inner.grant().grantor);
        remembered.extend_from_slice(context);
        let seen_ctx = binding(record_id, &remembered);
        let meta = medseal::read_meta(&bytes).map_err(to_js)?;
        self.seen.check_record(&seen_ctx, &meta).map_err(to_js)?;
        match grant.inner.open_record(slot, &bytes, &ctx, now) {
            Ok(r) => {
                // The grantor's epochs are not this vault's: every version raises.
                self.seen_changed |= self
                    .seen
                    .saw_opened(&seen_ctx, &r.meta, r.meta.epoch, false);
                Ok(Opened {
                    json: r.content_type == medseal::ContentType::Json,
                    version: r.meta.version as f64,
                    data: Zeroizing::new(r.data),
                })
            }
            Err(e @ medseal::Error::RecordDeleted { .. }) => {
                self.seen_changed |= self.seen.saw_opened(&seen_ctx, &meta, meta.epoch, true);
                Err(to_js(e))
            }
            Err(e) => Err(to_js(e)),
        }
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

/// A SMART Health Link just made (see `Vault::create_link`).
#[wasm_bindgen(getter_with_clone)]
pub struct NewLinkInfo {
    /// The id of its manifest entry, base64url (what `revokeShare` takes).
    #[wasm_bindgen(js_name = shareId)]
    pub share_id: String,
    /// The link id: the last part of its manifest URL.
    #[wasm_bindgen(js_name = linkId)]
    pub link_id: String,
    /// `"P"` with a passcode, else `""`.
    pub flag: String,
    /// The `shlink:/…` text, holding the key: show it, never send it.
    pub shlink: String,
}

/// A link's file opened by its receiver: take the data once with
/// `intoText` or `intoBytes` (wiped from wasm memory when taken).
#[wasm_bindgen]
pub struct OpenedLinkFile {
    content_type: Option<String>,
    data: Zeroizing<Vec<u8>>,
}

#[wasm_bindgen]
impl OpenedLinkFile {
    /// The JWE's content type (`cty`).
    #[wasm_bindgen(getter, js_name = contentType)]
    pub fn content_type(&self) -> Option<String> {
        self.content_type.clone()
    }

    /// The file as UTF-8 text (a FHIR Bundle's JSON).
    #[wasm_bindgen(js_name = intoText)]
    pub fn into_text(self) -> Result<js_sys::JsString, JsValue> {
        core::str::from_utf8(&self.data)
            .map(js_sys::JsString::from)
            .map_err(|_| to_js(medseal::Error::Malformed("the file is not UTF-8 text")))
    }

    /// The file's bytes.
    #[wasm_bindgen(js_name = intoBytes)]
    pub fn into_bytes(self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(&self.data[..])
    }
}

/// Opens a link's file (JWE) with the key of its `shlink:/` text (or a
/// viewer URL with `#shlink:/…`). No vault needed.
#[wasm_bindgen(js_name = openLinkFile)]
pub fn open_link_file(shlink: &str, jwe: &str) -> Result<OpenedLinkFile, JsValue> {
    let f = medseal::link::open_link_file(shlink, jwe).map_err(to_js)?;
    Ok(OpenedLinkFile {
        content_type: f.content_type.clone(),
        data: f.data,
    })
}

/// What a `shlink:/` text says, without its key.
#[wasm_bindgen(getter_with_clone)]
pub struct ShlinkInfo {
    /// The manifest URL (or the file's, with flag U).
    pub url: String,
    /// Expiry, seconds since 1970.
    pub exp: Option<f64>,
    /// Flags (`L`, `P`, `U`).
    pub flag: String,
    /// The label.
    pub label: Option<String>,
}

/// Parses a `shlink:/` text (or a viewer URL with `#shlink:/…`).
#[wasm_bindgen(js_name = parseShlink)]
pub fn parse_shlink(text: &str) -> Result<ShlinkInfo, JsValue> {
    let p = medseal::shl::parse_shlink(text).map_err(to_js)?;
    Ok(ShlinkInfo {
        url: p.url.clone(),
        exp: p.exp.map(|e| e as f64),
        flag: p.flag.clone(),
        label: p.label.clone(),
    })
}

/// A link's digest as the owner's manifest lists it (for servers).
#[wasm_bindgen(js_name = linkDigest)]
pub fn link_digest(
    link_id: &str,
    expires: f64,
    flag: &str,
    label: Option<String>,
) -> Result<String, JsValue> {
    let expires = seconds(expires, "expires must be seconds since 1970")?;
    Ok(medseal::base64url(&medseal::link::link_digest(
        link_id,
        expires,
        flag,
        label.as_deref(),
    )))
}

#[wasm_bindgen]
impl VaultHandle {
    /// Makes a SMART Health Link (see `Vault::create_link`); the new
    /// manifest is `manifestJson()`.
    #[wasm_bindgen(js_name = createLink)]
    pub fn create_link(
        &mut self,
        base_url: &str,
        label: Option<String>,
        expires: f64,
        passcode: bool,
    ) -> Result<NewLinkInfo, JsValue> {
        let expires = seconds(expires, "expires must be seconds since 1970")?;
        let l = self
            .get_mut()?
            .create_link(medseal::link::LinkRequest {
                base_url,
                label,
                expires,
                passcode,
            })
            .map_err(to_js)?;
        self.saw_manifest()?;
        Ok(NewLinkInfo {
            share_id: medseal::base64url(&l.share_id),
            link_id: l.link_id,
            flag: l.flag,
            shlink: l.shlink,
        })
    }

    /// The `shlink:/` text of an active link again (see `Vault::link_payload`).
    #[wasm_bindgen(js_name = linkPayload)]
    pub fn link_payload(
        &self,
        share_id: &str,
        base_url: &str,
        label: Option<String>,
        passcode: bool,
    ) -> Result<String, JsValue> {
        let id =
            medseal::base64url_decode(share_id).ok_or_else(|| invalid("shareId is base64url"))?;
        self.get()?
            .link_payload(&id, base_url, label.as_deref(), passcode)
            .map_err(to_js)
    }

    /// Encrypts one file of an active link as a JWE (see `Vault::seal_link_file`);
    /// `data` is wiped from wasm memory.
    #[wasm_bindgen(js_name = sealLinkFile)]
    pub fn seal_link_file(
        &mut self,
        share_id: &str,
        content_type: &str,
        data: Vec<u8>,
        now: f64,
    ) -> Result<String, JsValue> {
        let data = Zeroizing::new(data);
        let id =
            medseal::base64url_decode(share_id).ok_or_else(|| invalid("shareId is base64url"))?;
        let now = seconds(now, "now must be seconds since 1970")?;
        self.get_mut()?
            .seal_link_file(&id, content_type, &data, now)
            .map_err(to_js)
    }
}
