//! The WebAssembly surface: a thin `#[wasm_bindgen]` layer over the core.
//!
//! JavaScript holds opaque [`VaultHandle`]s; the vault key, key-encryption
//! keys and the identity private key stay inside this instance. Errors reach
//! JS as `Error` objects with a stable `code` (see `js/errors.ts`). Nothing
//! here knows about WebAuthn ceremonies: the JS layer runs them and passes
//! PRF outputs in, once.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::manifest::UnlockEntry;
use crate::padding;
use crate::record::{self, ContentType, RecordContext};
use crate::{Error, Manifest, PasskeyUnlock, PrfOutput, RecoveryCode, Vault};

/// Builds the JS error for a core error: `Error` with `name` and `code`.
fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name("MedsealError");
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}

fn to_js(e: Error) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn with_index(e: JsValue, i: usize) -> JsValue {
    let _ = js_sys::Reflect::set(
        &e,
        &JsValue::from_str("index"),
        &JsValue::from_f64(i as f64),
    );
    e
}

fn invalid(what: &'static str) -> JsValue {
    to_js(Error::InvalidArgument(what))
}

fn locked() -> JsValue {
    js_error("Locked", "the vault is locked: unlock it again to use it")
}

/// Bytes from a `Uint8Array` (or any typed-array view); anything else is InvalidArgument.
fn bytes_of(v: &JsValue, what: &'static str) -> Result<Vec<u8>, JsValue> {
    uint8_array(v)
        .map(|a| a.to_vec())
        .ok_or_else(|| invalid(what))
}

/// `v` as a Uint8Array that can be read. `isView` first: a Proxy of a
/// Uint8Array passes `instanceof` but throws when read, and a JS exception
/// unwinding through wasm would leave the vault handle borrowed for good.
fn uint8_array(v: &JsValue) -> Option<&js_sys::Uint8Array> {
    if !js_sys::ArrayBuffer::is_view(v) {
        return None;
    }
    v.dyn_ref::<js_sys::Uint8Array>()
}

fn string_of(v: &JsValue, what: &'static str) -> Result<String, JsValue> {
    v.as_string().ok_or_else(|| invalid(what))
}

/// Context: undefined/null (none), a string (UTF-8) or a Uint8Array.
fn context_of(v: &JsValue) -> Result<Vec<u8>, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Vec::new());
    }
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    bytes_of(v, "context must be a string or a Uint8Array")
}

/// A record to seal: JSON text as a string, or as its UTF-8 bytes with `json`
/// set (the JS layer's way: wasm-bindgen copies a string into wasm one
/// character at a time in JS, many times slower than `TextEncoder`), or bytes.
fn payload_of(v: &JsValue, json: bool) -> Result<(ContentType, Vec<u8>), JsValue> {
    if let Some(text) = v.as_string() {
        return Ok((ContentType::Json, text.into_bytes()));
    }
    let data = bytes_of(v, "record must be a JSON value or a Uint8Array")?;
    if !json {
        return Ok((ContentType::Bytes, data));
    }
    if core::str::from_utf8(&data).is_err() {
        return Err(invalid("a JSON record must be UTF-8"));
    }
    Ok((ContentType::Json, data))
}

const NOT_SEALED: &str = "sealed must be an \"ms1.\" string or a Uint8Array";

/// A sealed record in either form: `"ms1.…"` text (a string, or its UTF-8
/// bytes with `text` set, which the JS layer passes for speed; see
/// [`payload_of`]) or bytes. `None` when `v` is neither a string nor bytes;
/// otherwise the record's bytes or why the text form is not one.
fn sealed_bytes(v: &JsValue, text: bool) -> Option<crate::Result<Vec<u8>>> {
    if let Some(s) = v.as_string() {
        return Some(record::from_text(&s));
    }
    let bytes = uint8_array(v)?.to_vec();
    Some(if text {
        record::from_text_bytes(&bytes)
    } else {
        Ok(bytes)
    })
}

/// [`sealed_bytes`], with every failure as a JS error.
fn sealed_of(v: &JsValue, text: bool) -> Result<Vec<u8>, JsValue> {
    sealed_bytes(v, text)
        .ok_or_else(|| invalid(NOT_SEALED))?
        .map_err(to_js)
}

/// A sealed record as JS gets it: the `"ms1."` text form or bytes.
fn sealed_to_js(sealed: &[u8], as_text: bool) -> JsValue {
    if as_text {
        JsValue::from_str(&record::to_text(sealed))
    } else {
        u8a(sealed)
    }
}

/// An opened record as JS sees it: a string (JSON text) or a Uint8Array.
fn opened_to_js((content_type, data): (ContentType, Vec<u8>)) -> Result<JsValue, JsValue> {
    match content_type {
        ContentType::Json => String::from_utf8(data)
            .map(|s| JsValue::from_str(&s))
            .map_err(|_| to_js(Error::Malformed("JSON record is not UTF-8"))),
        ContentType::Bytes => Ok(u8a(&data)),
    }
}

/// A manifest from its JSON text or from a plain object. Objects go through
/// `JSON.stringify` and the one strict parser: serde-wasm-bindgen reads only
/// the fields a struct names and silently ignores others, where the JSON path
/// rejects a manifest with fields it does not know.
fn manifest_of(v: &JsValue) -> Result<Manifest, JsValue> {
    if let Some(s) = v.as_string() {
        return Manifest::from_json(&s).map_err(to_js);
    }
    if !v.is_object() || js_sys::Array::is_array(v) {
        return Err(invalid(
            "manifest must be a vault manifest object or its JSON text",
        ));
    }
    let text = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| {
            to_js(Error::Malformed(
                "manifest object cannot be serialized as JSON",
            ))
        })?;
    Manifest::from_json(&text).map_err(to_js)
}

/// A manifest as a plain JS object (its JSON text through `JSON.parse`).
fn manifest_to_js(m: &Manifest) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&m.to_json())
        .map_err(|_| to_js(Error::InvalidArgument("manifest could not be converted")))
}

/// The items of a batch call: a JS array of objects, read field by field
/// (no serde: one `Reflect.get` per field is cheaper than a generic decoder,
/// and a string is never mistaken for bytes or the reverse).
struct Batch {
    items: js_sys::Array,
    keys: [JsValue; 4],
}

impl Batch {
    /// `flag`: the name of the item's boolean that says its first field is
    /// text given as UTF-8 bytes (`json` for records to seal, `text` for
    /// sealed records in the text form).
    fn new(items: &JsValue, first: &str, flag: &str, what: &'static str) -> Result<Batch, JsValue> {
        let items = items
            .dyn_ref::<js_sys::Array>()
            .cloned()
            .ok_or_else(|| invalid(what))?;
        Ok(Batch {
            items,
            keys: [
                JsValue::from_str(first),
                JsValue::from_str("recordId"),
                JsValue::from_str("context"),
                JsValue::from_str(flag),
            ],
        })
    }

    fn len(&self) -> u32 {
        self.items.length()
    }

    /// Item `i`: (its first field, record id, context bytes).
    fn item(&self, i: u32, what: &'static str) -> Result<(JsValue, String, Vec<u8>), JsValue> {
        let item = self.get(i, what)?;
        let get = |k: &JsValue| js_sys::Reflect::get(&item, k).unwrap_or(JsValue::UNDEFINED);
        let [first, id, ctx, _] = &self.keys;
        let record_id = string_of(&get(id), "recordId must be a string")
            .map_err(|e| with_index(e, i as usize))?;
        let context = context_of(&get(ctx)).map_err(|e| with_index(e, i as usize))?;
        Ok((get(first), record_id, context))
    }

    /// Whether item `i` has its flag set (see [`Batch::new`]).
    fn flag(&self, i: u32) -> bool {
        let [_, _, _, flag] = &self.keys;
        js_sys::Reflect::get(&self.items.get(i), flag).is_ok_and(|v| v.as_bool() == Some(true))
    }

    fn get(&self, i: u32, what: &'static str) -> Result<JsValue, JsValue> {
        let item = self.items.get(i);
        if !item.is_object() {
            return Err(with_index(invalid(what), i as usize));
        }
        Ok(item)
    }
}

fn min_revision_of(v: &JsValue) -> Result<u64, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(0);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(n as u64),
        _ => Err(invalid("minRevision must be a non-negative integer")),
    }
}

fn prf_of(v: &JsValue) -> Result<PrfOutput, JsValue> {
    let mut b = bytes_of(
        v,
        "prfOutput must be a Uint8Array (or ArrayBuffer converted to one)",
    )?;
    let r = PrfOutput::new(&b).map_err(to_js);
    zeroize::Zeroize::zeroize(&mut b);
    r
}

fn set(o: &js_sys::Object, k: &str, v: &JsValue) {
    let _ = js_sys::Reflect::set(o, &JsValue::from_str(k), v);
}

fn u8a(b: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(b).into()
}

/// The text form (`ms1.` + base64url) of a sealed record's bytes.
#[wasm_bindgen(js_name = toText)]
pub fn to_text(sealed: &[u8]) -> String {
    record::to_text(sealed)
}

/// Completes an `openPrepare` without copying the body into wasm: reads the
/// decrypted body's first byte and its last bytes (the padding), checks them,
/// and returns `{ json, length }`: the plaintext is `padded[1 .. 1 + length]`,
/// JSON text if `json`.
#[wasm_bindgen(js_name = openFinish)]
pub fn open_finish(padded: JsValue) -> Result<js_sys::Object, JsValue> {
    let padded = uint8_array(&padded).ok_or_else(|| invalid("padded must be a Uint8Array"))?;
    let len = padded.length();
    let tail_len = u32::try_from(padding::tail_len(len as usize)).unwrap_or(len);
    // Plaintext may reach into the tail: wiped when dropped.
    let tail = zeroize::Zeroizing::new(padded.subarray(len - tail_len.min(len), len).to_vec());
    let first = if len == 0 { 0 } else { padded.get_index(0) };
    let (content_type, plaintext_len) =
        record::plaintext_len(first, len as usize, &tail).map_err(to_js)?;
    let o = js_sys::Object::new();
    set(
        &o,
        "json",
        &JsValue::from_bool(content_type == ContentType::Json),
    );
    set(&o, "length", &JsValue::from_f64(plaintext_len as f64));
    Ok(o)
}

/// The bytes of a sealed record's text form (`"ms1."` + base64url), given as
/// its UTF-8 bytes (see [`payload_of`]).
#[wasm_bindgen(js_name = fromText)]
pub fn from_text(text: &[u8]) -> Result<Vec<u8>, JsValue> {
    record::from_text_bytes(text).map_err(to_js)
}

/// A fresh random PRF salt (32 bytes) for a new passkey.
#[wasm_bindgen(js_name = newPrfSalt)]
pub fn new_prf_salt() -> Result<Vec<u8>, JsValue> {
    crate::new_prf_salt().map(|s| s.to_vec()).map_err(to_js)
}

/// The WebAuthn `prf.eval.first` input for a salt.
#[wasm_bindgen(js_name = prfInput)]
pub fn prf_input(salt: &[u8]) -> Vec<u8> {
    crate::kdf::prf_input(salt)
}

/// For each passkey of a manifest: its entry id, base64url credential id and
/// base64url PRF input, to build a WebAuthn `get()` with `evalByCredential`.
#[wasm_bindgen(js_name = passkeyRequests)]
pub fn passkey_requests(manifest_json: JsValue) -> Result<JsValue, JsValue> {
    let m = manifest_of(&manifest_json)?;
    let out = js_sys::Array::new();
    for e in &m.unlock {
        if let UnlockEntry::Passkey {
            id,
            credential_id,
            prf_salt,
            label,
            ..
        } = e
        {
            let o = js_sys::Object::new();
            set(&o, "entryId", &JsValue::from_str(id));
            set(
                &o,
                "credentialId",
                &JsValue::from_str(&crate::b64::encode(&credential_id.0)),
            );
            set(
                &o,
                "prfInput",
                &JsValue::from_str(&crate::b64::encode(&crate::kdf::prf_input(&prf_salt.0))),
            );
            let label = label.as_deref().map_or(JsValue::NULL, JsValue::from_str);
            set(&o, "label", &label);
            out.push(&o);
        }
    }
    Ok(out.into())
}

/// The receiving end of a vault hand-off: a one-time key pair whose private
/// half never leaves this instance. `accept` consumes it.
#[wasm_bindgen(js_name = HandoffReceiver)]
pub struct HandoffReceiverHandle {
    receiver: Option<crate::HandoffReceiver>,
}

#[wasm_bindgen(js_class = HandoffReceiver)]
impl HandoffReceiverHandle {
    /// A fresh one-time receiver.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<HandoffReceiverHandle, JsValue> {
        Ok(HandoffReceiverHandle {
            receiver: Some(crate::HandoffReceiver::new().map_err(to_js)?),
        })
    }

    /// The public key to give the sender (33 bytes); `undefined` once used.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Option<Vec<u8>> {
        self.receiver.as_ref().map(|r| r.public_key().to_vec())
    }

    /// Opens a hand-off message, once (the receiver is used up even if this
    /// fails). `expected` (a manifest, optional) pins the vault: its vault id
    /// and identity key; `minRevision` refuses an older manifest.
    pub fn accept(
        &mut self,
        message: JsValue,
        expected: JsValue,
        min_revision: JsValue,
    ) -> Result<VaultHandle, JsValue> {
        let r = self.receiver.take().ok_or_else(|| {
            invalid("this HandoffReceiver was already used: make a new one per hand-off")
        })?;
        let msg = bytes_of(&message, "hand-off message must be a Uint8Array")?;
        let pin = if expected.is_undefined() || expected.is_null() {
            None
        } else {
            Some(manifest_of(&expected)?)
        };
        let min = min_revision_of(&min_revision)?;
        let v = r.accept(&msg, pin.as_ref(), min).map_err(to_js)?;
        Ok(VaultHandle::wrap(v, None))
    }

    /// Destroys the private key without using it.
    pub fn discard(&mut self) {
        self.receiver = None;
    }
}

/// An unlocked vault, held inside the wasm instance. `lock()` wipes it.
#[wasm_bindgen]
pub struct VaultHandle {
    vault: Option<Vault>,
    recovery_code: Option<RecoveryCode>,
}

impl VaultHandle {
    fn wrap(vault: Vault, recovery_code: Option<RecoveryCode>) -> VaultHandle {
        VaultHandle {
            vault: Some(vault),
            recovery_code,
        }
    }

    fn get(&self) -> Result<&Vault, JsValue> {
        self.vault.as_ref().ok_or_else(locked)
    }

    fn get_mut(&mut self) -> Result<&mut Vault, JsValue> {
        self.vault.as_mut().ok_or_else(locked)
    }
}

fn passkey_of(
    credential_id: &JsValue,
    prf_salt: &JsValue,
    prf_output: &JsValue,
    label: &JsValue,
) -> Result<PasskeyUnlock, JsValue> {
    let credential_id = bytes_of(credential_id, "credentialId must be a Uint8Array")?;
    let salt = bytes_of(prf_salt, "prfSalt must be a Uint8Array")?;
    let prf_salt: [u8; 32] = salt
        .as_slice()
        .try_into()
        .map_err(|_| invalid("prfSalt must be 32 bytes (from newPrfSalt)"))?;
    let label = if label.is_undefined() || label.is_null() {
        None
    } else {
        Some(string_of(label, "label must be a string")?)
    };
    Ok(PasskeyUnlock {
        credential_id,
        prf_salt,
        prf_output: prf_of(prf_output)?,
        label,
    })
}

#[wasm_bindgen]
impl VaultHandle {
    /// Creates a vault from a passkey's PRF output for `prfInput(prfSalt)`.
    /// The recovery code is held until `takeRecoveryCode()` is called once.
    #[wasm_bindgen(js_name = createFromPrf)]
    pub fn create_from_prf(
        credential_id: JsValue,
        prf_salt: JsValue,
        prf_output: JsValue,
        label: JsValue,
    ) -> Result<VaultHandle, JsValue> {
        let p = passkey_of(&credential_id, &prf_salt, &prf_output, &label)?;
        let (vault, code) = Vault::create(p).map_err(to_js)?;
        Ok(VaultHandle::wrap(vault, Some(code)))
    }

    /// Unlocks with a passkey's PRF output.
    #[wasm_bindgen(js_name = unlockFromPrf)]
    pub fn unlock_from_prf(
        manifest_json: JsValue,
        credential_id: JsValue,
        prf_output: JsValue,
        min_revision: JsValue,
    ) -> Result<VaultHandle, JsValue> {
        let m = manifest_of(&manifest_json)?;
        let cred = bytes_of(&credential_id, "credentialId must be a Uint8Array")?;
        let prf = prf_of(&prf_output)?;
        let v = Vault::unlock_with_prf(&m, &cred, prf, min_revision_of(&min_revision)?)
            .map_err(to_js)?;
        Ok(VaultHandle::wrap(v, None))
    }

    /// Unlocks with the recovery code as the user typed it.
    #[wasm_bindgen(js_name = unlockWithRecoveryCode)]
    pub fn unlock_with_recovery_code(
        manifest_json: JsValue,
        code: JsValue,
        min_revision: JsValue,
    ) -> Result<VaultHandle, JsValue> {
        let m = manifest_of(&manifest_json)?;
        let code = RecoveryCode::parse(&string_of(&code, "recovery code must be a string")?)
            .map_err(to_js)?;
        let v = Vault::unlock_with_recovery_code(&m, &code, min_revision_of(&min_revision)?)
            .map_err(to_js)?;
        Ok(VaultHandle::wrap(v, None))
    }

    /// The recovery code of a vault just created or rotated, once; then `undefined`.
    #[wasm_bindgen(js_name = takeRecoveryCode)]
    pub fn take_recovery_code(&mut self) -> Option<String> {
        self.recovery_code.take().map(|c| c.to_display_string())
    }

    /// The current signed manifest as JSON text.
    #[wasm_bindgen(js_name = manifestJson)]
    pub fn manifest_json(&self) -> Result<String, JsValue> {
        Ok(self.get()?.manifest().to_json())
    }

    /// The current signed manifest as a plain object.
    pub fn manifest(&self) -> Result<JsValue, JsValue> {
        manifest_to_js(self.get()?.manifest())
    }

    /// Seals many records in one call. `items`: `[{ record, recordId, context? }]`
    /// where `record` is JSON text (a string) or a Uint8Array. Returns an array
    /// of sealed records (text or bytes form). All or nothing: the first
    /// invalid item throws, with its `index`.
    #[wasm_bindgen(js_name = sealMany)]
    pub fn seal_many(&mut self, items: JsValue, as_text: bool) -> Result<js_sys::Array, JsValue> {
        let batch = Batch::new(
            &items,
            "record",
            "json",
            "items must be an array of { record, recordId, context? }",
        )?;
        let v = self.get_mut()?;
        let out = js_sys::Array::new_with_length(batch.len());
        for i in 0..batch.len() {
            let (record, record_id, ctx) =
                batch.item(i, "each item must be { record, recordId, context? }")?;
            let (ct, data) =
                payload_of(&record, batch.flag(i)).map_err(|e| with_index(e, i as usize))?;
            let sealed = v
                .seal_as(
                    ct,
                    &data,
                    &RecordContext::with_context(record_id.as_bytes(), &ctx),
                )
                .map_err(|e| with_index(to_js(e), i as usize))?;
            out.set(i, sealed_to_js(&sealed, as_text));
        }
        Ok(out)
    }

    /// Opens many records in one call. `items`: `[{ sealed, recordId, context? }]`.
    /// Returns one entry per item: a string (JSON text), a Uint8Array, or an
    /// `Error` with a `code` for an item that did not open (others still do).
    #[wasm_bindgen(js_name = openMany)]
    pub fn open_many(&self, items: JsValue) -> Result<js_sys::Array, JsValue> {
        let batch = Batch::new(
            &items,
            "sealed",
            "text",
            "items must be an array of { sealed, recordId, context? }",
        )?;
        let v = self.get()?;
        let out = js_sys::Array::new_with_length(batch.len());
        for i in 0..batch.len() {
            let (sealed, record_id, ctx) =
                batch.item(i, "each item must be { sealed, recordId, context? }")?;
            let rc = RecordContext::with_context(record_id.as_bytes(), &ctx);
            // A value of the wrong type fails the call; a bad record fails its item.
            let opened = sealed_bytes(&sealed, batch.flag(i))
                .ok_or_else(|| with_index(invalid(NOT_SEALED), i as usize))?
                .and_then(|b| v.open_typed(&b, &rc));
            let value = opened
                .map_err(to_js)
                .and_then(opened_to_js)
                .unwrap_or_else(|e| e);
            out.set(i, value);
        }
        Ok(out)
    }

    /// The vault id, base64url.
    #[wasm_bindgen(js_name = vaultId)]
    pub fn vault_id(&self) -> Result<String, JsValue> {
        Ok(crate::b64::encode(self.get()?.vault_id()))
    }

    /// Seals a payload: a string is JSON text, a Uint8Array is bytes (JSON
    /// text's UTF-8 when `json`: see `payload_of`). Returns
    /// the text form (`ms1.…`) when `asText`, else the bytes form.
    pub fn seal(
        &mut self,
        payload: JsValue,
        json: bool,
        record_id: JsValue,
        context: JsValue,
        as_text: bool,
    ) -> Result<JsValue, JsValue> {
        // The payload first: it may be a view of a buffer the JS layer
        // reuses, and reading the other arguments can run the caller's code.
        let (content_type, data) = payload_of(&payload, json)?;
        let id = string_of(&record_id, "recordId must be a non-empty string")?;
        let ctx = context_of(&context)?;
        let v = self.get_mut()?;
        let sealed = v
            .seal_as(
                content_type,
                &data,
                &RecordContext::with_context(id.as_bytes(), &ctx),
            )
            .map_err(to_js)?;
        Ok(sealed_to_js(&sealed, as_text))
    }

    /// Opens a sealed record (text or bytes form; the text form's UTF-8 bytes
    /// with `text` set). Returns a string (JSON text) for JSON records and a
    /// Uint8Array for bytes.
    pub fn open(
        &self,
        sealed: JsValue,
        text: bool,
        record_id: JsValue,
        context: JsValue,
    ) -> Result<JsValue, JsValue> {
        let bytes = sealed_of(&sealed, text)?;
        let id = string_of(&record_id, "recordId must be a non-empty string")?;
        let ctx = context_of(&context)?;
        let v = self.get()?;
        opened_to_js(
            v.open_typed(&bytes, &RecordContext::with_context(id.as_bytes(), &ctx))
                .map_err(to_js)?,
        )
    }

    /// Adds a passkey; returns the new manifest.
    #[wasm_bindgen(js_name = addPasskey)]
    pub fn add_passkey(
        &mut self,
        credential_id: JsValue,
        prf_salt: JsValue,
        prf_output: JsValue,
        label: JsValue,
    ) -> Result<JsValue, JsValue> {
        let p = passkey_of(&credential_id, &prf_salt, &prf_output, &label)?;
        let m = self.get_mut()?.add_passkey(p).map_err(to_js)?;
        manifest_to_js(m)
    }

    /// Removes an unlock entry; returns the new manifest.
    #[wasm_bindgen(js_name = removeUnlock)]
    pub fn remove_unlock(&mut self, entry_id: JsValue) -> Result<JsValue, JsValue> {
        let id = string_of(&entry_id, "entryId must be a string")?;
        let m = self.get_mut()?.remove_unlock(&id).map_err(to_js)?;
        manifest_to_js(m)
    }

    /// Replaces the recovery code; the new one is available once from
    /// `takeRecoveryCode()`. Returns the new manifest.
    #[wasm_bindgen(js_name = rotateRecoveryCode)]
    pub fn rotate_recovery_code(&mut self) -> Result<JsValue, JsValue> {
        let v = self.get_mut()?;
        let code = v.rotate_recovery_code().map_err(to_js)?;
        let m = manifest_to_js(v.manifest())?;
        self.recovery_code = Some(code);
        Ok(m)
    }

    /// Adopts a newer manifest of this vault written by another device.
    #[wasm_bindgen(js_name = updateManifest)]
    pub fn update_manifest(&mut self, manifest_json: JsValue) -> Result<(), JsValue> {
        let m = manifest_of(&manifest_json)?;
        self.get_mut()?.update_manifest(&m).map_err(to_js)
    }

    /// Benchmark only: seals a JS value converted by serde-wasm-bindgen (the
    /// alternative to the shipped JSON-text path).
    #[cfg(feature = "bench-exports")]
    #[wasm_bindgen(js_name = benchSealValue)]
    pub fn bench_seal_value(&mut self, value: JsValue, record_id: &str) -> Result<String, JsValue> {
        let v: serde_json::Value =
            serde_wasm_bindgen::from_value(value).map_err(|_| invalid("value"))?;
        let bytes = serde_json::to_vec(&v).map_err(|_| invalid("value"))?;
        let sealed = self
            .get_mut()?
            .seal_as(
                ContentType::Json,
                &bytes,
                &RecordContext::new(record_id.as_bytes()),
            )
            .map_err(to_js)?;
        Ok(record::to_text(&sealed))
    }

    /// Benchmark only: opens a JSON record into a JS value by serde-wasm-bindgen.
    #[cfg(feature = "bench-exports")]
    #[wasm_bindgen(js_name = benchOpenValue)]
    pub fn bench_open_value(&self, sealed: &str, record_id: &str) -> Result<JsValue, JsValue> {
        let bytes = record::from_text(sealed).map_err(to_js)?;
        let (_, data) = self
            .get()?
            .open_typed(&bytes, &RecordContext::new(record_id.as_bytes()))
            .map_err(to_js)?;
        let v: serde_json::Value = serde_json::from_slice(&data).map_err(|_| invalid("value"))?;
        serde::Serialize::serialize(&v, &serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|_| invalid("value"))
    }

    /// For large records: everything of a new record of `length` bytes but
    /// its body ciphertext, so that the page can encrypt
    /// `contentType || plaintext || padding` with WebCrypto under a
    /// non-extractable key made from `key` (this record's body key only; wipe
    /// it after import). The plaintext itself never enters wasm. Returns
    /// `{ key, iv, aad, prefix, contentType, padding }`.
    #[wasm_bindgen(js_name = sealPrepare)]
    pub fn seal_prepare(
        &mut self,
        json: bool,
        length: f64,
        record_id: JsValue,
        context: JsValue,
    ) -> Result<js_sys::Object, JsValue> {
        let id = string_of(&record_id, "recordId must be a non-empty string")?;
        let ctx = context_of(&context)?;
        if !(length >= 0.0 && length.fract() == 0.0) {
            return Err(invalid("length must be a byte count"));
        }
        let content_type = if json {
            ContentType::Json
        } else {
            ContentType::Bytes
        };
        let parts = self
            .get_mut()?
            .seal_parts(
                content_type,
                length as usize,
                &RecordContext::with_context(id.as_bytes(), &ctx),
            )
            .map_err(to_js)?;
        let o = js_sys::Object::new();
        set(&o, "key", &u8a(parts.enc_key.as_slice()));
        set(&o, "iv", &u8a(&parts.nonce));
        set(&o, "aad", &u8a(&parts.aad));
        set(&o, "prefix", &u8a(&parts.prefix));
        set(
            &o,
            "contentType",
            &JsValue::from_f64(f64::from(parts.content_type as u8)),
        );
        set(&o, "padding", &u8a(&parts.padding));
        Ok(o)
    }

    /// For large records: checks a sealed record (bytes) up to its body (data
    /// key, commitment) from its first bytes only, and returns
    /// `{ key, iv, aad, bodyStart }` for WebCrypto to decrypt
    /// `sealed[bodyStart..]`; finish with `openFinish`.
    #[wasm_bindgen(js_name = openPrepare)]
    pub fn open_prepare(
        &self,
        sealed: JsValue,
        record_id: JsValue,
        context: JsValue,
    ) -> Result<js_sys::Object, JsValue> {
        let sealed = uint8_array(&sealed).ok_or_else(|| invalid("sealed must be a Uint8Array"))?;
        let id = string_of(&record_id, "recordId must be a non-empty string")?;
        let ctx = context_of(&context)?;
        let v = self.get()?;
        let len = sealed.length();
        let head_len = u32::try_from(record::BODY_START)
            .unwrap_or(u32::MAX)
            .min(len);
        let head = sealed.subarray(0, head_len).to_vec();
        let parts = v
            .open_parts(
                &head,
                len as usize,
                &RecordContext::with_context(id.as_bytes(), &ctx),
            )
            .map_err(to_js)?;
        let o = js_sys::Object::new();
        set(&o, "key", &u8a(parts.enc_key.as_slice()));
        set(&o, "iv", &u8a(&parts.nonce));
        set(&o, "aad", &u8a(&parts.aad));
        set(
            &o,
            "bodyStart",
            &JsValue::from_f64(record::BODY_START as f64),
        );
        Ok(o)
    }

    /// A login proof for a server: see `Vault::sign_login_proof`.
    #[wasm_bindgen(js_name = signLoginProof)]
    pub fn sign_login_proof(
        &self,
        challenge: JsValue,
        audience: JsValue,
    ) -> Result<Vec<u8>, JsValue> {
        let c = bytes_of(&challenge, "challenge must be a Uint8Array")?;
        let a = string_of(&audience, "audience must be a string (the server's origin)")?;
        self.get()?
            .sign_login_proof(&c, &a)
            .map(|s| s.to_vec())
            .map_err(to_js)
    }

    /// Seals this vault to a `HandoffReceiver`'s public key (see
    /// `crate::handoff`): the message opens only in that receiver, once.
    #[wasm_bindgen(js_name = handOff)]
    pub fn hand_off(&mut self, receiver_public_key: JsValue) -> Result<Vec<u8>, JsValue> {
        let pk = bytes_of(
            &receiver_public_key,
            "receiver public key must be a Uint8Array",
        )?;
        self.get_mut()?.hand_off(&pk).map_err(to_js)
    }

    /// Wipes every key of this vault from memory. Later calls throw `Locked`.
    pub fn lock(&mut self) {
        self.vault = None;
        self.recovery_code = None;
    }

    /// Whether `lock()` has been called.
    #[wasm_bindgen(getter, js_name = isLocked)]
    pub fn is_locked(&self) -> bool {
        self.vault.is_none()
    }
}
