//! The WebAssembly surface of medseal: a thin `#[wasm_bindgen]` layer over
//! the core (`medseal`, plain Rust).
//!
//! Every signature is typed (`&[u8]`, `&str`, `Option<…>`, exported structs),
//! so wasm-bindgen's JS glue converts every argument before the Rust code
//! runs and before `self` is borrowed: no caller value is read while a
//! handle is borrowed, and a value that cannot be converted (a revoked
//! Proxy, a getter that throws) fails in the glue, leaving the handle usable.
//! Values are checked here, once; the JS layer (`js/`) only chooses which
//! call to make and turns results into JS values.
//!
//! JavaScript holds opaque handles ([`VaultHandle`], [`HandoffReceiver`]);
//! the vault key, key-encryption keys and the identity private key stay in
//! this instance. A record's body key leaves only through [`LargeSealJob`]
//! and [`LargeOpenJob`] (the core's `hazmat`). Errors reach JS as `Error`
//! objects whose `code` is one of [`error_codes`].

use wasm_bindgen::prelude::*;
use zeroize::{Zeroize, Zeroizing};

pub mod card;
pub mod destroy;
pub mod export;
pub mod log;
pub mod notice;
pub mod posture;
pub mod share;
pub mod stream;

use medseal::hazmat;
use medseal::record::{self, ContentType, RecordContext};
use medseal::{Error, Manifest, PasskeyUnlock, PrfOutput, RecoveryCode, Seen, Vault};

/// The code of the error thrown when a locked vault is used (the core has no
/// notion of locking: a locked handle holds no vault).
const LOCKED: &str = "Locked";

/// Builds the JS error: an `Error` named `MedsealError` with a `code`.
fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name("MedsealError");
    // Setting a property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}

fn to_js(e: Error) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn invalid(what: &'static str) -> JsValue {
    to_js(Error::InvalidArgument(what))
}

fn locked() -> JsValue {
    js_error(LOCKED, "the vault is locked: unlock it again to use it")
}

/// Every code an error thrown by this module can carry: the core's codes and
/// `Locked`. The JS layer's `ErrorCode` is checked against this list by a test.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> Vec<String> {
    Error::CODES
        .iter()
        .copied()
        .chain([LOCKED])
        .map(String::from)
        .collect()
}

/// A revision number from JS (a double): a non-negative integer up to 2^53 - 1.
fn revision_of(v: Option<f64>) -> Result<u64, JsValue> {
    match v {
        None => Ok(0),
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(n as u64),
        Some(_) => Err(invalid("minRevision must be a non-negative integer")),
    }
}

/// A record version from JS (a double): an integer from 1 to 2^53 - 1.
fn version_of(v: Option<f64>) -> Result<u64, JsValue> {
    match v {
        None => Ok(1),
        Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(n as u64),
        Some(_) => Err(invalid("version must be an integer from 1 to 2^53 - 1")),
    }
}

/// A manifest history from JS: manifest JSON texts, oldest first.
fn history_of(history: Vec<String>) -> Result<Vec<Manifest>, JsValue> {
    if history.len() > 1000 {
        return Err(invalid("a manifest history has at most 1000 manifests"));
    }
    history.iter().map(|j| manifest_of(j)).collect()
}

/// A device's seen state from JS (`None`: nothing seen yet).
fn seen_of(json: Option<String>) -> Result<Seen, JsValue> {
    json.map_or(Ok(Seen::new()), |j| Seen::from_json(&j).map_err(to_js))
}

/// A byte count from JS (a double): a whole number that fits wasm's memory.
fn byte_count(v: f64, what: &'static str) -> Result<usize, JsValue> {
    if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
        Ok(v as usize)
    } else {
        Err(invalid(what))
    }
}

/// A PRF output; the caller's buffer is wiped (wasm-bindgen copies a
/// `&mut [u8]` back into the JS array after the call).
fn prf_of(bytes: &mut [u8]) -> Result<PrfOutput, JsValue> {
    let r = PrfOutput::new(bytes).map_err(to_js);
    bytes.zeroize();
    r
}

fn manifest_of(json: &str) -> Result<Manifest, JsValue> {
    Manifest::from_json(json).map_err(to_js)
}

/// A sealed record from JS: its bytes, or the UTF-8 of its text form
/// (`ms1.…`) when `text` (the JS layer encodes strings with `TextEncoder`,
/// many times faster than wasm-bindgen's per-character string copy).
fn sealed_of(sealed: Vec<u8>, text: bool) -> Result<Vec<u8>, JsValue> {
    if text {
        record::from_text_bytes(&sealed).map_err(to_js)
    } else {
        Ok(sealed)
    }
}

/// What a record is bound to: its id and the caller's context.
fn binding<'a>(record_id: &'a str, context: &'a [u8]) -> RecordContext<'a> {
    RecordContext::with_context(record_id.as_bytes(), context)
}

fn content_type(json: bool) -> ContentType {
    if json {
        ContentType::Json
    } else {
        ContentType::Bytes
    }
}

/// A fresh random PRF salt (32 bytes) for a new passkey.
#[wasm_bindgen(js_name = newPrfSalt)]
pub fn new_prf_salt() -> Result<Vec<u8>, JsValue> {
    medseal::new_prf_salt().map(|s| s.to_vec()).map_err(to_js)
}

/// The WebAuthn `prf.eval.first` input for a salt.
#[wasm_bindgen(js_name = prfInput)]
pub fn prf_input(salt: &[u8]) -> Vec<u8> {
    medseal::prf_input(salt)
}

/// The text form (`ms1.` + base64url) of a sealed record's bytes.
#[wasm_bindgen(js_name = toText)]
pub fn to_text(sealed: &[u8]) -> String {
    record::to_text(sealed)
}

/// The bytes of a sealed record's text form, given as its UTF-8 bytes.
#[wasm_bindgen(js_name = fromText)]
pub fn from_text(text: &[u8]) -> Result<Vec<u8>, JsValue> {
    record::from_text_bytes(text).map_err(to_js)
}

/// The largest sealed record (bytes form) the format allows: the JS layer
/// refuses larger input before copying it into wasm.
#[wasm_bindgen(js_name = maxSealedLength)]
pub fn max_sealed_length() -> u32 {
    u32::try_from(record::MAX_SEALED_LEN).unwrap_or(u32::MAX)
}

/// The largest plaintext the format allows.
#[wasm_bindgen(js_name = maxPlaintextLength)]
pub fn max_plaintext_length() -> u32 {
    u32::try_from(record::MAX_PLAINTEXT_LEN).unwrap_or(u32::MAX)
}

/// How many of a sealed record's first bytes [`VaultHandle::open_large`] reads.
#[wasm_bindgen(js_name = largeHeadLength)]
pub fn large_head_length() -> u32 {
    hazmat::HEAD_LEN as u32
}

/// One passkey of a manifest: what a WebAuthn `get()` needs to ask it for
/// its PRF output (public data).
#[wasm_bindgen(getter_with_clone)]
pub struct PasskeyRequest {
    /// The manifest's entry id for this passkey.
    #[wasm_bindgen(js_name = entryId)]
    pub entry_id: String,
    /// The WebAuthn credential id (raw bytes).
    #[wasm_bindgen(js_name = credentialId)]
    pub credential_id: Vec<u8>,
    /// The PRF input to evaluate (`prf.eval.first`).
    #[wasm_bindgen(js_name = prfInput)]
    pub prf_input: Vec<u8>,
    /// The passkey's label, if it has one.
    pub label: Option<String>,
}

/// The passkeys of a manifest (given as its JSON text), each with its PRF input.
#[wasm_bindgen(js_name = passkeyRequests)]
pub fn passkey_requests(manifest_json: &str) -> Result<Vec<PasskeyRequest>, JsValue> {
    let m = manifest_of(manifest_json)?;
    Ok(m.passkeys()
        .map(|p| PasskeyRequest {
            entry_id: p.entry_id.to_owned(),
            credential_id: p.credential_id.to_vec(),
            prf_input: medseal::prf_input(p.prf_salt),
            label: p.label.map(str::to_owned),
        })
        .collect())
}

/// A record opened in wasm: read `json`, then take the content once with
/// `intoText` (JSON) or `intoBytes`. The plaintext is wiped from wasm memory
/// when taken.
#[wasm_bindgen]
pub struct Opened {
    /// Whether the record is JSON text (else bytes).
    pub json: bool,
    /// The record's version (1 unless it was edited).
    pub version: f64,
    data: Zeroizing<Vec<u8>>,
}

#[wasm_bindgen]
impl Opened {
    /// The JSON text of a JSON record.
    #[wasm_bindgen(js_name = intoText)]
    pub fn into_text(self) -> Result<js_sys::JsString, JsValue> {
        // Decoded by JS straight from this buffer, which is wiped on drop: a
        // `String` return would leave a freed, unwiped copy in wasm memory.
        core::str::from_utf8(&self.data)
            .map(js_sys::JsString::from)
            .map_err(|_| to_js(Error::Malformed("JSON record is not UTF-8")))
    }

    /// The bytes of the record (copied straight into a JS array).
    #[wasm_bindgen(js_name = intoBytes)]
    pub fn into_bytes(self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(&self.data[..])
    }
}

/// The receiving end of a vault hand-off: a one-time key pair whose private
/// half never leaves this instance. `accept` consumes it.
#[wasm_bindgen]
pub struct HandoffReceiver {
    receiver: Option<medseal::HandoffReceiver>,
}

#[wasm_bindgen]
impl HandoffReceiver {
    /// A fresh one-time receiver.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<HandoffReceiver, JsValue> {
        Ok(HandoffReceiver {
            receiver: Some(medseal::HandoffReceiver::new().map_err(to_js)?),
        })
    }

    /// The public key to give the sender (33 bytes); `undefined` once used.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Option<Vec<u8>> {
        self.receiver.as_ref().map(|r| r.public_key().to_vec())
    }

    /// Opens a hand-off message, once (the receiver is used up even if this
    /// fails). `expected` (a manifest's JSON) pins the vault: its vault id
    /// and identity key; `minRevision` refuses an older manifest.
    pub fn accept(
        &mut self,
        message: &[u8],
        expected: Option<String>,
        min_revision: Option<f64>,
    ) -> Result<VaultHandle, JsValue> {
        let r = self.receiver.take().ok_or_else(|| {
            invalid("this HandoffReceiver was already used: make a new one per hand-off")
        })?;
        let pin = expected.as_deref().map(manifest_of).transpose()?;
        let min = revision_of(min_revision)?;
        let v = r.accept(message, pin.as_ref(), min).map_err(to_js)?;
        Ok(VaultHandle::wrap(v, Seen::new()))
    }

    /// Destroys the private key without using it.
    pub fn discard(&mut self) {
        self.receiver = None;
    }
}

/// A passkey to add to a vault (or to create one with): its credential id,
/// the PRF salt it was asked with, and its PRF output for
/// `prfInput(prfSalt)`, checked and held here. The caller's `prfOutput`
/// buffer is wiped by the constructor.
#[wasm_bindgen]
pub struct NewPasskey(PasskeyUnlock);

#[wasm_bindgen]
impl NewPasskey {
    /// Checks and takes a passkey's PRF data; `label` names it in the
    /// manifest. The PRF output comes last: the glue converts arguments in
    /// order, so nothing converted after it can fail with it copied in.
    #[wasm_bindgen(constructor)]
    pub fn new(
        credential_id: &[u8],
        prf_salt: &[u8],
        label: Option<String>,
        prf_output: &mut [u8],
    ) -> Result<NewPasskey, JsValue> {
        let prf_output = prf_of(prf_output)?;
        let prf_salt: [u8; 32] = prf_salt
            .try_into()
            .map_err(|_| invalid("prfSalt must be 32 bytes (from newPrfSalt)"))?;
        Ok(NewPasskey(PasskeyUnlock {
            credential_id: credential_id.to_vec(),
            prf_salt,
            prf_output,
            label,
        }))
    }
}

/// A vault just created, with its recovery code: read `recoveryCode` (to
/// show once), then take the vault with `intoVault`.
#[wasm_bindgen]
pub struct NewVault {
    vault: Vault,
    recovery_code: RecoveryCode,
}

#[wasm_bindgen]
impl NewVault {
    /// The recovery code, formatted for the user to write down.
    #[wasm_bindgen(getter, js_name = recoveryCode)]
    pub fn recovery_code(&self) -> String {
        self.recovery_code.to_display_string()
    }

    /// The vault (this object is used up).
    #[wasm_bindgen(js_name = intoVault)]
    pub fn into_vault(self) -> VaultHandle {
        VaultHandle::wrap(self.vault, Seen::new())
    }
}

/// A large record prepared for WebCrypto (see the core's `hazmat`): import
/// `takeKey()` as a non-extractable AES-GCM key, encrypt
/// `bodyHead || plaintext || bodyTail` with `iv` and `aad`, and the sealed
/// record is `prefix || ciphertext`.
#[wasm_bindgen]
pub struct LargeSealJob {
    job: Option<hazmat::LargeSeal>,
    iv: Vec<u8>,
    aad: Vec<u8>,
    prefix: Vec<u8>,
    body_head: Vec<u8>,
    body_tail: Vec<u8>,
}

#[wasm_bindgen]
impl LargeSealJob {
    /// This record's body key, once (then `undefined`; the copy here is wiped).
    #[wasm_bindgen(js_name = takeKey)]
    pub fn take_key(&mut self) -> Option<js_sys::Uint8Array> {
        // Straight into a JS array: no copy of the key left in wasm's heap.
        self.job
            .take()
            .map(|j| js_sys::Uint8Array::from(&j.cipher().key()[..]))
    }
    /// The AES-GCM nonce.
    #[wasm_bindgen(getter)]
    pub fn iv(&self) -> Vec<u8> {
        self.iv.clone()
    }
    /// The AES-GCM associated data.
    #[wasm_bindgen(getter)]
    pub fn aad(&self) -> Vec<u8> {
        self.aad.clone()
    }
    /// The sealed record's first bytes.
    #[wasm_bindgen(getter)]
    pub fn prefix(&self) -> Vec<u8> {
        self.prefix.clone()
    }
    /// What goes before the plaintext in the body.
    #[wasm_bindgen(getter, js_name = bodyHead)]
    pub fn body_head(&self) -> Vec<u8> {
        self.body_head.clone()
    }
    /// What goes after the plaintext in the body.
    #[wasm_bindgen(getter, js_name = bodyTail)]
    pub fn body_tail(&self) -> Vec<u8> {
        self.body_tail.clone()
    }
}

/// Where a large record's plaintext lies in its decrypted body.
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct PlaintextRange {
    /// Whether the record is JSON text (else bytes).
    pub json: bool,
    /// First byte of the plaintext in the body.
    pub start: u32,
    /// One past its last byte.
    pub end: u32,
}

/// A large record checked up to its body (data key unwrapped, commitment
/// verified), for WebCrypto: import `takeKey()` as non-extractable, decrypt
/// the sealed bytes from `bodyStart` with `iv` and `aad`, then ask
/// `plaintext(...)` where the plaintext is.
#[wasm_bindgen]
pub struct LargeOpenJob {
    job: hazmat::LargeOpen,
    key_taken: bool,
}

#[wasm_bindgen]
impl LargeOpenJob {
    /// This record's body key, once (then `undefined`).
    #[wasm_bindgen(js_name = takeKey)]
    pub fn take_key(&mut self) -> Option<js_sys::Uint8Array> {
        if self.key_taken {
            return None;
        }
        self.key_taken = true;
        Some(js_sys::Uint8Array::from(&self.job.cipher().key()[..]))
    }
    /// The AES-GCM nonce.
    #[wasm_bindgen(getter)]
    pub fn iv(&self) -> Vec<u8> {
        self.job.cipher().nonce().to_vec()
    }
    /// The AES-GCM associated data.
    #[wasm_bindgen(getter)]
    pub fn aad(&self) -> Vec<u8> {
        self.job.cipher().aad().to_vec()
    }
    /// Where the body (ciphertext and tag) starts in the sealed record.
    #[wasm_bindgen(getter, js_name = bodyStart)]
    pub fn body_start(&self) -> u32 {
        self.job.body_start() as u32
    }
    /// Where the part of a decrypted body of `padded_len` bytes that
    /// `plaintext` needs starts.
    #[wasm_bindgen(js_name = tailStart)]
    pub fn tail_start(&self, padded_len: u32) -> u32 {
        self.job.tail_start(padded_len as usize) as u32
    }
    /// Checks the decrypted body from its first byte and its bytes from
    /// `tailStart(paddedLen)` on; returns where the plaintext is.
    pub fn plaintext(
        &self,
        first: u8,
        padded_len: u32,
        tail: &[u8],
    ) -> Result<PlaintextRange, JsValue> {
        let tail = Zeroizing::new(tail.to_vec());
        let (ct, range) = self
            .job
            .plaintext(first, padded_len as usize, &tail)
            .map_err(to_js)?;
        Ok(PlaintextRange {
            json: ct == ContentType::Json,
            start: range.start as u32,
            end: range.end as u32,
        })
    }
}

/// A sealed record's header, read without a key (see `recordInfo`).
#[wasm_bindgen]
#[derive(Clone, Copy)]
pub struct RecordInfo {
    /// The format version (1 or 2).
    pub format: u8,
    /// The key epoch that wraps its data key.
    pub epoch: u32,
    /// The record's version.
    pub version: f64,
}

/// Reads a sealed record's format, key epoch and version without a key
/// (bytes, or the UTF-8 of its text form when `text`). Authenticated only
/// when the record opens.
#[wasm_bindgen(js_name = recordInfo)]
pub fn record_info(sealed: Vec<u8>, text: bool) -> Result<RecordInfo, JsValue> {
    let bytes = sealed_of(sealed, text)?;
    let m = medseal::read_meta(&bytes).map_err(to_js)?;
    Ok(RecordInfo {
        format: m.format,
        epoch: m.epoch,
        version: m.version as f64,
    })
}

/// An unlocked vault, held inside the wasm instance, with what this device
/// has seen of it (rollback and fork detection; the JS layer persists it
/// when `takeSeenChanged()` says so). `lock()` wipes the vault.
#[wasm_bindgen]
pub struct VaultHandle {
    vault: Option<Vault>,
    seen: Seen,
    seen_changed: bool,
}

impl VaultHandle {
    fn wrap(vault: Vault, mut seen: Seen) -> VaultHandle {
        let seen_changed = seen.saw_vault(&vault);
        VaultHandle {
            vault: Some(vault),
            seen,
            seen_changed,
        }
    }

    /// After a change to the manifest: remember it as seen, return its JSON.
    fn saw_manifest(&mut self) -> Result<String, JsValue> {
        let vault = self.vault.as_ref().ok_or_else(locked)?;
        self.seen_changed |= self.seen.saw_vault(vault);
        Ok(vault.manifest().to_json())
    }

    fn saw_record(&mut self, ctx: &RecordContext<'_>, version: u64, deleted: bool) {
        self.seen_changed |= self.seen.saw_record(ctx, version, deleted);
    }

    fn get(&self) -> Result<&Vault, JsValue> {
        self.vault.as_ref().ok_or_else(locked)
    }

    fn get_mut(&mut self) -> Result<&mut Vault, JsValue> {
        self.vault.as_mut().ok_or_else(locked)
    }
}

#[wasm_bindgen]
impl VaultHandle {
    /// Creates a vault whose first passkey is `passkey` (used up).
    pub fn create(passkey: NewPasskey) -> Result<NewVault, JsValue> {
        let (vault, recovery_code) = Vault::create(passkey.0).map_err(to_js)?;
        Ok(NewVault {
            vault,
            recovery_code,
        })
    }

    /// Unlocks with a passkey's PRF output (the caller's buffer is wiped).
    /// `seen`: what this device saw of the vault before (`seenState()` of
    /// an earlier session), against which `manifest` is checked through
    /// `history` (the manifests after the one seen, oldest first).
    #[wasm_bindgen(js_name = unlockWithPrf)]
    pub fn unlock_with_prf(
        manifest_json: &str,
        history: Vec<String>,
        seen: Option<String>,
        credential_id: &[u8],
        prf_output: &mut [u8],
        min_revision: Option<f64>,
    ) -> Result<VaultHandle, JsValue> {
        let prf = prf_of(prf_output)?;
        let m = manifest_of(manifest_json)?;
        let seen = seen_of(seen)?;
        seen.check(&m, &history_of(history)?).map_err(to_js)?;
        let v = Vault::unlock_with_prf_seen(
            &m,
            credential_id,
            prf,
            revision_of(min_revision)?,
            Some(&seen),
        )
        .map_err(to_js)?;
        Ok(VaultHandle::wrap(v, seen))
    }

    /// Unlocks with the recovery code as the user typed it (`history` and
    /// `seen` as for `unlockWithPrf`).
    #[wasm_bindgen(js_name = unlockWithRecoveryCode)]
    pub fn unlock_with_recovery_code(
        manifest_json: &str,
        history: Vec<String>,
        seen: Option<String>,
        code: &str,
        min_revision: Option<f64>,
    ) -> Result<VaultHandle, JsValue> {
        let m = manifest_of(manifest_json)?;
        let code = RecoveryCode::parse(code).map_err(to_js)?;
        let seen = seen_of(seen)?;
        seen.check(&m, &history_of(history)?).map_err(to_js)?;
        let v = Vault::unlock_with_recovery_code_seen(
            &m,
            &code,
            revision_of(min_revision)?,
            Some(&seen),
        )
        .map_err(to_js)?;
        Ok(VaultHandle::wrap(v, seen))
    }

    /// What this device has seen of the vault, as JSON to persist.
    #[wasm_bindgen(js_name = seenState)]
    pub fn seen_state(&self) -> Option<String> {
        self.seen.to_json()
    }

    /// Whether the seen state changed since the last call (then persist it).
    #[wasm_bindgen(js_name = takeSeenChanged)]
    pub fn take_seen_changed(&mut self) -> bool {
        core::mem::take(&mut self.seen_changed)
    }

    /// The current signed manifest as JSON text.
    #[wasm_bindgen(js_name = manifestJson)]
    pub fn manifest_json(&self) -> Result<String, JsValue> {
        Ok(self.get()?.manifest().to_json())
    }

    /// The vault id, base64url.
    #[wasm_bindgen(js_name = vaultId)]
    pub fn vault_id(&self) -> Result<String, JsValue> {
        Ok(medseal::base64url(self.get()?.vault_id()))
    }

    /// Seals a payload (JSON text's UTF-8 when `json`, else bytes) to the
    /// bytes form. The payload's copy in wasm memory is wiped.
    #[wasm_bindgen(js_name = sealBytes)]
    pub fn seal_bytes(
        &mut self,
        payload: Vec<u8>,
        json: bool,
        record_id: &str,
        context: &[u8],
        version: Option<f64>,
    ) -> Result<Vec<u8>, JsValue> {
        let payload = Zeroizing::new(payload);
        let version = version_of(version)?;
        if json && core::str::from_utf8(&payload).is_err() {
            return Err(invalid("a JSON record must be UTF-8"));
        }
        let ctx = binding(record_id, context);
        let sealed = self
            .get_mut()?
            .seal_version(content_type(json), &payload, &ctx, version)
            .map_err(to_js)?;
        self.saw_record(&ctx, version, false);
        Ok(sealed)
    }

    /// Seals a tombstone, version `version` of the record: store it in the
    /// record's place (see `Vault::seal_tombstone`).
    #[wasm_bindgen(js_name = sealTombstone)]
    pub fn seal_tombstone(
        &mut self,
        record_id: &str,
        context: &[u8],
        version: f64,
    ) -> Result<Vec<u8>, JsValue> {
        let version = version_of(Some(version))?;
        let ctx = binding(record_id, context);
        let sealed = self
            .get_mut()?
            .seal_tombstone(&ctx, version)
            .map_err(to_js)?;
        self.saw_record(&ctx, version, true);
        Ok(sealed)
    }

    /// Re-wraps a record under the current key epoch; `undefined` when it
    /// already is (see `Vault::rewrap`). Returns the bytes form.
    pub fn rewrap(
        &mut self,
        sealed: Vec<u8>,
        text: bool,
        record_id: &str,
        context: &[u8],
    ) -> Result<Option<Vec<u8>>, JsValue> {
        let bytes = sealed_of(sealed, text)?;
        let ctx = binding(record_id, context);
        let meta = medseal::read_meta(&bytes).map_err(to_js)?;
        self.seen.check_rewrap(&ctx, &meta).map_err(to_js)?;
        self.get_mut()?.rewrap(&bytes, &ctx).map_err(to_js)
    }

    /// [`VaultHandle::seal_bytes`] to the text form (`ms2.…`).
    #[wasm_bindgen(js_name = sealText)]
    pub fn seal_text(
        &mut self,
        payload: Vec<u8>,
        json: bool,
        record_id: &str,
        context: &[u8],
        version: Option<f64>,
    ) -> Result<String, JsValue> {
        self.seal_bytes(payload, json, record_id, context, version)
            .map(|b| record::to_text(&b))
    }

    /// Opens a sealed record: its bytes, or the UTF-8 of its text form when
    /// `text`. An older version than one this device saw is `StaleRecord`;
    /// a deleted one `RecordDeleted`.
    pub fn open(
        &mut self,
        sealed: Vec<u8>,
        text: bool,
        record_id: &str,
        context: &[u8],
    ) -> Result<Opened, JsValue> {
        let bytes = sealed_of(sealed, text)?;
        let ctx = binding(record_id, context);
        let vault = self.vault.as_ref().ok_or_else(locked)?;
        let meta = medseal::read_meta(&bytes).map_err(to_js)?;
        self.seen.check_record(&ctx, &meta).map_err(to_js)?;
        let current = vault.manifest().epoch();
        match vault.open_record(&bytes, &ctx) {
            Ok(r) => {
                self.seen_changed |= self.seen.saw_opened(&ctx, &r.meta, current, false);
                Ok(Opened {
                    json: r.content_type == ContentType::Json,
                    version: r.meta.version as f64,
                    data: Zeroizing::new(r.data),
                })
            }
            Err(e @ Error::RecordDeleted { .. }) => {
                // Authenticated: the tombstone opened.
                self.seen_changed |= self.seen.saw_opened(&ctx, &meta, current, true);
                Err(to_js(e))
            }
            Err(e) => Err(to_js(e)),
        }
    }

    /// Prepares a large record of `length` bytes for WebCrypto: the
    /// plaintext never enters wasm (see [`LargeSealJob`]).
    #[wasm_bindgen(js_name = sealLarge)]
    pub fn seal_large(
        &mut self,
        json: bool,
        length: f64,
        record_id: &str,
        context: &[u8],
        version: Option<f64>,
    ) -> Result<LargeSealJob, JsValue> {
        let length = byte_count(length, "length must be a byte count")?;
        let version = version_of(version)?;
        let ctx = binding(record_id, context);
        let job =
            hazmat::seal_large_version(self.get_mut()?, content_type(json), length, &ctx, version)
                .map_err(to_js)?;
        self.saw_record(&ctx, version, false);
        Ok(LargeSealJob {
            iv: job.cipher().nonce().to_vec(),
            aad: job.cipher().aad().to_vec(),
            prefix: job.prefix().to_vec(),
            body_head: job.body_head().to_vec(),
            body_tail: job.body_tail().to_vec(),
            job: Some(job),
        })
    }

    /// Checks a large sealed record of `sealed_len` bytes up to its body from
    /// its first `largeHeadLength()` bytes (see [`LargeOpenJob`]).
    #[wasm_bindgen(js_name = openLarge)]
    pub fn open_large(
        &mut self,
        head: &[u8],
        sealed_len: f64,
        record_id: &str,
        context: &[u8],
    ) -> Result<LargeOpenJob, JsValue> {
        let sealed_len = byte_count(sealed_len, "sealedLength must be a byte count")?;
        let ctx = binding(record_id, context);
        let meta = medseal::read_meta(head).map_err(to_js)?;
        self.seen.check_record(&ctx, &meta).map_err(to_js)?;
        let vault = self.get()?;
        let current = vault.manifest().epoch();
        let job = hazmat::open_large(vault, head, sealed_len, &ctx).map_err(to_js)?;
        // The header (version included) is authenticated by the data key's
        // wrap, which just opened.
        self.seen_changed |= self.seen.saw_opened(&ctx, &meta, current, false);
        Ok(LargeOpenJob {
            job,
            key_taken: false,
        })
    }

    /// Adds a passkey (used up); returns the new manifest's JSON.
    #[wasm_bindgen(js_name = addPasskey)]
    pub fn add_passkey(&mut self, passkey: NewPasskey) -> Result<String, JsValue> {
        self.get_mut()?.add_passkey(passkey.0).map_err(to_js)?;
        self.saw_manifest()
    }

    /// Removes an unlock entry and re-keys; returns the new manifest's JSON.
    #[wasm_bindgen(js_name = removeUnlock)]
    pub fn remove_unlock(&mut self, entry_id: &str) -> Result<String, JsValue> {
        self.get_mut()?.remove_unlock(entry_id).map_err(to_js)?;
        self.saw_manifest()
    }

    /// Replaces the recovery code and re-keys; returns the new code (the new
    /// manifest is `manifestJson()`).
    #[wasm_bindgen(js_name = rotateRecoveryCode)]
    pub fn rotate_recovery_code(&mut self) -> Result<String, JsValue> {
        let code = self
            .get_mut()?
            .rotate_recovery_code()
            .map(|c| c.to_display_string())
            .map_err(to_js)?;
        self.saw_manifest()?;
        Ok(code)
    }

    /// Starts a new key epoch; returns the new manifest's JSON.
    pub fn rekey(&mut self) -> Result<String, JsValue> {
        self.get_mut()?.rekey().map_err(to_js)?;
        self.saw_manifest()
    }

    /// Drops older epochs' vault keys; returns the new manifest's JSON.
    #[wasm_bindgen(js_name = retireEpochs)]
    pub fn retire_epochs(&mut self) -> Result<String, JsValue> {
        self.get_mut()?.retire_epochs().map_err(to_js)?;
        self.saw_manifest()
    }

    /// Adopts a newer manifest of this vault written by another device,
    /// through `history` (the manifests in between, oldest first).
    #[wasm_bindgen(js_name = updateManifest)]
    pub fn update_manifest(
        &mut self,
        manifest_json: &str,
        history: Vec<String>,
    ) -> Result<(), JsValue> {
        let mut chain = history_of(history)?;
        chain.push(manifest_of(manifest_json)?);
        self.get_mut()?.update_manifests(&chain).map_err(to_js)?;
        self.saw_manifest().map(|_| ())
    }

    /// A recovery login for a server: see `Vault::sign_recovery_login`.
    #[wasm_bindgen(js_name = signRecoveryLogin)]
    pub fn sign_recovery_login(
        &self,
        challenge: &[u8],
        audience: &str,
    ) -> Result<Vec<u8>, JsValue> {
        self.get()?
            .sign_recovery_login(challenge, audience)
            .map(|s| s.to_vec())
            .map_err(to_js)
    }

    /// A login proof for a server: see `Vault::sign_login_proof`.
    #[wasm_bindgen(js_name = signLoginProof)]
    pub fn sign_login_proof(&self, challenge: &[u8], audience: &str) -> Result<Vec<u8>, JsValue> {
        self.get()?
            .sign_login_proof(challenge, audience)
            .map(|s| s.to_vec())
            .map_err(to_js)
    }

    /// Seals this vault to a `HandoffReceiver`'s public key: the message
    /// opens only in that receiver, once.
    #[wasm_bindgen(js_name = handOff)]
    pub fn hand_off(&mut self, receiver_public_key: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.get_mut()?.hand_off(receiver_public_key).map_err(to_js)
    }

    /// Wipes every key of this vault from memory. Later calls throw `Locked`.
    pub fn lock(&mut self) {
        self.vault = None;
    }

    /// Whether `lock()` has been called.
    #[wasm_bindgen(getter, js_name = isLocked)]
    pub fn is_locked(&self) -> bool {
        self.vault.is_none()
    }
}
